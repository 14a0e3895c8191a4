//! Claims: submission, decision, reviews, reversal, status; lists by facility and member.
//!
//! The decide state keeps a compact [`ClaimRecord`] per claim; the rest of a claim's history
//! (diagnoses, findings, comments) is read from the log at the record's positions and put
//! together by [`detail::ClaimDetail`].

mod close;
pub mod detail;

pub use close::Closed;

use adjudicator::context::{PriorClaim, PriorLine};
use ledger::event::{
    ClaimAdjudicated, ClaimCategory, ClaimLine, ClaimReversed, ClaimReviewed, ClaimSubmitted,
    DecisionStatus, LineDecision,
};
use std::collections::BTreeMap;

use ledger::ids::{ClaimCode, ClaimId, Code, FacilityId, HouseholdId, MemberId, SchemeId};
use ledger::partition::positive_hash;
use ledger::{Amount, Date};

use crate::canonical::LineSum;
use crate::keyed::Keyed;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ClaimStatus {
    /// Submitted, not yet decided.
    Submitted,
    Accepted,
    Partial,
    Rejected,
    Reversed,
}

/// What deciding needs of a claim: who and where, its dates, its lines with the decision in
/// force on each (as reviewed), and its totals. What only queries need (diagnoses, findings,
/// the scheme version, reviewers' comments, reasons) stays in the log, at `events`, and is read
/// from there ([`detail::ClaimDetail`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClaimRecord {
    pub claim_id: ClaimId,
    pub claim_code: ClaimCode,
    pub facility_id: FacilityId,
    pub member_id: MemberId,
    pub household_id: HouseholdId,
    pub date_from: Date,
    pub date_to: Option<Date>,
    pub claim_date: Date,
    /// The lines as submitted.
    pub lines: Vec<ClaimLine>,
    /// The decision in force on each line, findings left out (they are in the log); empty
    /// before the decision.
    decided: Vec<LineDecision>,
    /// The scheme that decided it; None before the decision.
    pub scheme_id: Option<SchemeId>,
    pub category: ClaimCategory,
    pub reviews: u32,
    pub status: ClaimStatus,
    /// None until decided.
    pub total_payer: Option<Amount>,
    pub total_copay: Option<Amount>,
    /// Copay the member has paid (less what was given back); None until any is paid.
    pub copay_paid: Option<Amount>,
    /// Where the claim's events are in its partition's log, in log order: the submission,
    /// the decision, each review, the reversal.
    pub events: Vec<u64>,
}

impl ClaimRecord {
    /// The record of a submission at `position`.
    pub fn new(position: u64, e: &ClaimSubmitted) -> ClaimRecord {
        ClaimRecord {
            claim_id: e.claim_id.clone(),
            claim_code: e.claim_code.clone(),
            facility_id: e.facility_id.clone(),
            member_id: e.member_id.clone(),
            household_id: e.household_id.clone(),
            date_from: e.date_from,
            date_to: e.date_to,
            claim_date: e.claim_date,
            lines: e.lines.clone(),
            decided: Vec::new(),
            scheme_id: None,
            category: ClaimCategory::Visit,
            reviews: 0,
            status: ClaimStatus::Submitted,
            total_payer: None,
            total_copay: None,
            copay_paid: None,
            events: vec![position],
        }
    }

    /// Where the submission is in the log.
    pub fn submitted_at(&self) -> u64 {
        self.events.first().copied().unwrap_or_default()
    }

    /// The service date: the last day of a stay, the visit's day otherwise.
    pub fn service_date(&self) -> Date {
        self.date_to.unwrap_or(self.date_from)
    }

    /// A stay of more than one day.
    pub fn inpatient(&self) -> bool {
        self.date_to.is_some_and(|to| to > self.date_from)
    }

    pub fn is_decided(&self) -> bool {
        self.scheme_id.is_some()
    }

    /// The decision in force on each line (as reviewed), without findings (none before the
    /// decision).
    pub fn lines_in_force(&self) -> &[LineDecision] {
        &self.decided
    }

