//! Paying a facility what a statement says it is owed.

use super::*;

/// Decides [`Command::RecordFacilityPayout`].
pub(super) fn record_facility_payout(
    p: &Projections,
    command: &Command,
) -> Result<Decided, Rejection> {
    let Command::RecordFacilityPayout {
        payout_id,
        facility_id,
        period_id,
        amount,
        channel,
        reference,
        paid_on,
    } = command
    else {
        return Err(not_the_command("RecordFacilityPayout"));
    };
    let statement = p
        .payments
        .statements
        .get(&(facility_id.clone(), period_id.clone()))
        .ok_or_else(|| Rejection::NoStatement {
            facility: facility_id.clone(),
            period: period_id.clone(),
        })?;
    if statement.more {
        return Err(Rejection::StatementIncomplete {
            facility: facility_id.clone(),
            period: period_id.clone(),
        });
    }
    let outstanding = statement.outstanding();
    if amount.currency() != outstanding.currency() {
        return Err(Rejection::WrongCurrency {
            amount: *amount,
            expected: outstanding.currency(),
        });
    }
    if !amount.is_positive() {
        return Err(Rejection::NotPositive(*amount));
    }
    if amount.minor_units() > outstanding.minor_units() {
        return Err(Rejection::Overpayment {
            amount: *amount,
            outstanding,
        });
    }
    Ok(decided(single(
        StreamId::facility(facility_id),
        Event::FacilityPaid(FacilityPaid {
            payout_id: payout_id.clone(),
            facility_id: facility_id.clone(),
            period_id: period_id.clone(),
            amount: *amount,
            channel: *channel,
            reference: reference.to_owned(),
            paid_on: *paid_on,
        }),
    )))
}
