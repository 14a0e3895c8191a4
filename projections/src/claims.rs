//! Claims: submission, decision, reviews, reversal, status; lists by facility and member.

use std::collections::{BTreeMap, BTreeSet};

use adjudicator::context::{PriorClaim, PriorLine};
use ledger::event::{
    ClaimAdjudicated, ClaimCategory, ClaimReversed, ClaimReviewed, ClaimSubmitted, DecisionStatus,
    LineDecision,
};
use ledger::ids::{ClaimCode, ClaimId, Code, FacilityId, MemberId};
use ledger::{Amount, Date};

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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClaimRecord {
    pub submitted: ClaimSubmitted,
    pub submitted_at: u64,
    pub decision: Option<ClaimAdjudicated>,
    /// The lines as changed by reviews; None while they are the decision's (most claims are
    /// never reviewed, so their lines are not kept twice).
    reviewed_lines: Option<Vec<LineDecision>>,
    pub reviews: u32,
    pub reversed: Option<ClaimReversed>,
    pub status: ClaimStatus,
    /// None until decided.
    pub total_payer: Option<Amount>,
    pub total_copay: Option<Amount>,
}

impl ClaimRecord {
    /// The lines in force: the decision's, as changed by reviews (none before the decision).
    pub fn lines(&self) -> &[LineDecision] {
        match (&self.reviewed_lines, &self.decision) {
            (Some(lines), _) => lines,
            (None, Some(d)) => &d.lines,
            (None, None) => &[],
        }
    }

    pub fn category(&self) -> ClaimCategory {
        self.decision
            .as_ref()
            .map_or(ClaimCategory::Visit, |d| d.category)
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

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    claims: BTreeMap<ClaimId, ClaimRecord>,
    by_code: Keyed<(FacilityId, ClaimCode), ClaimId>,
    /// Claim ids by facility and by member, in id order: lists filtered by either read only
    /// those claims.
    by_facility: BTreeMap<FacilityId, BTreeSet<ClaimId>>,
    by_member: Keyed<MemberId, BTreeSet<ClaimId>>,
    /// A member's claims by line code and service date: the adjudicator's duplicate and
    /// frequency checks only look at claims sharing a code within a window of dates.
    by_member_code: Keyed<(MemberId, Code), BTreeMap<Date, Vec<ClaimId>>>,
}

/// Filters for listing claims.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClaimFilter {
    pub facility: Option<FacilityId>,
    pub member: Option<MemberId>,
    pub status: Option<ClaimStatus>,
}

impl Claims {
    pub(crate) fn submitted(&mut self, position: u64, e: &ClaimSubmitted) {
        self.by_code.insert(
            (e.facility_id.clone(), e.claim_code.clone()),
            e.claim_id.clone(),
        );
        self.by_facility
            .entry(e.facility_id.clone())
            .or_default()
            .insert(e.claim_id.clone());
        self.by_member
            .entry(e.member_id.clone())
            .or_default()
            .insert(e.claim_id.clone());
        let service_date = e.date_to.unwrap_or(e.date_from);
        for line in &e.lines {
            self.by_member_code
                .entry((e.member_id.clone(), line.code.clone()))
                .or_default()
                .entry(service_date)
                .or_default()
                .push(e.claim_id.clone());
        }
        self.claims.insert(
            e.claim_id.clone(),
            ClaimRecord {
                submitted: e.clone(),
                submitted_at: position,
                decision: None,
                reviewed_lines: None,
                reviews: 0,
                reversed: None,
                status: ClaimStatus::Submitted,
                total_payer: None,
                total_copay: None,
            },
        );
    }

    pub(crate) fn adjudicated(&mut self, e: &ClaimAdjudicated) {
        if let Some(c) = self.claims.get_mut(&e.claim_id) {
            c.reviewed_lines = None;
            c.status = ClaimRecord::status_of(&e.lines);
            c.total_payer = Some(e.total_payer);
            c.total_copay = Some(e.total_copay);
            c.decision = Some(e.clone());
        }
    }

