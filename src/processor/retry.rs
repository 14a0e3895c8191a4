//! Whether a request is a retry of the one that first used its request id.
//!
//! A request id is an idempotency key for one command (as payment APIs define them: Stripe's
//! idempotency keys, Google AIP-155): sending the same command again under it gets the first
//! answer; anything else under a used id is refused (`Rejection::RequestIdReused`), never
//! answered with another command's result.
//!
//! "The same command" is decided against what the first command recorded: every field the
//! caller sent is in the events it appended (the claim's facility, member, dates and lines;
//! the contribution's receipt, household, amount, channel and date...), so a command is a
//! retry exactly when its fields equal the recorded ones. A facility token can only send
//! claims for its own facility, so another facility's claim under a used id differs in
//! `facility_id` and is refused. The server's business date (`SubmitClaim::today`) is not the
//! caller's and is not compared: a retry on the next day is still the same claim.
//!
//! The comparison needs no digest index: the processor reads the first request's events to
//! answer a retry anyway (`EventLog::request_positions`, then the events).

use ledger::event::*;

use crate::command::{Command, LineReview};

/// True when `command` is the one that appended `events` (the first command under its id).
pub fn recorded_by(command: &Command, events: &[Event]) -> bool {
    let first = events.first();
    match (command, first) {
        (
            Command::PublishScheme {
                document,
                effective_from,
            },
            Some(Event::SchemePublished(e)),
        ) => &e.document == document && &e.effective_from == effective_from,
        (
            Command::RegisterHousehold {
                household_id,
                scheme_id,
                location_code,
                socio_economic_category,
                registered_on,
            },
            Some(Event::HouseholdRegistered(e)),
        ) => {
            &e.household_id == household_id
                && &e.scheme_id == scheme_id
                && &e.location_code == location_code
                && &e.socio_economic_category == socio_economic_category
                && &e.registered_on == registered_on
        }
        (
            Command::EnrollMember {
                member_id,
                household_id,
                gender,
                birth_date,
                is_head,
                facility_id,
                enrolled_on,
            },
            Some(Event::MemberEnrolled(e)),
        ) => {
            &e.member_id == member_id
                && &e.household_id == household_id
                && &e.gender == gender
                && &e.birth_date == birth_date
                && &e.is_head == is_head
                && &e.facility_id == facility_id
                && &e.enrolled_on == enrolled_on
        }
        (
            Command::RecordContribution {
                receipt_id,
                household_id,
                member_id,
                amount,
                channel,
                received_on,
            },
            Some(Event::ContributionReceived(e)),
        ) => {
            &e.receipt_id == receipt_id
                && &e.household_id == household_id
                && &e.member_id == member_id
                && &e.amount == amount
                && &e.channel == channel
                && &e.received_on == received_on
        }
        (
            Command::RecordSponsorContribution {
                receipt_id,
                sponsor_id,
                household_id,
                amount,
                received_on,
            },
            Some(Event::SponsorContributionReceived(e)),
        ) => {
            e.matched_receipt_id.is_none()
                && &e.receipt_id == receipt_id
                && &e.sponsor_id == sponsor_id
                && &e.household_id == household_id
                && &e.amount == amount
                && &e.received_on == received_on
        }
        (
            Command::PayPremium {
                receipt_id,
                household_id,
                product_id,
                amount,
                source,
                paid_on,
                // The period a payment is for is decided from it; the payment itself is
                // what the first command recorded.
                period_start: _,
            },
            _,
        ) => events.iter().any(|event| match event {
            Event::PremiumPaid(e) => {
                &e.receipt_id == receipt_id
                    && &e.household_id == household_id
                    && &e.product_id == product_id
                    && &e.amount == amount
                    && &e.source == source
                    && &e.paid_on == paid_on
            }
            _ => false,
        }),
        (
            Command::SubmitClaim {
                claim_code,
                facility_id,
                member_id,
                date_from,
                date_to,
                claim_date,
                diagnosis_codes,
                lines,
                today,
                today_given,
            },
            Some(Event::ClaimSubmitted(e)),
        ) => {
            decided_as(events, *today, *today_given)
                && &e.claim_code == claim_code
                && &e.facility_id == facility_id
                && &e.member_id == member_id
                && &e.date_from == date_from
                && &e.date_to == date_to
                && &e.claim_date == claim_date
                && &e.diagnosis_codes == diagnosis_codes
                && &e.lines == lines
        }
        (
            Command::ReviewClaim {
                claim_id,
                reviewer,
                reviewed_on,
                changes,
                comment,
            },
            Some(Event::ClaimReviewed(e)),
        ) => {
            &e.claim_id == claim_id
                && &e.reviewer == reviewer
                && &e.reviewed_on == reviewed_on
                && &e.comment == comment
                && reviewed_as(changes, &e.lines)
        }
        (
            Command::ReverseClaim {
                claim_id,
                reason,
                reversed_on,
            },
            Some(Event::ClaimReversed(e)),
        ) => &e.claim_id == claim_id && &e.reason == reason && &e.reversed_on == reversed_on,
        (
            Command::RecordCopay {
                receipt_id,
                claim_id,
                amount,
                collected_on,
            },
            Some(Event::CopayRecorded(e)),
        ) => {
            &e.receipt_id == receipt_id
                && &e.claim_id == claim_id
                && &e.amount == amount
                && &e.collected_on == collected_on
        }
        (
            Command::RecordStockVisit {
                facility_id,
                product_code,
                visited_on,
                stock_found,
                losses,
                delivered,
                unit_price,
            },
            Some(Event::StockVisitRecorded(e)),
        ) => {
            &e.facility_id == facility_id
                && &e.product_code == product_code
                && &e.visited_on == visited_on
                && &e.stock_found == stock_found
                && &e.losses == losses
                && &e.delivered == delivered
                && unit_price.is_none_or(|p| p == e.unit_price)
        }
        (
            Command::ClosePaymentPeriod {
                period_id,
                scheme_id,
                starts_on,
                ends_on,
                closed_on,
            },
            Some(Event::PaymentPeriodClosed(e)),
        ) => {
            &e.period_id == period_id
                && &e.scheme_id == scheme_id
                && &e.starts_on == starts_on
                && &e.ends_on == ends_on
                && &e.closed_on == closed_on
        }
        // What the ledger reserved of sponsors' budgets is not the caller's.
        (Command::WithBudgets { command, .. }, _) => recorded_by(command, events),
        (Command::RecordStatements { parts }, _) => {
            events.len() == parts.len()
                && events.iter().zip(parts).all(
                    |(event, part)| matches!(event, Event::FacilityStatementIssued(s) if s == part),
                )
        }
        (
            Command::RecordFacilityPayout {
                payout_id,
                facility_id,
                period_id,
                amount,
                channel,
                reference,
                paid_on,
            },
            Some(Event::FacilityPaid(e)),
        ) => {
            &e.payout_id == payout_id
                && &e.facility_id == facility_id
                && &e.period_id == period_id
                && &e.amount == amount
                && &e.channel == channel
                && &e.reference == reference
                && &e.paid_on == paid_on
        }
        _ => false,
    }
}

