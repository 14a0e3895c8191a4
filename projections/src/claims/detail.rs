//! A claim in full, as queries show it: its compact record (the decide state) and the events
//! it keeps positions of, read from the log. Pure: the caller reads the events.

use ledger::event::{ClaimAdjudicated, ClaimReversed, ClaimReviewed, ClaimSubmitted, Event};

use super::ClaimRecord;
use ledger::event::LineDecision;

/// Most events of one claim a query reads back: the submission, the decision, reviews and
/// the reversal. A claim with more events shows its first ones and its last (the reversal,
/// if any), and its totals and status as they stand.
pub const CLAIM_EVENTS_READ_MAX: usize = 64;

/// A claim with its history: what the record holds, and the events themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimDetail {
    pub record: ClaimRecord,
    pub submitted: ClaimSubmitted,
    pub decision: Option<ClaimAdjudicated>,
    pub reviews: Vec<ClaimReviewed>,
    pub reversed: Option<ClaimReversed>,
    /// The decision in force on each line, with every finding: the decision's, then what
    /// each review added.
    pub lines: Vec<LineDecision>,
}

impl ClaimDetail {
    /// Puts a claim together from its record and the events at its positions, in order.
    /// Refuses events that are not the claim's: the positions and the log disagree.
    pub fn new(record: ClaimRecord, events: Vec<Event>) -> Result<ClaimDetail, String> {
        let id = record.claim_id.clone();
        let not_its = |what: &str| format!("the log holds {what} where claim {id} has an event");
        let mut events = events.into_iter();
        let submitted = match events.next() {
            Some(Event::ClaimSubmitted(s)) if s.claim_id == id => s,
            _ => return Err(not_its("no submission of it")),
        };
        let mut detail = ClaimDetail {
            record,
            submitted,
            decision: None,
            reviews: Vec::new(),
            reversed: None,
            lines: Vec::new(),
        };
        for event in events {
            match event {
                Event::ClaimAdjudicated(d) if d.claim_id == id => {
                    detail.lines = d.lines.clone();
                    detail.decision = Some(d);
                }
                Event::ClaimReviewed(r) if r.claim_id == id => {
                    review_lines(&mut detail.lines, &r);
                    detail.reviews.push(r);
                }
                Event::ClaimReversed(r) if r.claim_id == id => detail.reversed = Some(r),
                _ => return Err(not_its("another event")),
            }
        }
        Ok(detail)
    }
}

/// Applies a review's lines to the lines in force. A review records the findings it adds; a
/// review recorded before that rule carries the line's earlier findings first, and then its
/// findings replace them rather than repeat them.
fn review_lines(lines: &mut Vec<LineDecision>, review: &ClaimReviewed) {
    for changed in &review.lines {
        match lines.iter_mut().find(|l| l.line_no == changed.line_no) {
            Some(line) => {
                let mut findings = std::mem::take(&mut line.findings);
                if changed.findings.starts_with(&findings) {
                    findings.clear();
                }
                findings.extend(changed.findings.iter().cloned());
                *line = LineDecision {
                    findings,
                    ..changed.clone()
                };
            }
            None => lines.push(changed.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ledger::event::{ClaimLine, DecisionStatus, LineKind};
    use ledger::{Amount, Currency, Date};

    use super::*;

    fn line(findings: &[&str]) -> LineDecision {
        let kes = |v| Amount::new(v, Currency::KES);
        LineDecision {
            line_no: 1,
            status: DecisionStatus::Accepted,
            reason_code: 0,
            approved_quantity: 1,
            unit_price: kes(100),
            allowed: kes(100),
            payer: kes(100),
            copay: kes(0),
            deductible: kes(0),
            ceiling_excess: kes(0),
            product_id: None,
            findings: findings.iter().map(|f| f.to_string()).collect(),
            policy_id: None,
            ceiling_excluded: false,
        }
    }

    fn review(findings: &[&str]) -> ClaimReviewed {
        ClaimReviewed {
            claim_id: "CL-1".parse().unwrap(),
            reviewer: "r".into(),
            reviewed_on: Date::from_ymd_opt(2026, 3, 6).unwrap(),
            lines: vec![LineDecision {
                status: DecisionStatus::Partial,
                ..line(findings)
            }],
            comment: String::new(),
            total_payer: Amount::new(100, Currency::KES),
            total_copay: Amount::new(0, Currency::KES),
            copay_refunded: None,
        }
    }

    #[test]
    fn a_review_adds_its_findings_and_an_older_review_does_not_repeat_them() {
        let mut lines = vec![line(&["priced"])];
        review_lines(&mut lines, &review(&["reviewed by a"]));
        assert_eq!(lines[0].findings, ["priced", "reviewed by a"]);
        assert_eq!(lines[0].status, DecisionStatus::Partial);
        // Recorded before reviews kept only what they add: the earlier findings come first.
        review_lines(
            &mut lines,
            &review(&["priced", "reviewed by a", "reviewed by b"]),
        );
        assert_eq!(
            lines[0].findings,
            ["priced", "reviewed by a", "reviewed by b"]
        );
    }

    #[test]
    fn events_of_another_claim_are_refused() {
        let date = Date::from_ymd_opt(2026, 3, 5).unwrap();
        let submitted = ClaimSubmitted {
            claim_id: "CL-1".parse().unwrap(),
            claim_code: "C1".parse().unwrap(),
            facility_id: "F-1".parse().unwrap(),
            member_id: "M-1".parse().unwrap(),
            household_id: "HH-1".parse().unwrap(),
            date_from: date,
            date_to: None,
            claim_date: date,
            diagnosis_codes: vec!["B54".parse().unwrap()],
            lines: vec![ClaimLine {
                line_no: 1,
                kind: LineKind::Service,
                code: "OPD".parse().unwrap(),
                quantity: 1,
                asked_unit_price: None,
            }],
        };
        let record = ClaimRecord::new(0, &submitted);
        let detail = ClaimDetail::new(
            record.clone(),
            vec![Event::ClaimSubmitted(submitted.clone())],
        )
        .unwrap();
        assert_eq!(detail.submitted.diagnosis_codes, submitted.diagnosis_codes);
        let mut other = review(&[]);
        other.claim_id = "CL-2".parse().unwrap();
        let events = vec![
            Event::ClaimSubmitted(submitted),
            Event::ClaimReviewed(other),
        ];
        assert!(ClaimDetail::new(record, events).is_err());
    }
}
