//! The index's keyed entries (stream versions, request ids) as sorted runs in a sled tree.
//!
//! One key per entry made the index the largest thing in memory: sled keeps about 370 bytes
//! per small key resident whatever its cache size (300 MB for 800k keys at 1M events,
//! measured with heaptrack), so it grew with history. Instead, each index checkpoint writes
//! one **run**: its entries sorted by key, packed in pages of at most [`PAGE_ENTRIES_MAX`]
//! entries (one sled value each), and a summary (the first key of every page and a Bloom
//! filter of the run's keys, [`BLOOM_BITS_PER_KEY`] bits each). Summaries stay in memory, about
//! 1.3 bytes per entry; a lookup asks the runs newest first, skips a run whose filter says no,
//! and reads the one page that may hold the key. Runs are never rewritten: a key in a newer
//! run (a stream's later version) hides the older entry.
//!
//! A run's pages are written before its summary, in sled batches of at most
//! [`PAGES_PER_BATCH_MAX`]; a run whose summary is missing (a crash in between) is invisible,
//! and its number is used again by the next run.

use std::sync::{Arc, RwLock, RwLockReadGuard};

use super::LogError;

/// The most entries in one page of a run.
pub const PAGE_ENTRIES_MAX: usize = 512;
/// The Bloom filter's size per key of a run (about 1% false positives with 7 probes).
pub const BLOOM_BITS_PER_KEY: usize = 10;
const BLOOM_PROBES: u64 = 7;
/// The most pages in one sled batch while a run is written.
pub const PAGES_PER_BATCH_MAX: usize = 64;
/// The longest key or value an entry may have (both are short: a stream key or a request id,
/// a version or a request record).
pub const ENTRY_PART_BYTES_MAX: usize = u16::MAX as usize;

const PAGE_PREFIX: u8 = b'P';
const SUMMARY_PREFIX: u8 = b'S';

fn page_key(run: u32, page: u32) -> [u8; 9] {
    let mut key = [PAGE_PREFIX; 9];
    key[1..5].copy_from_slice(&run.to_be_bytes());
    key[5..].copy_from_slice(&page.to_be_bytes());
    key
}

fn summary_key(run: u32) -> [u8; 5] {
    let mut key = [SUMMARY_PREFIX; 5];
    key[1..].copy_from_slice(&run.to_be_bytes());
    key
}

fn damaged(what: &str) -> LogError {
    LogError::Storage(format!("index run {what} is malformed"))
}

/// FNV-1a, 64 bits: stable across versions and machines (the filters are stored).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A Bloom filter over a run's keys (double hashing of one 64-bit hash).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bloom {
    bits: Vec<u64>,
}

impl Bloom {
    fn with_keys(keys: usize) -> Self {
        let words = (keys * BLOOM_BITS_PER_KEY).div_ceil(64).max(1);
        Bloom {
            bits: vec![0; words],
        }
    }

