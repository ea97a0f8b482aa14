//! マイナンバーカード file contents (BER-TLV): the parsers of EF 0002 (基本4情報) and EF 0001 (個人番号) must refuse
//! malformed data with an error, never panic or read out of bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = devices::mynumber::parse_tlv_sequence(data);
    let _ = devices::mynumber::parse_basic_four(data);
    if let Ok(number) = devices::mynumber::parse_my_number(data) {
        assert_eq!(number.len(), 12);
    }
});
