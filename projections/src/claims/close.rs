//! Claims leaving memory: a period close closes the claims no command and no frequency or
//! duplicate check can concern any more.
//!
//! The rule (a scheme's `claims_open_days`, O, and its longest frequency, F):
//! - a claim is **open** until a period close of its scheme ends more than O days after its
//!   service date: until then it is submitted, reviewed, reversed and its copay paid; after,
//!   each of those is refused as closed (a submission with such a service date too);
//! - a decided claim **stays in memory** until a close ends more than O + F days after its
//!   service date: a claim still open (service date at most O days before the latest close)
//!   compares with claims at most F days before its own, which are then at most O + F days
//!   before that close;
//! - then it is closed: it leaves the open claims and their indexes, its canonical line goes
//!   into `closed_lines` (the digest does not change), and it waits in `closed`, with the
//!   position of the close, for an archive to take it once that close is durable.
//!
//! Only closes move the cut, and every partition sees every close, so the same history gives
//! the same open claims whatever the partition count, live or replayed.

use std::collections::HashSet;

use ledger::Date;
use ledger::ids::{ClaimId, Code, FacilityId, MemberId, SchemeId};

use super::{ClaimFilter, ClaimRecord, Claims, Seq, canonical_line};

/// A closed claim and the position of the close that closed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Closed {
    pub record: ClaimRecord,
    pub closed_at: u64,
}

impl Claims {
    /// A period of `scheme` ending on `ends_on` closed at `position`: its decided claims with
    /// a service date more than `kept_days` before `ends_on` leave memory.
    pub(crate) fn period_closed(
        &mut self,
        position: u64,
        scheme: &SchemeId,
        ends_on: Date,
        kept_days: u32,
    ) {
        let through = self.closed_through.entry(scheme.clone()).or_insert(ends_on);
        *through = (*through).max(ends_on);
        let closing: Vec<Seq> = self
            .records
            .iter()
            .filter(|(_, r)| r.scheme_id.as_ref() == Some(scheme))
            .filter(|(_, r)| days_between(r.service_date(), ends_on) > i64::from(kept_days))
            .map(|(seq, _)| *seq)
            .collect();
        if closing.is_empty() {
            return;
        }
        let (mut facilities, mut members, mut codes) =
            (HashSet::new(), HashSet::new(), HashSet::new());
        for seq in &closing {
            let Some(record) = self.records.remove(seq) else {
                continue;
            };
            self.seq_of.remove(&record.claim_id);
            self.closed_lines.add(&canonical_line(&record));
            facilities.insert(record.facility_id.clone());
            members.insert(record.member_id.clone());
            for line in &record.lines {
                codes.insert((record.member_id.clone(), line.code.clone()));
            }
            let closed_at = position;
            self.closed.insert(*seq, Closed { record, closed_at });
        }
        self.forget(&closing, facilities, members, codes);
    }

    /// Takes `closing` (sorted) out of the open claims' indexes.
    fn forget(
        &mut self,
        closing: &[Seq],
        facilities: HashSet<FacilityId>,
        members: HashSet<MemberId>,
        codes: HashSet<(MemberId, Code)>,
    ) {
        let gone = |s: &Seq| closing.binary_search(s).is_ok();
        for facility in facilities {
            if let Some(list) = self.by_facility.get_mut(&facility) {
                list.retain(|s| !gone(s));
                if list.is_empty() {
                    self.by_facility.remove(&facility);
                }
            }
        }
        for member in members {
            if let Some(list) = self.by_member.get_mut(&member) {
                list.retain(|s| !gone(s));
                if list.is_empty() {
                    self.by_member.remove(&member);
                }
            }
        }
        for key in codes {
            if let Some(list) = self.by_member_code.get_mut(&key) {
                list.retain(|(_, s)| !gone(s));
                if list.is_empty() {
                    self.by_member_code.remove(&key);
                }
            }
        }
    }

    /// Whether a claim of `scheme` with service date `service_date` is past its window: a
    /// close of the scheme ended more than `open_days` after it.
    pub fn is_past(&self, scheme: &SchemeId, service_date: Date, open_days: u32) -> bool {
        self.closed_through
            .get(scheme)
            .is_some_and(|through| days_between(service_date, *through) > i64::from(open_days))
    }

    /// The end of the latest period `scheme` closed.
    pub fn closed_through(&self, scheme: &SchemeId) -> Option<Date> {
        self.closed_through.get(scheme).copied()
    }

    /// The closed claims waiting for an archive whose close is before `durable` (a position:
    /// an archive must never hold what the log might not), taken out of memory.
    pub fn take_closed(&mut self, durable: u64) -> Vec<(Seq, ClaimRecord)> {
        let mut taken = Vec::new();
        for (seq, closed) in std::mem::take(&mut self.closed) {
            if closed.closed_at < durable {
                taken.push((seq, closed.record));
            } else {
                self.closed.insert(seq, closed);
            }
        }
        taken
    }

    /// The closed claims waiting for an archive whose close is before `durable`, left in
    /// memory (an archive stores them, then [`Claims::take_closed`]).
    pub fn closed_before(&self, durable: u64) -> impl Iterator<Item = (Seq, &ClaimRecord)> {
        self.closed
            .iter()
            .filter(move |(_, c)| c.closed_at < durable)
            .map(|(s, c)| (*s, &c.record))
    }

