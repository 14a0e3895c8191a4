//! Stored event bytes: any bytes decode to an event or an error naming the field, never a
//! panic; what decodes validates or is refused, and re-encodes to bytes that decode the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = ledger::codec::decode_event(data) {
        let _ = event.validate();
        let again = ledger::codec::decode_event(&ledger::codec::event_bytes(&event));
        assert_eq!(again.as_ref(), Ok(&event));
    }
});
