//! Closing a payment period: the cut in every partition, then one statement per facility of
//! the scheme, issued in pages.
//!
//! A close is recorded in every partition (`PaymentPeriodClosed`, decided by
//! [`close_period`]): where a partition records it is that partition's cut, and the
//! partition assigns to the period every open accrual of the scheme's facilities dated up
//! to its end (`projections::payments`); what it takes after the cut goes to the next
//! close. A facility's statement ([`next_statements`], in its own partition through
//! [`record_statements`]) lists what every partition assigned to the period, in partition
//! order: it is the same whenever it is issued, and replays to the same lines.
//!
//! A close of a large scheme does not fit one request: a busy facility's statement lists one
//! line per claim, and a scheme holds up to 4,000 facilities. So statements are issued in
//! calls that each stay within a named budget ([`CLOSE_FACILITIES_PER_CALL`],
//! [`CLOSE_LINES_PER_CALL`]): the first call closes the period and issues the first
//! statements; each further `ClosePaymentPeriod` of the same period (same scheme and dates)
//! issues the next ones, in facility-id order, until every facility has a complete
//! statement; after that the period answers PERIOD_CLOSED. A statement longer than
//! [`STATEMENT_PART_LINES_MAX`] lines is written in parts (one event each), and a statement
//! may continue in the next call. A facility's statement waits while its statement of an
//! earlier period is still being issued (what it carries in comes from that one).

use std::collections::BTreeMap;

use adjudicator::scheme::Facility;
use ledger::event::{
    Event, FacilityStatementIssued, NewEvent, PaymentMethod, PaymentPeriodClosed,
    STATEMENT_PART_LINES_MAX, StatementLine,
};
use ledger::ids::{FacilityId, PeriodId, SchemeId};
use ledger::{Amount, Date, FieldError, StreamId};
use projections::Projections;
use projections::payments::{CARRY_IN, CARRY_OUT};

use crate::command::{Decided, Rejection, decided};

/// Most facilities one close call issues statements for (or continues).
pub const CLOSE_FACILITIES_PER_CALL: usize = 1000;
/// Most statement lines one close call issues: 13 parts, at most ~11 MB encoded in the worst
/// case of maximal descriptions and references, ~0.5 MB typically.
pub const CLOSE_LINES_PER_CALL: usize = 5000;

/// What one close call may still issue.
struct Budget {
    facilities: usize,
    lines: usize,
}

/// The period being closed, as the command gives it.
pub struct Close<'a> {
    pub period_id: &'a PeriodId,
    pub scheme_id: &'a SchemeId,
    pub starts_on: Date,
    pub ends_on: Date,
    pub closed_on: Date,
}

/// How a partition holds the period a close names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    No,
    /// With the same scheme and dates: a further call continues its statements.
    Same,
    /// With another scheme or other dates.
    Other,
}

/// Whether `p` recorded the close, and with what.
pub fn recorded(p: &Projections, close: &Close<'_>) -> Recorded {
    match p.payments.periods.get(close.period_id) {
        None => Recorded::No,
        Some(period)
            if &period.scheme_id == close.scheme_id
                && period.starts_on == close.starts_on
                && period.ends_on == close.ends_on
                && period.closed_on == close.closed_on =>
        {
            Recorded::Same
        }
        Some(_) => Recorded::Other,
    }
}

/// Records the close in one partition: its cut.
pub fn close_period(p: &Projections, close: &Close<'_>) -> Result<Decided, Rejection> {
    if p.registry.scheme(close.scheme_id).is_none() {
        return Err(Rejection::UnknownScheme(close.scheme_id.clone()));
    }
    if recorded(p, close) != Recorded::No {
        return Err(Rejection::PeriodClosed(close.period_id.clone()));
    }
    Ok(decided(vec![NewEvent {
        stream: StreamId::period(close.period_id),
        event: Event::PaymentPeriodClosed(PaymentPeriodClosed {
            period_id: close.period_id.clone(),
            scheme_id: close.scheme_id.clone(),
            starts_on: close.starts_on,
            ends_on: close.ends_on,
            closed_on: close.closed_on,
        }),
    }]))
}

