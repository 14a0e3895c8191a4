//! Bytes read back from a segment file.
//! - Any bytes split into checked records or a reason, never a panic; whatever parses frames
//!   again to the very same bytes; the search for a valid record after damage (how recovery
//!   tells a torn write from damage) never panics, and what it finds parses.
//! - Valid records built from the input's bytes, then one byte changed in any way the input
//!   says: always refused (every stored byte is under a CRC32C, which catches any burst of up
//!   to 32 bits).
#![no_main]

use ledger::log::frame;
use libfuzzer_sys::fuzz_target;

fn arbitrary_bytes(data: &[u8]) {
    if let Ok(records) = frame::parse_all(data) {
        let mut again = Vec::with_capacity(data.len());
        for r in &records {
            frame::push(&mut again, r.offset, r.bytes, r.hash, r.commit_end);
        }
        assert_eq!(again, data);
    }
    if let Some((at, offset)) = frame::find_valid(data, 0) {
        let record = frame::parse(&data[at..]).expect("find_valid found a valid record");
        assert_eq!(record.offset, offset);
    }
}

fn one_byte_changed(data: &[u8]) {
    let [a, b, flip, body @ ..] = data else {
        return;
    };
    let mut chunk = Vec::new();
    let mut last_at = 0;
    for (i, event) in body.chunks(48).chain([&[][..]]).enumerate() {
        last_at = chunk.len();
        frame::push(&mut chunk, 1000 + i as u64, event, &[i as u8; 32], false);
    }
    frame::mark_commit_end(&mut chunk, last_at);
    assert!(frame::parse_all(&chunk).is_ok(), "a commit just built must parse");
    if *flip != 0 {
        let at = usize::from(u16::from_le_bytes([*a, *b])) % chunk.len();
        chunk[at] ^= flip;
        assert!(
            frame::parse_all(&chunk).is_err(),
            "byte {at} changed by {flip:#04x} went unseen"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    arbitrary_bytes(data);
    one_byte_changed(data);
});
