//! The hash chain: `hash(n) = SHA-256(hash(n - 1) || bytes(n))`, with 32 zero bytes before the
//! first event. Any change to a stored event changes its hash and every hash after it.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The hash "before" position 0.
pub const GENESIS: Hash = [0; 32];

pub fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// The chain hash of an event whose stored bytes are `bytes`, following `previous`.
pub fn link(previous: &Hash, bytes: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(bytes);
    hasher.finalize().into()
}

/// The anchor of a ledger of partitions: one value pinning every partition's chain at a
/// position. `heads[i]` is partition i's (next position, chain hash of the event before it):
/// `SHA-256("claims-ledger anchor v1" || P as u32 BE || for each partition, in order:
/// position as u64 BE || hash)`. An auditor recomputes it from the partitions' logs.
pub fn anchor(heads: &[(u64, Hash)]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(b"claims-ledger anchor v1");
    hasher.update((heads.len() as u32).to_be_bytes());
    for (position, hash) in heads {
        hasher.update(position.to_be_bytes());
        hasher.update(hash);
    }
    hasher.finalize().into()
}

/// Lower-case hex, for printing hashes.
pub fn hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hex digits (either case) back into a hash.
pub fn from_hex(text: &str) -> Result<Hash, String> {
    if text.len() != 64 || !text.is_ascii() {
        return Err(format!(
            "expected 64 hex digits, found {} characters",
            text.len()
        ));
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        let pair = &text[2 * i..2 * i + 2];
        *byte = u8::from_str_radix(pair, 16).map_err(|_| format!("{pair:?} is not hex"))?;
    }
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_a_hash() {
        let h = sha256(b"abc");
        assert_eq!(from_hex(&hex(&h)), Ok(h));
        assert_eq!(from_hex(&hex(&h).to_uppercase()), Ok(h));
        assert!(from_hex("abc").is_err());
        assert!(from_hex(&"zz".repeat(32)).is_err());
        assert!(from_hex(&"é".repeat(32)).is_err());
    }

    #[test]
    fn link_is_sha256_of_previous_then_bytes() {
        // SHA-256 of 32 zero bytes followed by "abc", computed independently.
        let mut input = vec![0u8; 32];
        input.extend_from_slice(b"abc");
        assert_eq!(link(&GENESIS, b"abc"), sha256(&input));
        assert_ne!(link(&GENESIS, b"abc"), link(&GENESIS, b"abd"));
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
