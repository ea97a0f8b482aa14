//! Status replies from a printer's back channel (PJL USTATUS / INFO STATUS): any bytes, in any chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parser = devices::pjl::PjlReplyParser::new();
    for chunk in data.chunks(7) {
        let _ = parser.push(chunk);
    }
    let _ = devices::pjl::parse_pjl_message(data);
});