/// True when the claim's decision was made on the date the caller gave, if it gave one (the
/// server's date is not the caller's, and is not compared).
fn decided_as(events: &[Event], today: ledger::Date, given: bool) -> bool {
    events.iter().all(|event| match event {
        Event::ClaimAdjudicated(d) => {
            d.decided_on_given == given && (!given || d.decided_on == today)
        }
        _ => true,
    })
}

/// True when the recorded review lines are what `changes` asked for: one line per change, in
/// order, each rejected or at the quantity and price asked (a field not asked for is free).
fn reviewed_as(changes: &[LineReview], lines: &[LineDecision]) -> bool {
    changes.len() == lines.len()
        && changes.iter().zip(lines).all(|(change, line)| {
            line.line_no == change.line_no
                && (line.status == DecisionStatus::Rejected) == change.reject
                && (change.reject
                    || (change
                        .approved_quantity
                        .is_none_or(|q| q == line.approved_quantity)
                        && change.unit_price.is_none_or(|p| p == line.unit_price)))
        })
}

/// True when two commands are the same request (`SubmitClaim::today`, when it is the
/// server's date, is not compared): for a retry that arrives while the first is still being
/// committed.
pub fn same_command(a: &Command, b: &Command) -> bool {
    match (a, b) {
        (
            Command::SubmitClaim {
                today_given: false, ..
            },
            Command::SubmitClaim {
                today,
                today_given: false,
                ..
            },
        ) => {
            let mut a = a.clone();
            if let Command::SubmitClaim { today: t, .. } = &mut a {
                *t = *today;
            }
            &a == b
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ledger::{Amount, Currency, Date};

    fn date(d: u32) -> Date {
        Date::from_ymd_opt(2026, 3, d).unwrap()
    }

    fn contribution(minor: i64) -> Command {
        Command::RecordContribution {
            receipt_id: "R-1".parse().unwrap(),
            household_id: "HH-1".parse().unwrap(),
            member_id: None,
            amount: Amount::new(minor, Currency::KES),
            channel: PaymentChannel::MobileMoney,
            received_on: date(2),
        }
    }

    fn recorded(minor: i64) -> Vec<Event> {
        vec![Event::ContributionReceived(ContributionReceived {
            receipt_id: "R-1".parse().unwrap(),
            household_id: "HH-1".parse().unwrap(),
            member_id: None,
            amount: Amount::new(minor, Currency::KES),
            channel: PaymentChannel::MobileMoney,
            received_on: date(2),
        })]
    }

    #[test]
    fn a_retry_is_the_recorded_command_and_nothing_else_is() {
        assert!(recorded_by(&contribution(100), &recorded(100)));
        assert!(!recorded_by(&contribution(999_900), &recorded(100)));
        let reverse = Command::ReverseClaim {
            claim_id: "CL-1".parse().unwrap(),
            reason: "r".into(),
            reversed_on: date(3),
        };
        assert!(!recorded_by(&reverse, &recorded(100)));
        assert!(!recorded_by(&contribution(100), &[]));
    }

    #[test]
    fn the_server_date_of_a_claim_is_not_part_of_the_request() {
        let claim = |today: u32, member: &str| Command::SubmitClaim {
            claim_code: "C-1".parse().unwrap(),
            facility_id: "F-1".parse().unwrap(),
            member_id: member.parse().unwrap(),
            date_from: date(1),
            date_to: None,
            claim_date: date(1),
            diagnosis_codes: vec![],
            lines: vec![],
            today: date(today),
            today_given: false,
        };
        assert!(same_command(&claim(1, "M-1"), &claim(2, "M-1")));
        assert!(!same_command(&claim(1, "M-1"), &claim(1, "M-2")));
        assert!(!same_command(&claim(1, "M-1"), &contribution(1)));
    }
}