    fn probes(&self, key: &[u8]) -> impl Iterator<Item = (usize, u64)> + use<> {
        let h = fnv1a(key);
        let (a, b) = (h & 0xffff_ffff, (h >> 32) | 1);
        let m = self.bits.len() as u64 * 64;
        (0..BLOOM_PROBES).map(move |i| {
            let bit = a.wrapping_add(i.wrapping_mul(b)) % m;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    fn insert(&mut self, key: &[u8]) {
        for (word, mask) in self.probes(key) {
            self.bits[word] |= mask;
        }
    }

    fn may_contain(&self, key: &[u8]) -> bool {
        self.probes(key)
            .all(|(word, mask)| self.bits[word] & mask != 0)
    }
}

/// Reads length-prefixed parts of an encoded page or summary.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u16(&mut self) -> Option<usize> {
        Some(usize::from(u16::from_be_bytes(
            self.take(2)?.try_into().ok()?,
        )))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn part(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

fn push_part(out: &mut Vec<u8>, part: &[u8]) -> Result<(), LogError> {
    let n = u16::try_from(part.len()).map_err(|_| {
        LogError::Storage(format!(
            "an index entry of {} bytes (at most {ENTRY_PART_BYTES_MAX})",
            part.len()
        ))
    })?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(part);
    Ok(())
}

/// A page: its entries, sorted by key, each a length-prefixed key and value.
fn encode_page(entries: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<u8>, LogError> {
    let mut out = Vec::with_capacity(entries.iter().map(|(k, v)| k.len() + v.len() + 4).sum());
    for (key, value) in entries {
        push_part(&mut out, key)?;
        push_part(&mut out, value)?;
    }
    Ok(out)
}

/// The value of `key` in an encoded page.
fn find_in_page(page: &[u8], key: &[u8]) -> Result<Option<Vec<u8>>, LogError> {
    let mut r = Reader(page);
    while !r.0.is_empty() {
        let (k, v) = r.part().zip(r.part()).ok_or_else(|| damaged("page"))?;
        match k.cmp(key) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => return Ok(Some(v.to_vec())),
            std::cmp::Ordering::Greater => return Ok(None),
        }
    }
    Ok(None)
}

/// What memory keeps of a run: its number, the first key of each page, and its filter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Summary {
    run: u32,
    fences: Vec<Vec<u8>>,
    bloom: Bloom,
}

impl Summary {
    fn encode(&self) -> Result<Vec<u8>, LogError> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.fences.len() as u32).to_be_bytes());
        for fence in &self.fences {
            push_part(&mut out, fence)?;
        }
        out.extend_from_slice(&(self.bloom.bits.len() as u64).to_be_bytes());
        for word in &self.bloom.bits {
            out.extend_from_slice(&word.to_be_bytes());
        }
        Ok(out)
    }

    fn decode(run: u32, bytes: &[u8]) -> Result<Self, LogError> {
        let decoded = || -> Option<Summary> {
            let mut r = Reader(bytes);
            let pages = r.u32()?;
            let fences = (0..pages)
                .map(|_| r.part().map(<[u8]>::to_vec))
                .collect::<Option<Vec<_>>>()?;
            let words = usize::try_from(r.u64()?).ok()?;
            if words == 0 || r.0.len() != words.checked_mul(8)? {
                return None;
            }
            let bits = (0..words).map(|_| r.u64()).collect::<Option<Vec<_>>>()?;
            Some(Summary {
                run,
                fences,
                bloom: Bloom { bits },
            })
        };
        decoded().ok_or_else(|| damaged("summary"))
    }

    /// The page that holds `key` if any does.
    fn page_for(&self, key: &[u8]) -> Option<u32> {
        let after = self.fences.partition_point(|fence| fence.as_slice() <= key);
        after.checked_sub(1).map(|p| p as u32)
    }
}

/// The runs of one sled tree, their summaries in memory (shared by the indexer that writes
/// runs and the appenders that look keys up).
#[derive(Clone)]
pub struct Runs {
    tree: sled::Tree,
    summaries: Arc<RwLock<Vec<Summary>>>,
}

impl Runs {
    /// Opens the runs of `tree`, reading every summary.
    pub fn open(tree: sled::Tree) -> Result<Self, LogError> {
        let mut summaries = Vec::new();
        for entry in tree.scan_prefix([SUMMARY_PREFIX]) {
            let (key, value) = entry?;
            let run = key
                .get(1..)
                .and_then(|k| <[u8; 4]>::try_from(k).ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| damaged("key"))?;
            summaries.push(Summary::decode(run, &value)?);
        }
        Ok(Runs {
            tree,
            summaries: Arc::new(RwLock::new(summaries)),
        })
    }