/// The statement parts the next call of a close issues, from every partition's projections
/// (`partitions[i]` is partition i's; `home(f)` the index of facility f's partition, where
/// its statement is kept). Every partition must have recorded the close.
pub fn next_statements(
    partitions: &[&Projections],
    close: &Close<'_>,
    home: impl Fn(&FacilityId) -> usize,
) -> Result<Vec<FacilityStatementIssued>, Rejection> {
    let first = partitions
        .first()
        .ok_or_else(|| Rejection::UnknownScheme(close.scheme_id.clone()))?;
    let published = first
        .registry
        .scheme(close.scheme_id)
        .ok_or_else(|| Rejection::UnknownScheme(close.scheme_id.clone()))?;
    let scheme = &published.scheme;
    let mut facilities: Vec<_> = scheme
        .facilities
        .values()
        .filter(|f| {
            let payments = &partitions[home(&f.id)].payments;
            !payments.statement_complete(&f.id, close.period_id)
                && payments
                    .statement_in_progress(&f.id)
                    .is_none_or(|p| p == close.period_id)
        })
        .collect();
    facilities.sort_by(|a, b| a.id.cmp(&b.id));
    let mut budget = Budget {
        facilities: CLOSE_FACILITIES_PER_CALL,
        lines: CLOSE_LINES_PER_CALL,
    };
    let mut parts = Vec::new();
    for facility in facilities {
        if budget.facilities == 0 {
            break;
        }
        let own = partitions[home(&facility.id)];
        let lines = statement_lines(partitions, own, close, facility, scheme.currency)?;
        let issued = own
            .payments
            .statements
            .get(&(facility.id.clone(), close.period_id.clone()))
            .map_or(0, |s| usize::try_from(s.line_count()).unwrap_or(usize::MAX));
        let rest: Vec<StatementLine> = lines.into_iter().skip(issued).collect();
        if !rest.is_empty() && budget.lines == 0 {
            break;
        }
        budget.facilities -= 1;
        parts.extend(statement_parts(
            own,
            close,
            facility,
            scheme.currency,
            rest,
            &mut budget,
        )?);
    }
    Ok(parts)
}

/// Decides the statement parts a close built, in the facility's partition: the period is
/// recorded here and each part follows the parts issued.
pub fn record_statements(
    p: &Projections,
    parts: &[FacilityStatementIssued],
) -> Result<Decided, Rejection> {
    let invalid = |i: usize, reason: String| {
        Rejection::Invalid(FieldError::new(format!("statements[{i}]"), reason))
    };
    let mut next: BTreeMap<&FacilityId, (u32, bool)> = BTreeMap::new();
    for (i, part) in parts.iter().enumerate() {
        if !p.payments.periods.contains_key(&part.period_id) {
            return Err(invalid(
                i,
                format!("period {} is not closed here", part.period_id),
            ));
        }
        let (expected, open) = *next.entry(&part.facility_id).or_insert_with(|| {
            p.payments
                .statements
                .get(&(part.facility_id.clone(), part.period_id.clone()))
                .map_or((0, true), |s| (s.parts_issued(), s.more))
        });
        if !open || part.part != expected {
            return Err(invalid(
                i,
                format!("part {} does not follow the parts issued", part.part),
            ));
        }
        next.insert(&part.facility_id, (expected + 1, part.more));
    }
    let events = parts
        .iter()
        .map(|part| NewEvent {
            stream: StreamId::facility(&part.facility_id),
            event: Event::FacilityStatementIssued(part.clone()),
        })
        .collect();
    Ok(decided(events))
}

/// Every line of `facility`'s statement for the period, the same in every call: what its
/// last statement carried in, what every partition assigned to the period, a line carrying
/// the difference to the next statement if they owe less than nothing, then (capitation)
/// the capitation line.
fn statement_lines(
    partitions: &[&Projections],
    own: &Projections,
    close: &Close<'_>,
    facility: &Facility,
    currency: ledger::Currency,
) -> Result<Vec<StatementLine>, Rejection> {
    let mut lines = Vec::new();
    if let Some(carried) = own.payments.carry.get(&facility.id) {
        lines.push(StatementLine {
            description: "carried from the last statement".into(),
            reference: CARRY_IN.into(),
            quantity: 0,
            amount: *carried,
        });
    }
    for p in partitions {
        lines.extend(
            p.payments
                .assigned_to(&facility.id, close.period_id)
                .iter()
                .map(|a| StatementLine {
                    description: a.description.clone(),
                    reference: a.reference.clone(),
                    quantity: a.quantity,
                    amount: a.amount,
                }),
        );
    }
    let total = Amount::checked_sum(currency, lines.iter().map(|l| l.amount))?;
    if total.is_negative() {
        lines.push(StatementLine {
            description: "carried to the next statement".into(),
            reference: CARRY_OUT.into(),
            quantity: 0,
            amount: total.checked_neg()?,
        });
    }
    if facility.payment_method == PaymentMethod::Capitation {
        lines.push(capitation_line(partitions, close, facility, currency)?);
    }
    Ok(lines)
}

