//! Closing a payment period: one statement per facility of the scheme, issued in pages.
//!
//! A close of a large scheme does not fit one request: a busy facility's statement lists one
//! line per claim, and a scheme holds up to 4,000 facilities. So a close is issued in calls
//! that each stay within a named budget ([`CLOSE_FACILITIES_PER_CALL`],
//! [`CLOSE_LINES_PER_CALL`]): the first call closes the period and issues the first
//! statements; each further `ClosePaymentPeriod` of the same period (same scheme and dates)
//! issues the next ones, in facility-id order, until every facility has a complete
//! statement; after that the period answers PERIOD_CLOSED. A statement longer than
//! [`STATEMENT_PART_LINES_MAX`] lines is written in parts (one event each), and a statement
//! may continue in the next call. Each call is one atomic append.
//!
//! A statement lists the facility's accruals dated up to the period's end that are open when
//! it is issued; a claim decided between two calls joins the statement of a facility not yet
//! issued, and the next period's statement of one already issued.

use adjudicator::scheme::Facility;
use ledger::event::NewEvent;
use ledger::event::{
    Event, FacilityStatementIssued, PaymentMethod, PaymentPeriodClosed, STATEMENT_PART_LINES_MAX,
    StatementLine,
};
use ledger::ids::{FacilityId, PeriodId, SchemeId};
use ledger::{Amount, Date, StreamId};
use projections::Projections;

use crate::commands::{Decided, Rejection, decided};

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

/// Closes the period, or continues issuing its statements if it is closed with the same
/// scheme and dates and some are still to come.
pub fn close_period(p: &Projections, close: &Close<'_>) -> Result<Decided, Rejection> {
    let published = p
        .registry
        .scheme(close.scheme_id)
        .ok_or_else(|| Rejection::UnknownScheme(close.scheme_id.clone()))?;
    let scheme = &published.scheme;
    let mut events = Vec::new();
    match p.payments.periods.get(close.period_id) {
        None => events.push(NewEvent {
            stream: StreamId::period(close.period_id),
            event: Event::PaymentPeriodClosed(PaymentPeriodClosed {
                period_id: close.period_id.clone(),
                scheme_id: close.scheme_id.clone(),
                starts_on: close.starts_on,
                ends_on: close.ends_on,
                closed_on: close.closed_on,
            }),
        }),
        Some(period)
            if &period.scheme_id == close.scheme_id
                && period.starts_on == close.starts_on
                && period.ends_on == close.ends_on
                && period.closed_on == close.closed_on => {}
        Some(_) => return Err(Rejection::PeriodClosed(close.period_id.clone())),
    }
    let mut facilities: Vec<_> = scheme
        .facilities
        .values()
        .filter(|f| !p.payments.statement_complete(&f.id, close.period_id))
        .collect();
    facilities.sort_by(|a, b| a.id.cmp(&b.id));
    let mut budget = Budget {
        facilities: CLOSE_FACILITIES_PER_CALL,
        lines: CLOSE_LINES_PER_CALL,
    };
    for facility in facilities {
        if budget.facilities == 0 {
            break;
        }
        let lines = statement_lines(p, close, facility, scheme.currency)?;
        if !lines.is_empty() && budget.lines == 0 {
            break;
        }
        budget.facilities -= 1;
        events.extend(statement_parts(
            p,
            close,
            facility,
            scheme.currency,
            lines,
            &mut budget,
        )?);
    }
    if events.is_empty() {
        return Err(Rejection::PeriodClosed(close.period_id.clone()));
    }
    Ok(decided(events))
}

/// The lines still to go on `facility`'s statement: its open accruals up to the period's end,
/// then (capitation) the capitation line. If they would make the statement owe less than
/// nothing (more reversed than accrued), only the capitation line: the accruals stay open
/// and net against the next period.
fn statement_lines(
    p: &Projections,
    close: &Close<'_>,
    facility: &Facility,
    currency: ledger::Currency,
) -> Result<Vec<StatementLine>, Rejection> {
    let mut lines: Vec<StatementLine> = p
        .payments
        .open_accruals(&facility.id, close.ends_on)
        .into_iter()
        .map(|a| StatementLine {
            description: a.description.clone(),
            reference: a.reference.clone(),
            quantity: a.quantity,
            amount: a.amount,
        })
        .collect();
    let capitation = (facility.payment_method == PaymentMethod::Capitation)
        .then(|| capitation_line(p, close, facility, currency))
        .transpose()?;
    let issued = issued_so_far(p, close, &facility.id, currency);
    let total = Amount::checked_sum(currency, lines.iter().map(|l| l.amount))?;
    if issued.checked_add(total)?.is_negative() {
        lines.clear();
    }
    lines.extend(capitation);
    Ok(lines)
}

fn capitation_line(
    p: &Projections,
    close: &Close<'_>,
    facility: &Facility,
    currency: ledger::Currency,
) -> Result<StatementLine, Rejection> {
    let members = p.registry.registered_with(&facility.id) as i64;
    let rate = facility.capitation_rate.unwrap_or(Amount::zero(currency));
    let months = months_between(close.starts_on, close.ends_on).max(1);
    Ok(StatementLine {
        description: format!("capitation: {members} members x {rate} x {months} month(s)"),
        reference: "capitation".into(),
        quantity: members.unsigned_abs(),
        amount: rate.checked_mul(members)?.checked_mul(months)?,
    })
}

/// What the parts of `facility`'s statement issued in earlier calls add up to.
fn issued_so_far(
    p: &Projections,
    close: &Close<'_>,
    facility: &FacilityId,
    currency: ledger::Currency,
) -> Amount {
    p.payments
        .statements
        .get(&(facility.clone(), close.period_id.clone()))
        .map_or(Amount::zero(currency), |s| s.due)
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
) -> Result<Vec<NewEvent>, Rejection> {
    let key = (facility.id.clone(), close.period_id.clone());
    let mut part = p.payments.statements.get(&key).map_or(0, |s| s.parts);
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
        events.push(NewEvent {
            stream: StreamId::facility(&facility.id),
            event: Event::FacilityStatementIssued(FacilityStatementIssued {
                period_id: close.period_id.clone(),
                facility_id: facility.id.clone(),
                method: facility.payment_method,
                lines,
                amount_due,
                part,
                more: more || i + 1 < count,
            }),
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
