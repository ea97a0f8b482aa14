//! A USB printer's GET_DEVICE_ID reply is device input: any bytes must parse or be refused, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(id) = devices::ieee1284::parse_device_id_reply(data) {
        let _ = id.supports("PDF");
    }
});