    fn summaries(&self) -> RwLockReadGuard<'_, Vec<Summary>> {
        self.summaries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cfg(test)]
    fn count(&self) -> usize {
        self.summaries().len()
    }

    /// The newest value of `key`, if any run holds it.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LogError> {
        for summary in self.summaries().iter().rev() {
            if !summary.bloom.may_contain(key) {
                continue;
            }
            let Some(page) = summary.page_for(key) else {
                continue;
            };
            let bytes = self
                .tree
                .get(page_key(summary.run, page))?
                .ok_or_else(|| damaged("page (missing)"))?;
            if let Some(value) = find_in_page(&bytes, key)? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    /// Writes `entries` (any order, each key once) as a new run; `last` is added to the
    /// batch that makes the run visible (the index's marker), so both land together.
    pub fn write(
        &self,
        mut entries: Vec<(Vec<u8>, Vec<u8>)>,
        last: (&[u8], &[u8]),
    ) -> Result<(), LogError> {
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let run = self.summaries().last().map_or(0, |s| s.run + 1);
        let mut bloom = Bloom::with_keys(entries.len());
        let mut fences = Vec::new();
        let mut batch = sled::Batch::default();
        for (page, chunk) in entries.chunks(PAGE_ENTRIES_MAX).enumerate() {
            for (key, _) in chunk {
                bloom.insert(key);
            }
            fences.push(chunk[0].0.clone());
            batch.insert(&page_key(run, page as u32)[..], encode_page(chunk)?);
            if (page + 1) % PAGES_PER_BATCH_MAX == 0 {
                self.tree.apply_batch(std::mem::take(&mut batch))?;
            }
        }
        let summary = Summary { run, fences, bloom };
        if !summary.fences.is_empty() {
            batch.insert(&summary_key(run)[..], summary.encode()?);
        }
        batch.insert(last.0, last.1);
        self.tree.apply_batch(batch)?;
        if !summary.fences.is_empty() {
            self.summaries
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(summary);
        }
        Ok(())
    }

    /// Forgets every run (the tree is cleared by the caller).
    pub fn forget(&self) {
        self.summaries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(key: &str, value: u64) -> (Vec<u8>, Vec<u8>) {
        (key.as_bytes().to_vec(), value.to_be_bytes().to_vec())
    }

    /// Newer runs hide older entries, every key of a many-page run is found, absent keys are
    /// not, and reopening reads the same runs back.
    #[test]
    fn runs_answer_the_newest_value_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let runs = Runs::open(db.open_tree("t").unwrap()).unwrap();
        let n = 3 * PAGE_ENTRIES_MAX as u64 + 5;
        let first: Vec<_> = (0..n).map(|i| entry(&format!("k{i}"), i)).collect();
        runs.write(first, (b"m", b"1")).unwrap();
        runs.write(vec![entry("k7", 700), entry("new", 1)], (b"m", b"2"))
            .unwrap();
        runs.write(Vec::new(), (b"m", b"3")).unwrap();
        for runs in [
            runs.clone(),
            Runs::open(db.open_tree("t").unwrap()).unwrap(),
        ] {
            assert_eq!(runs.count(), 2);
            for i in (0..n).filter(|i| *i != 7) {
                let want = i.to_be_bytes().to_vec();
                assert_eq!(runs.get(format!("k{i}").as_bytes()).unwrap(), Some(want));
            }
            assert_eq!(
                runs.get(b"k7").unwrap(),
                Some(700u64.to_be_bytes().to_vec())
            );
            assert_eq!(runs.get(b"new").unwrap(), Some(1u64.to_be_bytes().to_vec()));
            for absent in ["", "a", "k", "k9999999", "zzz"] {
                assert_eq!(runs.get(absent.as_bytes()).unwrap(), None, "{absent}");
            }
        }
        assert_eq!(db.open_tree("t").unwrap().get(b"m").unwrap().unwrap(), b"3");
    }

    /// A damaged summary or page is an error, never a wrong answer.
    #[test]
    fn malformed_runs_are_errors() {
        let summary = Summary {
            run: 0,
            fences: vec![b"a".to_vec()],
            bloom: Bloom::with_keys(1),
        };
        let bytes = summary.encode().unwrap();
        assert_eq!(Summary::decode(0, &bytes).unwrap(), summary);
        for cut in 0..bytes.len() {
            assert!(Summary::decode(0, &bytes[..cut]).is_err(), "cut at {cut}");
        }
        let page = encode_page(&[entry("a", 1), entry("b", 2)]).unwrap();
        assert!(find_in_page(&page[..page.len() - 1], b"b").is_err());
        assert_eq!(
            find_in_page(&page, b"b").unwrap(),
            Some(2u64.to_be_bytes().to_vec())
        );
    }
}
