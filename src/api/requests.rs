//! gRPC requests to commands: every field parsed and bounded at the edge, each error naming
//! the request's field (INVALID_ARGUMENT with the field in ErrorInfo and BadRequest). Pure:
//! no IO, no caller, no clock (the claim's decision date comes in), so the conversion is
//! fuzzed on its own (`fuzz/fuzz_targets/requests.rs`).

use ledger::codec::{Wire, date_from_pb, id_from_pb, money_from_pb};
use ledger::event::{ClaimLine, Gender, PaymentChannel, PremiumSource};
use ledger::{Amount, Date, FieldError, RequestId};
use proto::v1 as pb;
use tonic::Status;

use crate::command::{Command, LineReview};

pub(crate) fn invalid(e: FieldError) -> Status {
    crate::api::status::invalid(&e.field, e.to_string())
}

pub fn request_id(value: &str) -> Result<RequestId, Status> {
    id_from_pb("request_id", value).map_err(invalid)
}

pub(crate) fn id<T: std::str::FromStr<Err = ledger::ids::IdError>>(
    field: &str,
    value: &str,
) -> Result<T, Status> {
    id_from_pb(field, value).map_err(invalid)
}

pub(crate) fn opt_id<T: std::str::FromStr<Err = ledger::ids::IdError>>(
    field: &str,
    value: &str,
) -> Result<Option<T>, Status> {
    if value.is_empty() {
        Ok(None)
    } else {
        id(field, value).map(Some)
    }
}

/// A business date of a request: a calendar date within `ledger::bounds`' window.
pub(crate) fn date(field: &str, value: Option<pb::Date>) -> Result<Date, Status> {
    let date = date_from_pb(field, value).map_err(invalid)?;
    ledger::bounds::date(field, date).map_err(invalid)?;
    Ok(date)
}

/// An amount of a request: a known currency, at most `ledger::bounds::AMOUNT_MAX`.
pub(crate) fn money(field: &str, value: Option<pb::Money>) -> Result<Amount, Status> {
    let amount = money_from_pb(field, value).map_err(invalid)?;
    ledger::bounds::amount(field, amount).map_err(invalid)?;
    Ok(amount)
}

pub(crate) fn enumeration<T>(
    field: &str,
    value: i32,
    from: fn(&str, i32) -> Result<T, FieldError>,
) -> Result<T, Status> {
    from(field, value).map_err(invalid)
}

pub fn publish_scheme(r: &pb::PublishSchemeRequest) -> Result<Command, Status> {
    Ok(Command::PublishScheme {
        document: r.document.clone(),
        effective_from: date("effective_from", r.effective_from)?,
    })
}

pub fn register_household(r: &pb::RegisterHouseholdRequest) -> Result<Command, Status> {
    Ok(Command::RegisterHousehold {
        household_id: id("household_id", &r.household_id)?,
        scheme_id: id("scheme_id", &r.scheme_id)?,
        location_code: r.location_code.clone(),
        socio_economic_category: r.socio_economic_category.clone(),
        registered_on: date("registered_on", r.registered_on)?,
    })
}

pub fn enroll_member(r: &pb::EnrollMemberRequest) -> Result<Command, Status> {
    Ok(Command::EnrollMember {
        member_id: id("member_id", &r.member_id)?,
        household_id: id("household_id", &r.household_id)?,
        gender: enumeration("gender", r.gender, Gender::from_pb)?,
        birth_date: date("birth_date", r.birth_date)?,
        is_head: r.is_head,
        facility_id: opt_id("facility_id", &r.facility_id)?,
        enrolled_on: date("enrolled_on", r.enrolled_on)?,
    })
}

pub fn record_contribution(r: &pb::RecordContributionRequest) -> Result<Command, Status> {
    Ok(Command::RecordContribution {
        receipt_id: id("receipt_id", &r.receipt_id)?,
        household_id: id("household_id", &r.household_id)?,
        member_id: opt_id("member_id", &r.member_id)?,
        amount: money("amount", r.amount.clone())?,
        channel: enumeration("channel", r.channel, PaymentChannel::from_pb)?,
        received_on: date("received_on", r.received_on)?,
    })
}

pub fn pay_premium(r: &pb::PayPremiumRequest) -> Result<Command, Status> {
    Ok(Command::PayPremium {
        receipt_id: id("receipt_id", &r.receipt_id)?,
        household_id: id("household_id", &r.household_id)?,
        product_id: id("product_id", &r.product_id)?,
        amount: money("amount", r.amount.clone())?,
        source: enumeration("source", r.source, PremiumSource::from_pb)?,
        paid_on: date("paid_on", r.paid_on)?,
        period_start: r
            .period_start
            .map(|d| date("period_start", Some(d)))
            .transpose()?,
    })
}

