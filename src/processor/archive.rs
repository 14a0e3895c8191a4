//! Closed claims on disk: the records a period close took out of memory
//! (`projections::claims` has the rule), where `GetClaim`, `ListClaims` and a resubmission's
//! answer find them. Their events stay in the log, read by position as for open claims.
//!
//! Four sled trees in the partition's checkpoint database, so the archive and the
//! checkpoints that count on it are set aside or deleted together (a replay from position 0
//! archives every closed claim again, under the same keys):
//! - `claims-closed`: submission number (big-endian) -> the record (bincode);
//! - `claims-closed-ids`: claim id -> submission number;
//! - `claims-closed-facility`, `claims-closed-member`: id, 0, submission number -> nothing.
//!
//! A record is written only once the close that closed it is durable in the log, and a
//! checkpoint's header is written only after the archive is flushed: the archive never holds
//! what the log might not, and a checkpoint never leaves out what the archive has not made
//! durable. A claim can be both open in a checkpoint's state and in the archive (archived
//! after that checkpoint); readers take memory first.

use ledger::ids::ClaimId;
use projections::claims::{ClaimFilter, ClaimRecord, Seq};

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

fn storage(e: impl std::fmt::Display) -> String {
    format!("the claims archive: {e}")
}

/// `id`, 0, `seq`: ids are printable, so one id's keys sort together and by number.
fn keyed(id: &str, seq: Seq) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.len() + 5);
    key.extend_from_slice(id.as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn seq_of(bytes: &[u8]) -> Option<Seq> {
    let tail: [u8; 4] = bytes.get(bytes.len().checked_sub(4)?..)?.try_into().ok()?;
    Some(Seq::from_be_bytes(tail))
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
        let (mut records, mut ids, mut facilities, mut members) = Default::default();
        let mut count = 0;
        for (seq, record) in closed {
            let value = bincode::serde::encode_to_vec(record, config()).map_err(storage)?;
            let number = seq.to_be_bytes();
            let facility = keyed(record.facility_id.as_str(), seq);
            let member = keyed(record.member_id.as_str(), seq);
            sled::Batch::insert(&mut records, &number, value);
            sled::Batch::insert(&mut ids, record.claim_id.as_str().as_bytes(), &number);
            sled::Batch::insert(&mut facilities, facility, &[]);
            sled::Batch::insert(&mut members, member, &[]);
            count += 1;
        }
        // The indexes before the records: a record is found only once it can be listed.
        self.by_facility.apply_batch(facilities).map_err(storage)?;
        self.by_member.apply_batch(members).map_err(storage)?;
        self.ids.apply_batch(ids).map_err(storage)?;
        self.records.apply_batch(records).map_err(storage)?;
        Ok(count)
    }

    /// Makes what was stored durable.
    pub fn flush(&self) -> Result<(), String> {
        self.records.flush().map_err(storage)?;
        Ok(())
    }

    fn record(&self, seq: Seq) -> Result<Option<ClaimRecord>, String> {
        let Some(value) = self.records.get(seq.to_be_bytes()).map_err(storage)? else {
            return Ok(None);
        };
        let (record, _) = bincode::serde::decode_from_slice(&value, config()).map_err(storage)?;
        Ok(Some(record))
    }

    /// The submission number of an archived claim.
    pub fn seq(&self, id: &ClaimId) -> Result<Option<Seq>, String> {
        let found = self.ids.get(id.as_str().as_bytes()).map_err(storage)?;
        Ok(found.and_then(|number| seq_of(&number)))
    }

    /// An archived claim.
    pub fn get(&self, id: &ClaimId) -> Result<Option<ClaimRecord>, String> {
        match self.seq(id)? {
            Some(seq) => self.record(seq),
            None => Ok(None),
        }
    }

    /// Up to `limit` archived claims from submission number `from` on, in submission order,
    /// that match: read through the member's or the facility's index when filtered by one.
    pub fn list(
        &self,
        filter: &ClaimFilter,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, ClaimRecord)>, String> {
        let indexed = match (&filter.member, &filter.facility) {
            (Some(member), _) => Some((&self.by_member, member.as_str())),
            (None, Some(facility)) => Some((&self.by_facility, facility.as_str())),
            (None, None) => None,
        };
        let seqs: Box<dyn Iterator<Item = sled::Result<Seq>>> = match indexed {
            Some((tree, id)) => {
                let mut end = id.as_bytes().to_vec();
                end.push(1);
                Box::new(
                    tree.range(keyed(id, from)..end)
                        .keys()
                        .map(|key| key.map(|k| seq_of(&k).unwrap_or(Seq::MAX))),
                )
            }
            None => Box::new(
                self.records
                    .range(from.to_be_bytes()..)
                    .keys()
                    .map(|key| key.map(|k| seq_of(&k).unwrap_or(Seq::MAX))),
            ),
        };
        let mut out = Vec::new();
        for seq in seqs {
            if out.len() >= limit {
                break;
            }
            let seq = seq.map_err(storage)?;
            if let Some(record) = self.record(seq)?
                && filter.matches(&record)
            {
                out.push((seq, record));
            }
        }
        Ok(out)
    }
}