fn capitation_line(
    partitions: &[&Projections],
    close: &Close<'_>,
    facility: &Facility,
    currency: ledger::Currency,
) -> Result<StatementLine, Rejection> {
    let members: usize = partitions
        .iter()
        .map(|p| p.registry.registered_with(&facility.id))
        .sum();
    let members = members as i64;
    let rate = facility.capitation_rate.unwrap_or(Amount::zero(currency));
    let months = months_between(close.starts_on, close.ends_on).max(1);
    Ok(StatementLine {
        description: format!("capitation: {members} members x {rate} x {months} month(s)"),
        reference: "capitation".into(),
        quantity: members.unsigned_abs(),
        amount: rate.checked_mul(members)?.checked_mul(months)?,
    })
}

/// The next parts of `facility`'s statement, as many as the budget allows: every part holds
/// at most [`STATEMENT_PART_LINES_MAX`] lines, and the last one issued says whether more
/// follow. A statement with no lines is one empty part.
fn statement_parts(
    p: &Projections,
    close: &Close<'_>,
    facility: &Facility,
    currency: ledger::Currency,
    mut lines: Vec<StatementLine>,
    budget: &mut Budget,
) -> Result<Vec<FacilityStatementIssued>, Rejection> {
    let key = (facility.id.clone(), close.period_id.clone());
    let mut part = p
        .payments
        .statements
        .get(&key)
        .map_or(0, |s| s.parts_issued());
    let taken = lines.len().min(budget.lines);
    budget.lines -= taken;
    let more = taken < lines.len();
    lines.truncate(taken);
    let mut chunks: Vec<Vec<StatementLine>> = Vec::new();
    let mut rest = lines.into_iter().peekable();
    while rest.peek().is_some() || chunks.is_empty() {
        chunks.push(rest.by_ref().take(STATEMENT_PART_LINES_MAX).collect());
    }
    let count = chunks.len();
    let mut events = Vec::with_capacity(count);
    for (i, lines) in chunks.into_iter().enumerate() {
        let amount_due = Amount::checked_sum(currency, lines.iter().map(|l| l.amount))?;
        events.push(FacilityStatementIssued {
            period_id: close.period_id.clone(),
            facility_id: facility.id.clone(),
            method: facility.payment_method,
            lines,
            amount_due,
            part,
            more: more || i + 1 < count,
        });
        part += 1;
    }
    Ok(events)
}

fn months_between(starts_on: Date, ends_on: Date) -> i64 {
    use chrono::Datelike;
    i64::from(ends_on.year() - starts_on.year()) * 12 + i64::from(ends_on.month())
        - i64::from(starts_on.month())
        + 1
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ledger::event::{STATEMENT_LINE_BYTES_MAX, TEXT_BYTES_MAX};

    /// A part of maximal lines fits the log's largest event, and a close call's events fit
    /// one request.
    #[test]
    fn a_close_call_fits_the_log() {
        let limits = ledger::Limits::default();
        let line = StatementLine {
            description: "d".repeat(TEXT_BYTES_MAX),
            reference: "r".repeat(TEXT_BYTES_MAX),
            quantity: u64::MAX,
            amount: Amount::new(-ledger::bounds::AMOUNT_MAX, "KES".parse().unwrap()),
        };
        let part = Event::FacilityStatementIssued(FacilityStatementIssued {
            period_id: "p".repeat(64).parse().unwrap(),
            facility_id: "f".repeat(64).parse().unwrap(),
            method: PaymentMethod::FeeForService,
            lines: vec![line; STATEMENT_PART_LINES_MAX],
            amount_due: Amount::new(i64::MIN + 1, "KES".parse().unwrap()),
            part: u32::MAX,
            more: true,
        });
        let bytes = ledger::codec::event_bytes(&part).len();
        assert!(bytes <= STATEMENT_PART_LINES_MAX * STATEMENT_LINE_BYTES_MAX + 300);
        assert!(bytes <= limits.event_bytes_max, "{bytes}");
        let events =
            1 + CLOSE_FACILITIES_PER_CALL + CLOSE_LINES_PER_CALL / STATEMENT_PART_LINES_MAX + 1;
        assert!(events <= limits.batch_events_max, "{events}");
    }
}