    /// The copay still owed: the claim's copay (as reviewed) less what was paid, never below
    /// zero; None until decided.
    pub fn copay_outstanding(&self) -> Option<Amount> {
        let due = self.total_copay?;
        let paid = self.copay_paid.map_or(0, |p| p.minor_units());
        Some(Amount::new(
            due.minor_units().saturating_sub(paid).max(0),
            due.currency(),
        ))
    }

    fn status_of(lines: &[LineDecision]) -> ClaimStatus {
        let passed = lines
            .iter()
            .filter(|l| l.status != DecisionStatus::Rejected)
            .count();
        if passed == 0 {
            ClaimStatus::Rejected
        } else if passed < lines.len() || lines.iter().any(|l| l.status == DecisionStatus::Partial)
        {
            ClaimStatus::Partial
        } else {
            ClaimStatus::Accepted
        }
    }
}

/// A line decision as the decide state keeps it: findings left out.
fn without_findings(line: &LineDecision) -> LineDecision {
    LineDecision {
        findings: Vec::new(),
        ..line.clone()
    }
}

/// A claim's place in submission order in its partition: 0 for the first claim submitted.
pub type Seq = u32;

/// Claims in submission (log) order. The open ones are in memory: those a command can still
/// concern, or whose lines a new claim's frequency and duplicate checks can compare with. A
/// period close closes the rest ([`close`]): they wait in `closed` until the processor's
/// archive takes them ([`Claims::take_closed`]), and queries find them there.
///
/// Every index is a list of submission numbers of open claims, appended to as claims arrive:
/// events are applied in log order, so each list stays sorted without a comparison, and
/// looking a claim up is one hash lookup instead of a walk down a tree of string ids.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    /// The open claims by submission number.
    records: BTreeMap<Seq, ClaimRecord>,
    /// The number the next claim submitted gets.
    next_seq: Seq,
    /// The open claims' numbers.
    seq_of: Keyed<ClaimId, Seq>,
    /// Every claim submitted, open or closed: a facility's claim code is answered with its
    /// first claim for ever.
    by_code: Keyed<(FacilityId, ClaimCode), ClaimId>,
    /// Open claims by facility and by member: lists filtered by either read only those.
    by_facility: Keyed<FacilityId, Vec<Seq>>,
    by_member: Keyed<MemberId, Vec<Seq>>,
    /// A member's claims by line code, as (service date, submission number) sorted: the
    /// adjudicator's duplicate and frequency checks only look at claims sharing a code within
    /// a window of dates. A member has a few claims per code: a short vector, not a tree.
    by_member_code: Keyed<(MemberId, Code), Vec<(Date, Seq)>>,
    /// Claims submitted so far for the households whose ids hash to each value
    /// ([`ledger::partition::positive_hash`]): the number in the next claim id of that hash.
    by_household_hash: Keyed<u32, u32>,
    /// Closed claims not yet taken by an archive, with the position of the close that
    /// closed them.
    closed: BTreeMap<Seq, Closed>,
    /// Every closed claim's canonical line, summed: the ledger's digest counts a claim the
    /// same open or closed, archived or not.
    closed_lines: LineSum,
    /// The end of the latest period each scheme closed.
    closed_through: Keyed<SchemeId, Date>,
}

/// The id of the `number`th claim (from 1) of the households whose id hashes to `hash`:
/// `CL-<hash, 8 hex digits>-<number>`. It depends on neither the partition count nor on
/// other households' claims, and the partition holding the claim is read from it
/// ([`partition_hash_of`]); every household with that hash lives in the same partition,
/// whatever the count, so the numbers are counted in one place.
pub fn claim_id(hash: u32, number: u32) -> String {
    format!("CL-{hash:08X}-{number}")
}

/// The household hash a claim id made by [`claim_id`] carries.
pub fn partition_hash_of(claim: &ClaimId) -> Option<u32> {
    hash_and_number(claim).map(|(hash, _)| hash)
}