    /// Whether closed claims wait for an archive.
    pub fn has_closed(&self) -> bool {
        !self.closed.is_empty()
    }

    /// Up to `limit` closed claims still in memory from submission number `from` on, in
    /// submission order, that match.
    pub fn list_closed(
        &self,
        filter: &ClaimFilter,
        from: Seq,
        limit: usize,
    ) -> Vec<(Seq, &ClaimRecord)> {
        self.closed
            .range(from..)
            .map(|(s, c)| (*s, &c.record))
            .filter(|(_, c)| filter.matches(c))
            .take(limit)
            .collect()
    }

    /// The submission number of a claim held in memory.
    pub fn seq(&self, id: &ClaimId) -> Option<Seq> {
        self.find(id).map(|(seq, _)| seq)
    }
}

/// Days from `from` to `to` (negative when `to` is earlier).
fn days_between(from: Date, to: Date) -> i64 {
    (to - from).num_days()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ledger::Amount;
    use ledger::event::{ClaimAdjudicated, ClaimCategory, ClaimSubmitted, DecisionStatus};

    use super::*;
    use crate::canonical::Canonical;

    fn day(month: u32, d: u32) -> Date {
        Date::from_ymd_opt(2026, month, d).unwrap()
    }

    /// Claim `n` of member M-`n % 2` at F-1, code OPD, service date `date`, decided.
    fn decided(claims: &mut Claims, position: u64, n: u32, date: Date) -> ClaimId {
        let hash = ledger::partition::positive_hash("HH-1");
        let claim_id = super::super::claim_id(hash, n);
        let submitted = ClaimSubmitted {
            date_from: date,
            claim_date: date,
            ..super::super::tests::submission(&claim_id, &format!("C-{n}"), &format!("M-{}", n % 2))
        };
        claims.submitted(position, &submitted);
        let claim_id = submitted.claim_id;
        let none = Amount::zero(ledger::Currency::KES);
        claims.adjudicated(
            position + 1,
            &ClaimAdjudicated {
                claim_id: claim_id.clone(),
                scheme_id: "S".parse().unwrap(),
                scheme_version: 1,
                scheme_content_sha256: [0; 32],
                decided_on: date,
                decided_on_given: false,
                category: ClaimCategory::Visit,
                status: DecisionStatus::Accepted,
                reason_code: 0,
                lines: vec![],
                total_allowed: none,
                total_payer: none,
                total_copay: none,
            },
        );
        claim_id
    }

    fn digest(claims: &Claims) -> [u8; 32] {
        let mut out = Canonical::default();
        claims.canonical(&mut out);
        out.digest()
    }

    /// A close takes the claims more than the kept days before its end out of the open
    /// claims and every index, keeps them until the archive takes them once the close is
    /// durable, and leaves the ledger's digest as it was.
    #[test]
    fn a_close_closes_the_claims_past_the_kept_days() {
        let mut claims = Claims::default();
        let old = decided(&mut claims, 0, 1, day(1, 10));
        let edge = decided(&mut claims, 2, 2, day(3, 1));
        let recent = decided(&mut claims, 4, 3, day(3, 20));
        let before = digest(&claims);
        let scheme: SchemeId = "S".parse().unwrap();
        // 31 March: 80 days after 10 January, 30 after 1 March.
        claims.period_closed(6, &scheme, day(3, 31), 30);
        assert!(claims.open(&old).is_none());
        assert!(
            claims.open(&edge).is_some(),
            "exactly the kept days: still open"
        );
        assert!(claims.open(&recent).is_some());
        assert!(claims.was_closed(&old) && !claims.was_closed(&edge));
        assert_eq!(digest(&claims), before);
        assert_eq!(claims.seq(&old), Some(0));
        let code: Code = "OPD".parse().unwrap();
        let prior = claims.prior_claims(&"M-1".parse().unwrap(), [&code], day(1, 1), day(12, 31));
        assert_eq!(prior.len(), 1, "the closed claim is no prior any more");
        let all = ClaimFilter::default();
        let listed = |c: &Claims| -> Vec<String> {
            c.list(&all, None, 10)
                .unwrap()
                .iter()
                .map(|r| r.claim_id.to_string())
                .collect()
        };
        assert_eq!(
            listed(&claims),
            [&old, &edge, &recent].map(|c| c.to_string())
        );
        // The archive takes it once the close (position 6) is durable, not before.
        assert!(claims.take_closed(6).is_empty());
        let taken = claims.take_closed(7);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].1.claim_id, old);
        assert!(!claims.has_closed());
        assert_eq!(listed(&claims), [&edge, &recent].map(|c| c.to_string()));
        assert_eq!(digest(&claims), before);
        assert_eq!(claims.len(), 3);
        // Another scheme's close closes none of these; the window is the scheme's.
        claims.period_closed(8, &"T".parse().unwrap(), day(12, 31), 0);
        assert!(claims.open(&edge).is_some());
        assert!(claims.is_past(&scheme, day(3, 1), 29));
        assert!(!claims.is_past(&scheme, day(3, 1), 30));
    }
}
