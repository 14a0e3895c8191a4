//! Scheme documents: any text is parsed or refused with its problems, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = adjudicator::Scheme::parse(text);
    }
});