/// The household hash and the number a claim id made by [`claim_id`] carries.
pub fn hash_and_number(claim: &ClaimId) -> Option<(u32, u32)> {
    let rest = claim.as_str().strip_prefix("CL-")?;
    let (hash, number) = rest.split_once('-')?;
    if hash.len() != 8 || number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((u32::from_str_radix(hash, 16).ok()?, number.parse().ok()?))
}

/// The rendering the digests hash: every field but the per-hash counts, which only count
/// the records, and the closed claims waiting for the archive, which are in `closed_lines`
/// whether an archive took them or not.
impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims")
            .field("records", &self.records)
            .field("next_seq", &self.next_seq)
            .field("seq_of", &self.seq_of)
            .field("by_code", &self.by_code)
            .field("by_facility", &self.by_facility)
            .field("by_member", &self.by_member)
            .field("by_member_code", &self.by_member_code)
            .field("closed_lines", &self.closed_lines)
            .field("closed_through", &self.closed_through)
            .finish()
    }
}

/// Appends `seq` to a sorted list of submission numbers, unless it is there already (a claim
/// id submitted twice keeps its first place).
fn add(list: &mut Vec<Seq>, seq: Seq) {
    match list.last() {
        Some(last) if *last >= seq => {
            if let Err(at) = list.binary_search(&seq) {
                list.insert(at, seq);
            }
        }
        _ => list.push(seq),
    }
}

/// Filters for listing claims.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClaimFilter {
    pub facility: Option<FacilityId>,
    pub member: Option<MemberId>,
    pub status: Option<ClaimStatus>,
}

impl ClaimFilter {
    pub fn matches(&self, c: &ClaimRecord) -> bool {
        self.facility.as_ref().is_none_or(|f| &c.facility_id == f)
            && self.member.as_ref().is_none_or(|m| &c.member_id == m)
            && self.status.is_none_or(|s| c.status == s)
    }
}

impl Claims {
    /// The id the next claim of `household` gets.
    pub fn next_id(&self, household: &HouseholdId) -> String {
        let hash = positive_hash(household.as_str());
        let before = self.by_household_hash.get(&hash).copied().unwrap_or(0);
        claim_id(hash, before.saturating_add(1))
    }

    pub(crate) fn submitted(&mut self, position: u64, e: &ClaimSubmitted) {
        let record = ClaimRecord::new(position, e);
        let seq = match self.seq_of.get(&e.claim_id) {
            // The same claim id again (not something the command side writes): the later
            // submission replaces the record, as a map insert would.
            Some(&seq) => {
                self.records.insert(seq, record);
                seq
            }
            None => {
                // More than 4 billion claims in a partition would need a wider number;
                // saturating keeps the fold total.
                let seq = self.next_seq;
                self.next_seq = self.next_seq.saturating_add(1);
                self.records.insert(seq, record);
                self.seq_of.insert(e.claim_id.clone(), seq);
                let count = self
                    .by_household_hash
                    .entry(positive_hash(e.household_id.as_str()))
                    .or_default();
                *count = count.saturating_add(1);
                seq
            }
        };
        self.by_code.insert(
            (e.facility_id.clone(), e.claim_code.clone()),
            e.claim_id.clone(),
        );
        add(
            self.by_facility.entry(e.facility_id.clone()).or_default(),
            seq,
        );
        add(self.by_member.entry(e.member_id.clone()).or_default(), seq);
        let dated = (e.date_to.unwrap_or(e.date_from), seq);
        for line in &e.lines {
            let list = self
                .by_member_code
                .entry((e.member_id.clone(), line.code.clone()))
                .or_default();
            // Usually the latest: appended. An offline batch can bring an earlier date.
            let at = list.partition_point(|entry| *entry < dated);
            if list.get(at) != Some(&dated) {
                list.insert(at, dated);
            }
        }
    }