    pub(crate) fn reviewed(&mut self, e: &ClaimReviewed) {
        if let Some(c) = self.claims.get_mut(&e.claim_id) {
            let mut lines = c.lines().to_vec();
            for line in &e.lines {
                match lines.iter_mut().find(|l| l.line_no == line.line_no) {
                    Some(l) => *l = line.clone(),
                    None => lines.push(line.clone()),
                }
            }
            c.reviews += 1;
            c.status = ClaimRecord::status_of(&lines);
            c.reviewed_lines = Some(lines);
            c.total_payer = Some(e.total_payer);
            c.total_copay = Some(e.total_copay);
        }
    }

    pub(crate) fn reversed(&mut self, e: &ClaimReversed) {
        if let Some(c) = self.claims.get_mut(&e.claim_id) {
            c.status = ClaimStatus::Reversed;
            c.reversed = Some(e.clone());
            c.total_payer = c.total_payer.map(|a| Amount::zero(a.currency()));
            c.total_copay = c.total_copay.map(|a| Amount::zero(a.currency()));
        }
    }

    pub fn get(&self, id: &ClaimId) -> Option<&ClaimRecord> {
        self.claims.get(id)
    }

    /// The claim a facility already submitted under `code`.
    pub fn by_code(&self, facility: &FacilityId, code: &ClaimCode) -> Option<&ClaimId> {
        self.by_code.get(&(facility.clone(), code.clone()))
    }

    pub fn len(&self) -> usize {
        self.claims.len()
    }

    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
    }

    /// Up to `limit` claims after `after` (exclusive), in claim id order, that match.
    pub fn list(
        &self,
        filter: &ClaimFilter,
        after: Option<&ClaimId>,
        limit: usize,
    ) -> Vec<&ClaimRecord> {
        let matches = |c: &&ClaimRecord| {
            filter
                .facility
                .as_ref()
                .is_none_or(|f| &c.submitted.facility_id == f)
                && filter
                    .member
                    .as_ref()
                    .is_none_or(|m| &c.submitted.member_id == m)
                && filter.status.is_none_or(|s| c.status == s)
        };
        let from = match after {
            Some(a) => std::ops::Bound::Excluded(a),
            None => std::ops::Bound::Unbounded,
        };
        // Walk the smaller of the facility's and the member's claims when filtered by them.
        let indexed = [
            filter.facility.as_ref().map(|f| self.by_facility.get(f)),
            filter.member.as_ref().map(|m| self.by_member.get(m)),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|ids| ids.map_or(0, BTreeSet::len));
        if let Some(ids) = indexed {
            return ids
                .into_iter()
                .flat_map(|ids| ids.range::<ClaimId, _>((from, std::ops::Bound::Unbounded)))
                .filter_map(|id| self.claims.get(id))
                .filter(matches)
                .take(limit)
                .collect();
        }
        let range = self
            .claims
            .range::<ClaimId, _>((from, std::ops::Bound::Unbounded));
        range.map(|(_, c)| c).filter(matches).take(limit).collect()
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
        let mut ids: Vec<&ClaimId> = Vec::new();
        for code in codes {
            if let Some(by_date) = self.by_member_code.get(&(member.clone(), code.clone())) {
                ids.extend(by_date.range(from..=to).flat_map(|(_, ids)| ids));
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .filter_map(|id| self.claims.get(id))
            .filter(|c| c.decision.is_some() && c.status != ClaimStatus::Reversed)
            .map(|c| PriorClaim {
                claim_id: c.submitted.claim_id.clone(),
                facility_id: c.submitted.facility_id.clone(),
                claim_code: c.submitted.claim_code.clone(),
                service_date: c.submitted.date_to.unwrap_or(c.submitted.date_from),
                lines: c
                    .submitted
                    .lines
                    .iter()
                    .map(|l| PriorLine {
                        code: l.code.clone(),
                        quantity: l.quantity,
                        passed: c.lines().iter().any(|d| {
                            d.line_no == l.line_no && d.status != DecisionStatus::Rejected
                        }),
                    })
                    .collect(),
            })
            .collect()
    }
}
