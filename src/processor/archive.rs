//! Closed claims on disk: the records a period close took out of memory
//! (`projections::claims` has the rule), where `GetClaim`, `ListClaims` and a resubmission's
//! answer find them. Their events stay in the log, read by position as for open claims.
//!
//! Four sled trees in the partition's checkpoint database, so the archive and the
//! checkpoints that count on it are set aside or deleted together (a replay from position 0
//! archives every closed claim again, under the same keys). sled keeps a few hundred bytes
//! resident per key whatever its cache size (measured: a key per claim and index entry held
//! 120 MB at 1M events), so keys are few and values are packed lists, rewritten when a
//! close adds to them (the writer is the only writer):
//! - `claims-closed`: a page of [`RECORDS_PER_PAGE`] submission numbers -> their records;
//! - `claims-closed-ids`: a household hash and a block of [`IDS_PER_BLOCK`] claim numbers ->
//!   (number, submission number) pairs (a claim id of another form: the id itself);
//! - `claims-closed-member`: member id -> its closed claims' submission numbers;
//! - `claims-closed-facility`: facility id, a block of [`FACILITY_SEQS_PER_BLOCK`]
//!   submission numbers -> those of its closed claims.
//!
//! A record is written only once the close that closed it is durable in the log, and a
//! checkpoint's header is written only after the archive is flushed: the archive never holds
//! what the log might not, and a checkpoint never leaves out what the archive has not made
//! durable. A claim can be both open in a checkpoint's state and in the archive (archived
//! after that checkpoint); readers take memory first. Records are written before the
//! indexes that lead to them.

use ledger::ids::ClaimId;
use projections::claims::{ClaimFilter, ClaimRecord, Seq};

/// Records in one value of `claims-closed`.
pub const RECORDS_PER_PAGE: Seq = 256;
/// Claim numbers of one household hash in one value of `claims-closed-ids`.
pub const IDS_PER_BLOCK: u32 = 1024;
/// Submission numbers one value of `claims-closed-facility` spans.
pub const FACILITY_SEQS_PER_BLOCK: Seq = 65_536;

/// The closed claims of one partition.
#[derive(Clone)]
pub struct ClaimArchive {
    records: sled::Tree,
    ids: sled::Tree,
    by_facility: sled::Tree,
    by_member: sled::Tree,
}

impl std::fmt::Debug for ClaimArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimArchive").finish_non_exhaustive()
    }
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub(super) fn storage(e: impl std::fmt::Display) -> String {
    format!("the archive: {e}")
}

fn decode<T: serde::de::DeserializeOwned>(value: &[u8]) -> Result<T, String> {
    let (decoded, _) = bincode::serde::decode_from_slice(value, config()).map_err(storage)?;
    Ok(decoded)
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, config()).map_err(storage)
}

/// A value of `tree` at `key`, decoded (empty when absent).
pub(super) fn read<T: serde::de::DeserializeOwned + Default>(
    tree: &sled::Tree,
    key: &[u8],
) -> Result<T, String> {
    match tree.get(key).map_err(storage)? {
        Some(value) => decode(&value),
        None => Ok(T::default()),
    }
}

/// Adds `new` to the sorted list of `tree` at each key (by the list's first field, a later
/// pair replacing an earlier one with the same first field).
pub(super) fn merge_into<K: Ord + Copy + serde::Serialize + serde::de::DeserializeOwned, V>(
    tree: &sled::Tree,
    new: std::collections::BTreeMap<Vec<u8>, Vec<(K, V)>>,
) -> Result<(), String>
where
    V: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut batch = sled::Batch::default();
    for (key, added) in new {
        let mut list: std::collections::BTreeMap<K, V> =
            read::<Vec<(K, V)>>(tree, &key)?.into_iter().collect();
        list.extend(added);
        batch.insert(key, encode(&list.into_iter().collect::<Vec<_>>())?);
    }
    tree.apply_batch(batch).map_err(storage)
}

/// The `claims-closed-ids` key of a claim id, and its number when it is of the form the
/// ledger gives ([`projections::claims::claim_id`]).
fn id_key(id: &ClaimId) -> (Vec<u8>, Option<u32>) {
    match projections::claims::hash_and_number(id) {
        Some((hash, number)) => {
            let mut key = b"n".to_vec();
            key.extend_from_slice(&hash.to_be_bytes());
            key.extend_from_slice(&(number / IDS_PER_BLOCK).to_be_bytes());
            (key, Some(number))
        }
        None => ([b"x".as_slice(), id.as_str().as_bytes()].concat(), None),
    }
}