    fn get_mut(&mut self, id: &ClaimId) -> Option<&mut ClaimRecord> {
        let seq = self.seq_of.get(id)?;
        self.records.get_mut(seq)
    }

    pub(crate) fn adjudicated(&mut self, position: u64, e: &ClaimAdjudicated) {
        if let Some(c) = self.get_mut(&e.claim_id) {
            c.decided = e.lines.iter().map(without_findings).collect();
            c.status = ClaimRecord::status_of(&e.lines);
            c.scheme_id = Some(e.scheme_id.clone());
            c.category = e.category;
            c.total_payer = Some(e.total_payer);
            c.total_copay = Some(e.total_copay);
            c.events.push(position);
        }
    }

    pub(crate) fn reviewed(&mut self, position: u64, e: &ClaimReviewed) {
        if let Some(c) = self.get_mut(&e.claim_id) {
            for line in &e.lines {
                match c.decided.iter_mut().find(|l| l.line_no == line.line_no) {
                    Some(l) => *l = without_findings(line),
                    None => c.decided.push(without_findings(line)),
                }
            }
            c.reviews += 1;
            c.status = ClaimRecord::status_of(&c.decided);
            c.total_payer = Some(e.total_payer);
            c.total_copay = Some(e.total_copay);
            c.events.push(position);
        }
    }

    /// Copay paid on a claim (negative: given back).
    pub(crate) fn copay_paid(&mut self, claim: &ClaimId, amount: Amount) -> Result<(), String> {
        let c = self
            .get_mut(claim)
            .ok_or_else(|| format!("claim {claim} was never submitted"))?;
        let paid = c.copay_paid.unwrap_or(Amount::zero(amount.currency()));
        c.copay_paid = Some(paid.checked_add(amount).map_err(|e| e.to_string())?);
        Ok(())
    }

    pub(crate) fn reversed(&mut self, position: u64, e: &ClaimReversed) {
        if let Some(c) = self.get_mut(&e.claim_id) {
            c.status = ClaimStatus::Reversed;
            c.total_payer = c.total_payer.map(|a| Amount::zero(a.currency()));
            c.total_copay = c.total_copay.map(|a| Amount::zero(a.currency()));
            c.events.push(position);
        }
    }

    /// The claims as lines without positions ([`crate::canonical`]): each claim and each
    /// household hash's count live in one partition. (The indexes follow from the records.)
    pub(crate) fn canonical(&self, out: &mut crate::canonical::Canonical) {
        for record in self.records.values() {
            out.owned(canonical_line(record));
        }
        out.owned_lines(&self.closed_lines);
        for (hash, count) in self.by_household_hash.iter() {
            out.owned(("claims of hash", hash, count));
        }
    }

    /// An open claim: one a command can concern (if its scheme's window has not closed:
    /// [`Claims::is_past`]).
    pub fn open(&self, id: &ClaimId) -> Option<&ClaimRecord> {
        self.records.get(self.seq_of.get(id)?)
    }

    /// A claim this partition holds in memory, open or closed and waiting for the archive.
    pub fn get(&self, id: &ClaimId) -> Option<&ClaimRecord> {
        self.find(id).map(|(_, record)| record)
    }

    /// [`Claims::get`], with the claim's submission number.
    fn find(&self, id: &ClaimId) -> Option<(Seq, &ClaimRecord)> {
        match self.seq_of.get(id) {
            Some(seq) => self.records.get(seq).map(|r| (*seq, r)),
            None => self
                .closed
                .iter()
                .find(|(_, c)| &c.record.claim_id == id)
                .map(|(seq, c)| (*seq, &c.record)),
        }
    }

    /// Whether `id` names a claim this partition's households were given and no longer holds
    /// open: a claim closed by a period close.
    pub fn was_closed(&self, id: &ClaimId) -> bool {
        let given = hash_and_number(id).is_some_and(|(hash, number)| {
            number >= 1
                && self
                    .by_household_hash
                    .get(&hash)
                    .is_some_and(|n| *n >= number)
        });
        given && !self.seq_of.contains_key(id)
    }

