//! The 印鑑登録証 reader's byte stream: arbitrary bytes in arbitrary chunks, with time passing between chunks, must
//! never panic or hang the decoder, and every event it reports must be well formed.
#![no_main]

use std::time::{Duration, Instant};

use devices::magstripe::{MagCardDecoder, MagDecoderConfig, MagEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = MagCardDecoder::new(MagDecoderConfig::default());
    let mut now = Instant::now();
    // The first byte of each chunk says how long it is and how much time passed before it.
    let mut rest = data;
    while let Some((&control, tail)) = rest.split_first() {
        let length = usize::from(control & 0x3F).min(tail.len());
        now += Duration::from_millis(u64::from(control >> 6) * 150);
        let (chunk, remaining) = tail.split_at(length);
        for event in decoder.push(chunk, now) {
            if let MagEvent::Card { registration_number } = event {
                assert!(registration_number.bytes().all(|b| b.is_ascii_digit()));
            }
        }
        rest = remaining;
    }
});