/// A claim, decided on `today` (`today_given`: an admin's or insurer's date, not the
/// server's; the caller checked who may give one).
pub fn submit_claim(
    r: &pb::SubmitClaimRequest,
    today: Date,
    today_given: bool,
) -> Result<Command, Status> {
    let lines = r
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            ClaimLine::from_pb(l.clone()).map_err(|e| invalid(e.within(&format!("lines[{i}]"))))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Command::SubmitClaim {
        claim_code: id("claim_code", &r.claim_code)?,
        facility_id: id("facility_id", &r.facility_id)?,
        member_id: id("member_id", &r.member_id)?,
        date_from: date("date_from", r.date_from)?,
        date_to: r.date_to.map(|d| date("date_to", Some(d))).transpose()?,
        claim_date: date("claim_date", r.claim_date)?,
        diagnosis_codes: r
            .diagnosis_codes
            .iter()
            .enumerate()
            .map(|(i, c)| id(&format!("diagnosis_codes[{i}]"), c))
            .collect::<Result<_, _>>()?,
        lines,
        today,
        today_given,
    })
}

pub fn review_claim(r: &pb::ReviewClaimRequest) -> Result<Command, Status> {
    let changes = r
        .changes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(LineReview {
                line_no: c.line_no,
                approved_quantity: c.approved_quantity,
                unit_price: c
                    .unit_price
                    .clone()
                    .map(|m| money(&format!("changes[{i}].unit_price"), Some(m)))
                    .transpose()?,
                reject: c.reject,
            })
        })
        .collect::<Result<Vec<_>, Status>>()?;
    Ok(Command::ReviewClaim {
        claim_id: id("claim_id", &r.claim_id)?,
        reviewer: r.reviewer.clone(),
        reviewed_on: date("reviewed_on", r.reviewed_on)?,
        changes,
        comment: r.comment.clone(),
    })
}

pub fn reverse_claim(r: &pb::ReverseClaimRequest) -> Result<Command, Status> {
    Ok(Command::ReverseClaim {
        claim_id: id("claim_id", &r.claim_id)?,
        reason: r.reason.clone(),
        reversed_on: date("reversed_on", r.reversed_on)?,
    })
}

pub fn record_copayment(r: &pb::RecordCopaymentRequest) -> Result<Command, Status> {
    Ok(Command::RecordCopay {
        receipt_id: id("receipt_id", &r.receipt_id)?,
        claim_id: id("claim_id", &r.claim_id)?,
        amount: money("amount", r.amount.clone())?,
        collected_on: date("collected_on", r.collected_on)?,
    })
}

pub fn record_stock_visit(r: &pb::RecordStockVisitRequest) -> Result<Command, Status> {
    Ok(Command::RecordStockVisit {
        facility_id: id("facility_id", &r.facility_id)?,
        product_code: id("product_code", &r.product_code)?,
        visited_on: date("visited_on", r.visited_on)?,
        stock_found: r.stock_found,
        losses: r.losses,
        delivered: r.delivered,
        unit_price: r
            .unit_price
            .clone()
            .map(|m| money("unit_price", Some(m)))
            .transpose()?,
    })
}

pub fn close_payment_period(r: &pb::ClosePaymentPeriodRequest) -> Result<Command, Status> {
    Ok(Command::ClosePaymentPeriod {
        period_id: id("period_id", &r.period_id)?,
        scheme_id: id("scheme_id", &r.scheme_id)?,
        starts_on: date("starts_on", r.starts_on)?,
        ends_on: date("ends_on", r.ends_on)?,
        closed_on: date("closed_on", r.closed_on)?,
    })
}

pub fn record_facility_payout(r: &pb::RecordFacilityPayoutRequest) -> Result<Command, Status> {
    Ok(Command::RecordFacilityPayout {
        payout_id: id("payout_id", &r.payout_id)?,
        facility_id: id("facility_id", &r.facility_id)?,
        period_id: id("period_id", &r.period_id)?,
        amount: money("amount", r.amount.clone())?,
        channel: enumeration("channel", r.channel, PaymentChannel::from_pb)?,
        reference: r.reference.clone(),
        paid_on: date("paid_on", r.paid_on)?,
    })
}