    /// The claim a facility already submitted under `code`.
    /// Every (facility, claim code) submitted, in no particular order.
    pub fn codes(&self) -> impl Iterator<Item = &(FacilityId, ClaimCode)> {
        self.by_code.iter().map(|(key, _)| key)
    }

    pub fn by_code(&self, facility: &FacilityId, code: &ClaimCode) -> Option<&ClaimId> {
        self.by_code.get(&(facility.clone(), code.clone()))
    }

    /// How many claims were submitted, open or closed.
    pub fn len(&self) -> usize {
        self.next_seq as usize
    }

    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// Up to `limit` claims held in memory (open, or closed and not yet archived) submitted
    /// after claim `after` (exclusive), in submission order, that match. `None` when `after`
    /// is not a claim held in memory.
    pub fn list(
        &self,
        filter: &ClaimFilter,
        after: Option<&ClaimId>,
        limit: usize,
    ) -> Option<Vec<&ClaimRecord>> {
        let from = match after {
            Some(id) => self.find(id)?.0.checked_add(1)?,
            None => 0,
        };
        let open = self.list_open(filter, from, limit);
        let closed = self.list_closed(filter, from, limit);
        let merged = merge_by_seq(open, closed, limit);
        Some(merged.into_iter().map(|(_, c)| c).collect())
    }

    /// Up to `limit` open claims from submission number `from` on, in submission order, that
    /// match.
    pub fn list_open(
        &self,
        filter: &ClaimFilter,
        from: Seq,
        limit: usize,
    ) -> Vec<(Seq, &ClaimRecord)> {
        let matches = |(_, c): &(Seq, &ClaimRecord)| filter.matches(c);
        // Walk the shorter of the facility's and the member's claims when filtered by them.
        let indexed = [
            filter.facility.as_ref().map(|f| self.by_facility.get(f)),
            filter.member.as_ref().map(|m| self.by_member.get(m)),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|seqs| seqs.map_or(0, Vec::len));
        match indexed {
            Some(seqs) => {
                let seqs = seqs.map_or(&[][..], Vec::as_slice);
                let start = seqs.partition_point(|s| *s < from);
                seqs[start..]
                    .iter()
                    .filter_map(|s| self.records.get(s).map(|r| (*s, r)))
                    .filter(matches)
                    .take(limit)
                    .collect()
            }
            None => self
                .records
                .range(from..)
                .map(|(s, r)| (*s, r))
                .filter(matches)
                .take(limit)
                .collect(),
        }
    }

    /// The member's decided, not reversed claims with a line of one of `codes` and a service
    /// date in `from..=to`: all the adjudicator's duplicate and frequency checks can use
    /// (they compare claims sharing a code, within the longest frequency of those codes). The
    /// cost grows with those claims, not with the member's whole history.
    pub fn prior_claims<'a>(
        &self,
        member: &MemberId,
        codes: impl IntoIterator<Item = &'a Code>,
        from: Date,
        to: Date,
    ) -> Vec<PriorClaim> {
        let mut seqs: Vec<Seq> = Vec::new();
        for code in codes {
            if let Some(dated) = self.by_member_code.get(&(member.clone(), code.clone())) {
                let start = dated.partition_point(|(date, _)| *date < from);
                seqs.extend(
                    dated[start..]
                        .iter()
                        .take_while(|(date, _)| *date <= to)
                        .map(|(_, seq)| *seq),
                );
            }
        }
        seqs.sort_unstable();
        seqs.dedup();
        seqs.into_iter()
            .filter_map(|s| self.records.get(&s))
            .filter(|c| c.is_decided() && c.status != ClaimStatus::Reversed)
            .map(|c| PriorClaim {
                claim_id: c.claim_id.clone(),
                facility_id: c.facility_id.clone(),
                claim_code: c.claim_code.clone(),
                service_date: c.service_date(),
                lines: c
                    .lines
                    .iter()
                    .map(|l| PriorLine {
                        code: l.code.clone(),
                        quantity: l.quantity,
                        passed: c.decided.iter().any(|d| {
                            d.line_no == l.line_no && d.status != DecisionStatus::Rejected
                        }),
                    })
                    .collect(),
            })
            .collect()
    }
}