/// `id`, 0, and a block number: ids are printable, so one id's keys sort together, by block.
fn facility_key(id: &str, block: Seq) -> Vec<u8> {
    [id.as_bytes(), &[0], &block.to_be_bytes()].concat()
}

impl ClaimArchive {
    pub fn open(db: &sled::Db) -> Result<ClaimArchive, sled::Error> {
        Ok(ClaimArchive {
            records: db.open_tree("claims-closed")?,
            ids: db.open_tree("claims-closed-ids")?,
            by_facility: db.open_tree("claims-closed-facility")?,
            by_member: db.open_tree("claims-closed-member")?,
        })
    }

    /// Stores closed claims (again, if a replay closes them a second time: the same keys).
    pub fn put<'a>(
        &self,
        closed: impl IntoIterator<Item = (Seq, &'a ClaimRecord)>,
    ) -> Result<usize, String> {
        use std::collections::BTreeMap;
        let mut pages: BTreeMap<Vec<u8>, Vec<(Seq, &ClaimRecord)>> = BTreeMap::new();
        let mut ids: BTreeMap<Vec<u8>, Vec<(u32, Seq)>> = BTreeMap::new();
        let mut members: BTreeMap<Vec<u8>, Vec<(Seq, ())>> = BTreeMap::new();
        let mut facilities: BTreeMap<Vec<u8>, Vec<(Seq, ())>> = BTreeMap::new();
        let mut count = 0;
        for (seq, record) in closed {
            let page = (seq / RECORDS_PER_PAGE).to_be_bytes().to_vec();
            pages.entry(page).or_default().push((seq, record));
            let (key, number) = id_key(&record.claim_id);
            ids.entry(key).or_default().push((number.unwrap_or(0), seq));
            let member = record.member_id.as_str().as_bytes().to_vec();
            members.entry(member).or_default().push((seq, ()));
            let block = seq / FACILITY_SEQS_PER_BLOCK;
            let facility = facility_key(record.facility_id.as_str(), block);
            facilities.entry(facility).or_default().push((seq, ()));
            count += 1;
        }
        let mut batch = sled::Batch::default();
        for (key, added) in pages {
            let mut page: BTreeMap<Seq, ClaimRecord> =
                read::<Vec<(Seq, ClaimRecord)>>(&self.records, &key)?
                    .into_iter()
                    .collect();
            page.extend(added.into_iter().map(|(s, r)| (s, r.clone())));
            batch.insert(key, encode(&page.into_iter().collect::<Vec<_>>())?);
        }
        self.records.apply_batch(batch).map_err(storage)?;
        merge_into(&self.ids, ids)?;
        merge_into(&self.by_member, members)?;
        merge_into(&self.by_facility, facilities)?;
        Ok(count)
    }

    fn record(&self, seq: Seq) -> Result<Option<ClaimRecord>, String> {
        let key = (seq / RECORDS_PER_PAGE).to_be_bytes();
        let page: Vec<(Seq, ClaimRecord)> = read(&self.records, &key)?;
        Ok(page.into_iter().find(|(s, _)| *s == seq).map(|(_, r)| r))
    }

    /// The submission number of an archived claim.
    pub fn seq(&self, id: &ClaimId) -> Result<Option<Seq>, String> {
        let (key, number) = id_key(id);
        let block: Vec<(u32, Seq)> = read(&self.ids, &key)?;
        Ok(block
            .into_iter()
            .find(|(n, _)| *n == number.unwrap_or(0))
            .map(|(_, seq)| seq))
    }

    /// An archived claim.
    pub fn get(&self, id: &ClaimId) -> Result<Option<ClaimRecord>, String> {
        match self.seq(id)? {
            Some(seq) => Ok(self.record(seq)?.filter(|r| &r.claim_id == id)),
            None => Ok(None),
        }
    }

    /// The submission numbers from `from` on, in order, that the filter's index lists (every
    /// archived claim without one), until `want` says stop.
    fn seqs(
        &self,
        filter: &ClaimFilter,
        from: Seq,
        mut want: impl FnMut(Seq) -> Result<bool, String>,
    ) -> Result<(), String> {
        if let Some(member) = &filter.member {
            let seqs: Vec<(Seq, ())> = read(&self.by_member, member.as_str().as_bytes())?;
            for (seq, ()) in seqs.into_iter().filter(|(s, _)| *s >= from) {
                if !want(seq)? {
                    return Ok(());
                }
            }
            return Ok(());
        }
        if let Some(facility) = &filter.facility {
            let start = facility_key(facility.as_str(), from / FACILITY_SEQS_PER_BLOCK);
            let end = [facility.as_str().as_bytes(), &[1]].concat();
            for block in self.by_facility.range(start..end).values() {
                let seqs: Vec<(Seq, ())> = decode(&block.map_err(storage)?)?;
                for (seq, ()) in seqs.into_iter().filter(|(s, _)| *s >= from) {
                    if !want(seq)? {
                        return Ok(());
                    }
                }
            }
            return Ok(());
        }
        let first = (from / RECORDS_PER_PAGE).to_be_bytes();
        for page in self.records.range(first..).values() {
            let page: Vec<(Seq, ClaimRecord)> = decode(&page.map_err(storage)?)?;
            for (seq, _) in page.into_iter().filter(|(s, _)| *s >= from) {
                if !want(seq)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Up to `limit` archived claims from submission number `from` on, in submission order,
    /// that match: read through the member's or the facility's index when filtered by one.
    pub fn list(
        &self,
        filter: &ClaimFilter,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, ClaimRecord)>, String> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        // Consecutive numbers share a page: decode each page once.
        let mut page: Option<(Seq, Vec<(Seq, ClaimRecord)>)> = None;
        self.seqs(filter, from, |seq| {
            let number = seq / RECORDS_PER_PAGE;
            if page.as_ref().is_none_or(|(n, _)| *n != number) {
                page = Some((number, read(&self.records, &number.to_be_bytes())?));
            }
            let found = page
                .as_ref()
                .and_then(|(_, records)| records.iter().find(|(s, _)| *s == seq));
            if let Some((_, record)) = found
                && filter.matches(record)
            {
                out.push((seq, record.clone()));
            }
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ledger::event::{ClaimLine, ClaimSubmitted, LineKind};

    use super::*;

    /// Claim `n` of household hash 7: member M-`n % 5`, facility F-`n % 2`.
    fn record(n: u32) -> ClaimRecord {
        let date = ledger::Date::from_ymd_opt(2026, 3, 5).unwrap();
        ClaimRecord::new(
            u64::from(n) * 2,
            &ClaimSubmitted {
                claim_id: projections::claims::claim_id(7, n + 1).parse().unwrap(),
                claim_code: format!("C-{n}").parse().unwrap(),
                facility_id: format!("F-{}", n % 2).parse().unwrap(),
                member_id: format!("M-{}", n % 5).parse().unwrap(),
                household_id: "HH-1".parse().unwrap(),
                date_from: date,
                date_to: None,
                claim_date: date,
                diagnosis_codes: vec![],
                lines: vec![ClaimLine {
                    line_no: 1,
                    kind: LineKind::Service,
                    code: "OPD".parse().unwrap(),
                    quantity: 1,
                    asked_unit_price: None,
                }],
            },
        )
    }

    /// Records spread over pages and id blocks, stored in two puts out of order (and one
    /// twice), are found by id and listed in submission order through every index, from
    /// any number on, as a filter over all of them would.
    #[test]
    fn packed_records_are_found_and_listed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = ledger::log::open_db(dir.path()).unwrap();
        let archive = ClaimArchive::open(&db).unwrap();
        // Every third claim stays open: the archive holds the others.
        let closed: Vec<(Seq, ClaimRecord)> = (0..1500)
            .filter(|n| n % 3 != 0)
            .map(|n| (n, record(n)))
            .collect();
        let (late, early): (Vec<_>, Vec<_>) = closed.iter().partition(|(s, _)| s % 2 == 0);
        assert_eq!(
            archive.put(late.iter().map(|(s, r)| (*s, r))).unwrap(),
            late.len()
        );
        archive.put(early.iter().map(|(s, r)| (*s, r))).unwrap();
        archive
            .put(early.iter().take(3).map(|(s, r)| (*s, r)))
            .unwrap();
        for (seq, r) in &closed {
            assert_eq!(archive.seq(&r.claim_id).unwrap(), Some(*seq));
            assert_eq!(archive.get(&r.claim_id).unwrap().as_ref(), Some(r));
        }
        let open = record(3).claim_id;
        assert_eq!(archive.get(&open).unwrap(), None);
        let filters = [
            ClaimFilter::default(),
            ClaimFilter {
                member: Some("M-2".parse().unwrap()),
                ..Default::default()
            },
            ClaimFilter {
                facility: Some("F-1".parse().unwrap()),
                ..Default::default()
            },
        ];
        for filter in &filters {
            for from in [0, 255, 256, 1025, 1499] {
                let expected: Vec<Seq> = closed
                    .iter()
                    .filter(|(s, r)| *s >= from && filter.matches(r))
                    .map(|(s, _)| *s)
                    .take(300)
                    .collect();
                let listed: Vec<Seq> = archive
                    .list(filter, from, 300)
                    .unwrap()
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect();
                assert_eq!(listed, expected, "{filter:?} from {from}");
            }
        }
    }
}