/// The line a claim adds to the ledger's digest ([`crate::canonical`]): its record without
/// positions.
fn canonical_line(record: &ClaimRecord) -> impl std::fmt::Debug {
    (
        "claim",
        ClaimRecord {
            events: Vec::new(),
            ..record.clone()
        },
    )
}

/// The first `limit` of two lists sorted by submission number, in that order; a claim in
/// both (closed in memory and archived too) once, as `a` has it.
pub fn merge_by_seq<R>(a: Vec<(Seq, R)>, b: Vec<(Seq, R)>, limit: usize) -> Vec<(Seq, R)> {
    let mut out = Vec::with_capacity(limit.min(a.len() + b.len()));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    while out.len() < limit {
        let next = match (a.peek(), b.peek()) {
            (Some((x, _)), Some((y, _))) if y < x => b.next(),
            (Some((x, _)), Some((y, _))) if y == x => {
                b.next();
                a.next()
            }
            (Some(_), _) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(item) => out.push(item),
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ledger::event::{ClaimLine, LineKind};

    use super::*;

    pub(super) fn submission(claim: &str, code: &str, member: &str) -> ClaimSubmitted {
        let date = Date::from_ymd_opt(2026, 3, 5).unwrap();
        ClaimSubmitted {
            claim_id: claim.parse().unwrap(),
            claim_code: code.parse().unwrap(),
            facility_id: "F-1".parse().unwrap(),
            member_id: member.parse().unwrap(),
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
        }
    }

    fn ids(page: Option<Vec<&ClaimRecord>>) -> Vec<String> {
        page.unwrap()
            .iter()
            .map(|c| c.claim_id.to_string())
            .collect()
    }

    #[test]
    fn add_keeps_a_list_sorted_and_without_repeats() {
        let mut list = vec![0, 2];
        add(&mut list, 5);
        add(&mut list, 1);
        add(&mut list, 2);
        assert_eq!(list, [0, 1, 2, 5]);
    }

    #[test]
    fn lists_follow_submission_order_and_pages_continue_after_a_claim() {
        let mut claims = Claims::default();
        // Ids out of alphabetical order: lists follow the log, not the ids.
        for (i, id) in ["CL-B", "CL-A", "CL-C"].into_iter().enumerate() {
            claims.submitted(i as u64, &submission(id, &format!("C-{i}"), "M-1"));
        }
        let all = ClaimFilter::default();
        let mine = ClaimFilter {
            member: Some("M-1".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(ids(claims.list(&all, None, 10)), ["CL-B", "CL-A", "CL-C"]);
        let after: ClaimId = "CL-B".parse().unwrap();
        assert_eq!(ids(claims.list(&mine, Some(&after), 1)), ["CL-A"]);
        assert_eq!(ids(claims.list(&all, Some(&after), 10)), ["CL-A", "CL-C"]);
        assert!(
            claims
                .list(&all, Some(&"CL-X".parse().unwrap()), 10)
                .is_none()
        );
    }

    /// Earlier claims sharing a code, within the window, each once: whatever order their
    /// service dates arrived in (an offline batch brings earlier dates after later ones) and
    /// however many of a claim's lines have the code.
    #[test]
    fn prior_claims_share_a_code_within_the_window() {
        let day = |d| Date::from_ymd_opt(2026, 3, d).unwrap();
        let mut claims = Claims::default();
        for (position, (id, service_day, codes)) in [
            ("CL-1", 20, &["OPD", "LAB"][..]),
            ("CL-2", 5, &["OPD", "OPD"][..]),
            ("CL-3", 12, &["LAB"][..]),
            ("CL-4", 1, &["OPD"][..]),
        ]
        .into_iter()
        .enumerate()
        {
            let mut claim = submission(id, id, "M-1");
            claim.date_from = day(service_day);
            claim.lines = (1..)
                .zip(codes)
                .map(|(line_no, code)| ClaimLine {
                    line_no,
                    code: code.parse().unwrap(),
                    ..claim.lines[0].clone()
                })
                .collect();
            claims.submitted(position as u64, &claim);
            let none = Amount::zero(ledger::Currency::KES);
            claims.adjudicated(
                position as u64,
                &ClaimAdjudicated {
                    claim_id: claim.claim_id.clone(),
                    scheme_id: "S".parse().unwrap(),
                    scheme_version: 1,
                    scheme_content_sha256: [0; 32],
                    decided_on: day(service_day),
                    decided_on_given: false,
                    category: ledger::event::ClaimCategory::Visit,
                    status: DecisionStatus::Accepted,
                    reason_code: 0,
                    lines: vec![],
                    total_allowed: none,
                    total_payer: none,
                    total_copay: none,
                },
            );
        }
        let prior = |codes: &[&str], from, to| -> Vec<String> {
            let codes: Vec<Code> = codes.iter().map(|c| c.parse().unwrap()).collect();
            claims
                .prior_claims(&"M-1".parse().unwrap(), &codes, day(from), day(to))
                .iter()
                .map(|p| p.claim_id.to_string())
                .collect()
        };
        assert_eq!(prior(&["OPD"], 1, 31), ["CL-1", "CL-2", "CL-4"]);
        assert_eq!(prior(&["OPD"], 2, 20), ["CL-1", "CL-2"]);
        assert_eq!(prior(&["OPD"], 6, 19), Vec::<String>::new());
        assert_eq!(prior(&["LAB", "OPD"], 5, 12), ["CL-2", "CL-3"]);
        assert_eq!(prior(&["OPD"], 1, 1), ["CL-4"]);
    }

    #[test]
    fn a_claim_id_submitted_again_replaces_its_record_in_place() {
        let mut claims = Claims::default();
        claims.submitted(0, &submission("CL-1", "C-1", "M-1"));
        claims.submitted(1, &submission("CL-2", "C-2", "M-1"));
        claims.submitted(7, &submission("CL-1", "C-3", "M-1"));
        assert_eq!(claims.len(), 2);
        let id: ClaimId = "CL-1".parse().unwrap();
        assert_eq!(claims.get(&id).unwrap().submitted_at(), 7);
        let mine = ClaimFilter {
            member: Some("M-1".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(ids(claims.list(&mine, None, 10)), ["CL-1", "CL-2"]);
    }

    #[test]
    fn claim_ids_count_per_household_hash_and_carry_it() {
        let mut claims = Claims::default();
        let household: HouseholdId = "HH-1".parse().unwrap();
        let hash = positive_hash("HH-1");
        assert_eq!(claims.next_id(&household), format!("CL-{hash:08X}-1"));
        let mut first = submission("CL-X", "C1", "M-1");
        first.household_id = household.clone();
        first.claim_id = claims.next_id(&household).parse().unwrap();
        claims.submitted(0, &first);
        let second: ClaimId = claims.next_id(&household).parse().unwrap();
        assert_eq!(second.as_str(), format!("CL-{hash:08X}-2"));
        assert_eq!(partition_hash_of(&second), Some(hash));
        // Another household's claims do not move this household's numbers.
        let other: HouseholdId = "HH-2".parse().unwrap();
        assert!(claims.next_id(&other).ends_with("-1"));
        for id in [
            "CL-1",
            "CL-ZZZZZZZZ-1",
            "CL-0000000A-",
            "CL-0000000A-x",
            "XX-0000000A-1",
        ] {
            assert_eq!(partition_hash_of(&id.parse().unwrap()), None, "{id}");
        }
    }
}
