//! The one place where domain types meet their protobuf encoding (`proto::v1`).
//!
//! `to_pb` never fails. `from_pb` validates everything a foreign producer could get wrong
//! (unknown enum values, missing required fields, malformed ids, unknown currencies) and names
//! the field, e.g. `premium_paid.amount.currency_code: unknown currency code "KSH"`.

mod decode;
#[cfg(feature = "log")]
pub(crate) use decode::{EnvelopeHead, decode_envelope_head};
mod direct;

use chrono::Datelike;
use prost::Message;
use proto::v1 as pb;

pub use decode::decode_event;
pub use direct::encode_event;

use crate::event::*;
use crate::ids::*;
use crate::money::{Amount, Currency};

type Result<T> = std::result::Result<T, FieldError>;

/// Conversion between a domain type and its protobuf message.
pub trait Wire: Sized {
    type Pb;
    fn to_pb(&self) -> Self::Pb;
    fn from_pb(pb: Self::Pb) -> Result<Self>;
}

pub fn money_to_pb(amount: Amount) -> pb::Money {
    pb::Money {
        minor_units: amount.minor_units(),
        currency_code: amount.currency().code().to_owned(),
    }
}

/// A required money field.
pub fn money_from_pb(field: &str, money: Option<pb::Money>) -> Result<Amount> {
    let money = money.ok_or_else(|| FieldError::new(field, "is required"))?;
    let currency: Currency = money
        .currency_code
        .parse()
        .map_err(|e| FieldError::new(format!("{field}.currency_code"), e))?;
    Ok(Amount::new(money.minor_units, currency))
}

fn opt_money_from_pb(field: &str, money: Option<pb::Money>) -> Result<Option<Amount>> {
    money.map(|m| money_from_pb(field, Some(m))).transpose()
}

pub fn date_to_pb(date: Date) -> pb::Date {
    pb::Date {
        year: date.year(),
        month: date.month() as i32,
        day: date.day() as i32,
    }
}

/// A required date field.
pub fn date_from_pb(field: &str, date: Option<pb::Date>) -> Result<Date> {
    let d = date.ok_or_else(|| FieldError::new(field, "is required"))?;
    let month = u32::try_from(d.month).ok();
    let day = u32::try_from(d.day).ok();
    month
        .zip(day)
        .and_then(|(m, dd)| Date::from_ymd_opt(d.year, m, dd))
        .ok_or_else(|| {
            FieldError::new(
                field,
                format!("{}-{}-{} is not a calendar date", d.year, d.month, d.day),
            )
        })
}

fn opt_date_from_pb(field: &str, date: Option<pb::Date>) -> Result<Option<Date>> {
    date.map(|d| date_from_pb(field, Some(d))).transpose()
}

/// A required id field.
pub fn id_from_pb<T: std::str::FromStr<Err = IdError>>(field: &str, value: &str) -> Result<T> {
    value.parse().map_err(|e| FieldError::id(field, e))
}

/// An optional id field: empty means absent.
fn opt_id_from_pb<T: std::str::FromStr<Err = IdError>>(
    field: &str,
    value: &str,
) -> Result<Option<T>> {
    if value.is_empty() {
        Ok(None)
    } else {
        id_from_pb(field, value).map(Some)
    }
}

fn opt_id_to_pb<T: std::fmt::Display>(id: &Option<T>) -> String {
    id.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn sha256_from_pb(field: &str, bytes: Vec<u8>) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| FieldError::new(field, format!("must be 32 bytes, is {}", bytes.len())))
}

/// Maps a domain enum to and from its protobuf enum (whose zero value is UNSPECIFIED and
/// never valid).
macro_rules! wire_enum {
    ($domain:ident, $pb:ident, { $($d:ident <=> $p:ident),+ $(,)? }) => {
        impl $domain {
            pub fn to_pb(self) -> i32 {
                match self { $($domain::$d => pb::$pb::$p as i32),+ }
            }

            pub fn from_pb(field: &str, value: i32) -> Result<Self> {
                match pb::$pb::try_from(value) {
                    $(Ok(pb::$pb::$p) => Ok($domain::$d),)+
                    _ => Err(FieldError::new(field, format!("{value} is not a valid {}", stringify!($pb)))),
                }
            }
        }
    };
}

wire_enum!(StreamKind, StreamKind, {
    Scheme <=> Scheme, Household <=> Household, Facility <=> Facility,
    Claim <=> Claim, Sponsor <=> Sponsor, Period <=> Period,
});
wire_enum!(Gender, Gender, { Female <=> Female, Male <=> Male, Other <=> Other });
wire_enum!(PaymentChannel, PaymentChannel, {
    MobileMoney <=> MobileMoney, Cash <=> Cash, Bank <=> Bank, Payroll <=> Payroll,
});
wire_enum!(PremiumSource, PremiumSource, { Wallet <=> Wallet, Direct <=> Direct });
wire_enum!(PolicyStatus, PolicyStatus, {
    Idle <=> Idle, Active <=> Active, Suspended <=> Suspended, Expired <=> Expired,
});
wire_enum!(LineKind, LineKind, { Item <=> Item, Service <=> Service });
wire_enum!(ClaimCategory, ClaimCategory, {
    Surgery <=> Surgery, Delivery <=> Delivery, Antenatal <=> Antenatal,
    Hospitalization <=> Hospitalization, Consultation <=> Consultation, Visit <=> Visit,
});
wire_enum!(DecisionStatus, DecisionStatus, {
    Accepted <=> Accepted, Partial <=> Partial, Rejected <=> Rejected,
});
wire_enum!(PaymentMethod, PaymentMethod, {
    FeeForService <=> FeeForService, Capitation <=> Capitation, Consumption <=> Consumption,
});

impl Wire for StreamId {
    type Pb = pb::StreamRef;

    fn to_pb(&self) -> pb::StreamRef {
        pb::StreamRef {
            kind: self.kind().to_pb(),
            id: self.id().to_owned(),
        }
    }

    fn from_pb(p: pb::StreamRef) -> Result<Self> {
        let kind = StreamKind::from_pb("kind", p.kind)?;
        StreamId::new(kind, p.id).map_err(|e| FieldError::id("id", e))
    }
}

impl Wire for ClaimLine {
    type Pb = pb::ClaimLine;

    fn to_pb(&self) -> pb::ClaimLine {
        pb::ClaimLine {
            line_no: self.line_no,
            kind: self.kind.to_pb(),
            code: self.code.to_string(),
            quantity: self.quantity,
            asked_unit_price: self.asked_unit_price.map(money_to_pb),
        }
    }

    fn from_pb(p: pb::ClaimLine) -> Result<Self> {
        Ok(ClaimLine {
            line_no: p.line_no,
            kind: LineKind::from_pb("kind", p.kind)?,
            code: id_from_pb("code", &p.code)?,
            quantity: p.quantity,
            asked_unit_price: opt_money_from_pb("asked_unit_price", p.asked_unit_price)?,
        })
    }
}

impl Wire for LineDecision {
    type Pb = pb::LineDecision;

    fn to_pb(&self) -> pb::LineDecision {
        pb::LineDecision {
            line_no: self.line_no,
            status: self.status.to_pb(),
            reason_code: self.reason_code,
            approved_quantity: self.approved_quantity,
            unit_price: Some(money_to_pb(self.unit_price)),
            allowed: Some(money_to_pb(self.allowed)),
            payer: Some(money_to_pb(self.payer)),
            copay: Some(money_to_pb(self.copay)),
            deductible: Some(money_to_pb(self.deductible)),
            ceiling_excess: Some(money_to_pb(self.ceiling_excess)),
            product_id: opt_id_to_pb(&self.product_id),
            findings: self.findings.clone(),
            policy_id: opt_id_to_pb(&self.policy_id),
            ceiling_excluded: self.ceiling_excluded,
        }
    }

    fn from_pb(p: pb::LineDecision) -> Result<Self> {
        Ok(LineDecision {
            line_no: p.line_no,
            status: DecisionStatus::from_pb("status", p.status)?,
            reason_code: p.reason_code,
            approved_quantity: p.approved_quantity,
            unit_price: money_from_pb("unit_price", p.unit_price)?,
            allowed: money_from_pb("allowed", p.allowed)?,
            payer: money_from_pb("payer", p.payer)?,
            copay: money_from_pb("copay", p.copay)?,
            deductible: money_from_pb("deductible", p.deductible)?,
            ceiling_excess: money_from_pb("ceiling_excess", p.ceiling_excess)?,
            product_id: opt_id_from_pb("product_id", &p.product_id)?,
            findings: p.findings,
            policy_id: opt_id_from_pb("policy_id", &p.policy_id)?,
            ceiling_excluded: p.ceiling_excluded,
        })
    }
}

impl Wire for StatementLine {
    type Pb = pb::StatementLine;

    fn to_pb(&self) -> pb::StatementLine {
        pb::StatementLine {
            description: self.description.clone(),
            reference: self.reference.clone(),
            quantity: self.quantity,
            amount: Some(money_to_pb(self.amount)),
        }
    }

    fn from_pb(p: pb::StatementLine) -> Result<Self> {
        Ok(StatementLine {
            description: p.description,
            reference: p.reference,
            quantity: p.quantity,
            amount: money_from_pb("amount", p.amount)?,
        })
    }
}

fn list_to_pb<T: Wire>(items: &[T]) -> Vec<T::Pb> {
    items.iter().map(Wire::to_pb).collect()
}

fn list_from_pb<T: Wire>(field: &str, items: Vec<T::Pb>) -> Result<Vec<T>> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, p)| T::from_pb(p).map_err(|e| e.within(&format!("{field}[{i}]"))))
        .collect()
}

impl Wire for Event {
    type Pb = pb::Event;

    fn to_pb(&self) -> pb::Event {
        use pb::event::Body;
        let body = match self {
            Event::SchemePublished(e) => Body::SchemePublished(pb::SchemePublished {
                scheme_id: e.scheme_id.to_string(),
                version: e.version,
                content_sha256: e.content_sha256.to_vec(),
                document: e.document.clone(),
                effective_from: Some(date_to_pb(e.effective_from)),
            }),
            Event::HouseholdRegistered(e) => Body::HouseholdRegistered(pb::HouseholdRegistered {
                household_id: e.household_id.to_string(),
                scheme_id: e.scheme_id.to_string(),
                location_code: e.location_code.clone(),
                socio_economic_category: e.socio_economic_category.clone(),
                registered_on: Some(date_to_pb(e.registered_on)),
            }),
            Event::MemberEnrolled(e) => Body::MemberEnrolled(pb::MemberEnrolled {
                member_id: e.member_id.to_string(),
                household_id: e.household_id.to_string(),
                gender: e.gender.to_pb(),
                birth_date: Some(date_to_pb(e.birth_date)),
                is_head: e.is_head,
                facility_id: opt_id_to_pb(&e.facility_id),
                enrolled_on: Some(date_to_pb(e.enrolled_on)),
            }),
            Event::ContributionReceived(e) => {
                Body::ContributionReceived(pb::ContributionReceived {
                    receipt_id: e.receipt_id.to_string(),
                    household_id: e.household_id.to_string(),
                    member_id: opt_id_to_pb(&e.member_id),
                    amount: Some(money_to_pb(e.amount)),
                    channel: e.channel.to_pb(),
                    received_on: Some(date_to_pb(e.received_on)),
                })
            }
            Event::SponsorContributionReceived(e) => {
                Body::SponsorContributionReceived(pb::SponsorContributionReceived {
                    receipt_id: e.receipt_id.to_string(),
                    sponsor_id: e.sponsor_id.to_string(),
                    household_id: e.household_id.to_string(),
                    amount: Some(money_to_pb(e.amount)),
                    matched_receipt_id: opt_id_to_pb(&e.matched_receipt_id),
                    received_on: Some(date_to_pb(e.received_on)),
                    member_id: opt_id_to_pb(&e.member_id),
                })
            }
            Event::PremiumPaid(e) => Body::PremiumPaid(pb::PremiumPaid {
                receipt_id: e.receipt_id.to_string(),
                policy_id: e.policy_id.to_string(),
                household_id: e.household_id.to_string(),
                product_id: e.product_id.to_string(),
                amount: Some(money_to_pb(e.amount)),
                source: e.source.to_pb(),
                paid_on: Some(date_to_pb(e.paid_on)),
            }),
            Event::CoverageChanged(e) => Body::CoverageChanged(pb::CoverageChanged {
                policy_id: e.policy_id.to_string(),
                household_id: e.household_id.to_string(),
                product_id: e.product_id.to_string(),
                status: e.status.to_pb(),
                effective_from: Some(date_to_pb(e.effective_from)),
                expires_on: Some(date_to_pb(e.expires_on)),
                changed_on: Some(date_to_pb(e.changed_on)),
                period_start: Some(date_to_pb(e.period_start)),
                renewal: e.renewal,
                price: Some(money_to_pb(e.price)),
            }),
            Event::ClaimSubmitted(e) => Body::ClaimSubmitted(pb::ClaimSubmitted {
                claim_id: e.claim_id.to_string(),
                claim_code: e.claim_code.to_string(),
                facility_id: e.facility_id.to_string(),
                member_id: e.member_id.to_string(),
                household_id: e.household_id.to_string(),
                date_from: Some(date_to_pb(e.date_from)),
                date_to: e.date_to.map(date_to_pb),
                claim_date: Some(date_to_pb(e.claim_date)),
                diagnosis_codes: e.diagnosis_codes.iter().map(ToString::to_string).collect(),
                lines: list_to_pb(&e.lines),
            }),
            Event::ClaimAdjudicated(e) => Body::ClaimAdjudicated(pb::ClaimAdjudicated {
                claim_id: e.claim_id.to_string(),
                scheme_id: e.scheme_id.to_string(),
                scheme_version: e.scheme_version,
                scheme_content_sha256: e.scheme_content_sha256.to_vec(),
                decided_on: Some(date_to_pb(e.decided_on)),
                category: e.category.to_pb(),
                status: e.status.to_pb(),
                reason_code: e.reason_code,
                lines: list_to_pb(&e.lines),
                total_allowed: Some(money_to_pb(e.total_allowed)),
                total_payer: Some(money_to_pb(e.total_payer)),
                total_copay: Some(money_to_pb(e.total_copay)),
                decided_on_given: e.decided_on_given,
            }),
            Event::ClaimReviewed(e) => Body::ClaimReviewed(pb::ClaimReviewed {
                claim_id: e.claim_id.to_string(),
                reviewer: e.reviewer.clone(),
                reviewed_on: Some(date_to_pb(e.reviewed_on)),
                lines: list_to_pb(&e.lines),
                comment: e.comment.clone(),
                total_payer: Some(money_to_pb(e.total_payer)),
                total_copay: Some(money_to_pb(e.total_copay)),
                copay_refunded: e.copay_refunded.map(money_to_pb),
            }),
            Event::ClaimReversed(e) => Body::ClaimReversed(pb::ClaimReversed {
                claim_id: e.claim_id.to_string(),
                reason: e.reason.clone(),
                reversed_on: Some(date_to_pb(e.reversed_on)),
                copay_refunded: e.copay_refunded.map(money_to_pb),
            }),
            Event::CopayRecorded(e) => Body::CopayRecorded(pb::CopayRecorded {
                receipt_id: e.receipt_id.to_string(),
                claim_id: e.claim_id.to_string(),
                facility_id: e.facility_id.to_string(),
                member_id: e.member_id.to_string(),
                amount: Some(money_to_pb(e.amount)),
                collected_on: Some(date_to_pb(e.collected_on)),
            }),
            Event::StockVisitRecorded(e) => Body::StockVisitRecorded(pb::StockVisitRecorded {
                facility_id: e.facility_id.to_string(),
                product_code: e.product_code.to_string(),
                visited_on: Some(date_to_pb(e.visited_on)),
                stock_found: e.stock_found,
                losses: e.losses,
                delivered: e.delivered,
                unit_price: Some(money_to_pb(e.unit_price)),
            }),
            Event::PaymentPeriodClosed(e) => Body::PaymentPeriodClosed(pb::PaymentPeriodClosed {
                period_id: e.period_id.to_string(),
                scheme_id: e.scheme_id.to_string(),
                starts_on: Some(date_to_pb(e.starts_on)),
                ends_on: Some(date_to_pb(e.ends_on)),
                closed_on: Some(date_to_pb(e.closed_on)),
            }),
            Event::FacilityStatementIssued(e) => {
                Body::FacilityStatementIssued(pb::FacilityStatementIssued {
                    period_id: e.period_id.to_string(),
                    facility_id: e.facility_id.to_string(),
                    method: e.method.to_pb(),
                    lines: list_to_pb(&e.lines),
                    amount_due: Some(money_to_pb(e.amount_due)),
                    part: e.part,
                    more: e.more,
                })
            }
            Event::FacilityPaid(e) => Body::FacilityPaid(pb::FacilityPaid {
                payout_id: e.payout_id.to_string(),
                facility_id: e.facility_id.to_string(),
                period_id: e.period_id.to_string(),
                amount: Some(money_to_pb(e.amount)),
                channel: e.channel.to_pb(),
                reference: e.reference.clone(),
                paid_on: Some(date_to_pb(e.paid_on)),
            }),
        };
        pb::Event { body: Some(body) }
    }

    fn from_pb(p: pb::Event) -> Result<Self> {
        use pb::event::Body;
        let body = p
            .body
            .ok_or_else(|| FieldError::new("body", "no event kind is set (unknown or missing)"))?;
        let (name, result) = match body {
            Body::SchemePublished(e) => (
                "scheme_published",
                (|| {
                    Ok(Event::SchemePublished(SchemePublished {
                        scheme_id: id_from_pb("scheme_id", &e.scheme_id)?,
                        version: e.version,
                        content_sha256: sha256_from_pb("content_sha256", e.content_sha256)?,
                        document: e.document,
                        effective_from: date_from_pb("effective_from", e.effective_from)?,
                    }))
                })(),
            ),
            Body::HouseholdRegistered(e) => (
                "household_registered",
                (|| {
                    Ok(Event::HouseholdRegistered(HouseholdRegistered {
                        household_id: id_from_pb("household_id", &e.household_id)?,
                        scheme_id: id_from_pb("scheme_id", &e.scheme_id)?,
                        location_code: e.location_code,
                        socio_economic_category: e.socio_economic_category,
                        registered_on: date_from_pb("registered_on", e.registered_on)?,
                    }))
                })(),
            ),
            Body::MemberEnrolled(e) => (
                "member_enrolled",
                (|| {
                    Ok(Event::MemberEnrolled(MemberEnrolled {
                        member_id: id_from_pb("member_id", &e.member_id)?,
                        household_id: id_from_pb("household_id", &e.household_id)?,
                        gender: Gender::from_pb("gender", e.gender)?,
                        birth_date: date_from_pb("birth_date", e.birth_date)?,
                        is_head: e.is_head,
                        facility_id: opt_id_from_pb("facility_id", &e.facility_id)?,
                        enrolled_on: date_from_pb("enrolled_on", e.enrolled_on)?,
                    }))
                })(),
            ),
            Body::ContributionReceived(e) => (
                "contribution_received",
                (|| {
                    Ok(Event::ContributionReceived(ContributionReceived {
                        receipt_id: id_from_pb("receipt_id", &e.receipt_id)?,
                        household_id: id_from_pb("household_id", &e.household_id)?,
                        member_id: opt_id_from_pb("member_id", &e.member_id)?,
                        amount: money_from_pb("amount", e.amount)?,
                        channel: PaymentChannel::from_pb("channel", e.channel)?,
                        received_on: date_from_pb("received_on", e.received_on)?,
                    }))
                })(),
            ),
            Body::SponsorContributionReceived(e) => (
                "sponsor_contribution_received",
                (|| {
                    Ok(Event::SponsorContributionReceived(
                        SponsorContributionReceived {
                            receipt_id: id_from_pb("receipt_id", &e.receipt_id)?,
                            sponsor_id: id_from_pb("sponsor_id", &e.sponsor_id)?,
                            household_id: id_from_pb("household_id", &e.household_id)?,
                            amount: money_from_pb("amount", e.amount)?,
                            matched_receipt_id: opt_id_from_pb(
                                "matched_receipt_id",
                                &e.matched_receipt_id,
                            )?,
                            received_on: date_from_pb("received_on", e.received_on)?,
                            member_id: opt_id_from_pb("member_id", &e.member_id)?,
                        },
                    ))
                })(),
            ),
            Body::PremiumPaid(e) => (
                "premium_paid",
                (|| {
                    Ok(Event::PremiumPaid(PremiumPaid {
                        receipt_id: id_from_pb("receipt_id", &e.receipt_id)?,
                        policy_id: id_from_pb("policy_id", &e.policy_id)?,
                        household_id: id_from_pb("household_id", &e.household_id)?,
                        product_id: id_from_pb("product_id", &e.product_id)?,
                        amount: money_from_pb("amount", e.amount)?,
                        source: PremiumSource::from_pb("source", e.source)?,
                        paid_on: date_from_pb("paid_on", e.paid_on)?,
                    }))
                })(),
            ),
            Body::CoverageChanged(e) => (
                "coverage_changed",
                (|| {
                    Ok(Event::CoverageChanged(CoverageChanged {
                        policy_id: id_from_pb("policy_id", &e.policy_id)?,
                        household_id: id_from_pb("household_id", &e.household_id)?,
                        product_id: id_from_pb("product_id", &e.product_id)?,
                        status: PolicyStatus::from_pb("status", e.status)?,
                        effective_from: date_from_pb("effective_from", e.effective_from)?,
                        expires_on: date_from_pb("expires_on", e.expires_on)?,
                        changed_on: date_from_pb("changed_on", e.changed_on)?,
                        period_start: date_from_pb("period_start", e.period_start)?,
                        renewal: e.renewal,
                        price: money_from_pb("price", e.price)?,
                    }))
                })(),
            ),
            Body::ClaimSubmitted(e) => (
                "claim_submitted",
                (|| {
                    Ok(Event::ClaimSubmitted(ClaimSubmitted {
                        claim_id: id_from_pb("claim_id", &e.claim_id)?,
                        claim_code: id_from_pb("claim_code", &e.claim_code)?,
                        facility_id: id_from_pb("facility_id", &e.facility_id)?,
                        member_id: id_from_pb("member_id", &e.member_id)?,
                        household_id: id_from_pb("household_id", &e.household_id)?,
                        date_from: date_from_pb("date_from", e.date_from)?,
                        date_to: opt_date_from_pb("date_to", e.date_to)?,
                        claim_date: date_from_pb("claim_date", e.claim_date)?,
                        diagnosis_codes: e
                            .diagnosis_codes
                            .iter()
                            .enumerate()
                            .map(|(i, c)| id_from_pb(&format!("diagnosis_codes[{i}]"), c))
                            .collect::<Result<_>>()?,
                        lines: list_from_pb("lines", e.lines)?,
                    }))
                })(),
            ),
            Body::ClaimAdjudicated(e) => (
                "claim_adjudicated",
                (|| {
                    Ok(Event::ClaimAdjudicated(ClaimAdjudicated {
                        claim_id: id_from_pb("claim_id", &e.claim_id)?,
                        scheme_id: id_from_pb("scheme_id", &e.scheme_id)?,
                        scheme_version: e.scheme_version,
                        scheme_content_sha256: sha256_from_pb(
                            "scheme_content_sha256",
                            e.scheme_content_sha256,
                        )?,
                        decided_on: date_from_pb("decided_on", e.decided_on)?,
                        decided_on_given: e.decided_on_given,
                        category: ClaimCategory::from_pb("category", e.category)?,
                        status: DecisionStatus::from_pb("status", e.status)?,
                        reason_code: e.reason_code,
                        lines: list_from_pb("lines", e.lines)?,
                        total_allowed: money_from_pb("total_allowed", e.total_allowed)?,
                        total_payer: money_from_pb("total_payer", e.total_payer)?,
                        total_copay: money_from_pb("total_copay", e.total_copay)?,
                    }))
                })(),
            ),
            Body::ClaimReviewed(e) => (
                "claim_reviewed",
                (|| {
                    Ok(Event::ClaimReviewed(ClaimReviewed {
                        claim_id: id_from_pb("claim_id", &e.claim_id)?,
                        reviewer: e.reviewer,
                        reviewed_on: date_from_pb("reviewed_on", e.reviewed_on)?,
                        lines: list_from_pb("lines", e.lines)?,
                        comment: e.comment,
                        total_payer: money_from_pb("total_payer", e.total_payer)?,
                        total_copay: money_from_pb("total_copay", e.total_copay)?,
                        copay_refunded: opt_money_from_pb("copay_refunded", e.copay_refunded)?,
                    }))
                })(),
            ),
            Body::ClaimReversed(e) => (
                "claim_reversed",
                (|| {
                    Ok(Event::ClaimReversed(ClaimReversed {
                        claim_id: id_from_pb("claim_id", &e.claim_id)?,
                        reason: e.reason,
                        reversed_on: date_from_pb("reversed_on", e.reversed_on)?,
                        copay_refunded: opt_money_from_pb("copay_refunded", e.copay_refunded)?,
                    }))
                })(),
            ),
            Body::CopayRecorded(e) => (
                "copay_recorded",
                (|| {
                    Ok(Event::CopayRecorded(CopayRecorded {
                        receipt_id: id_from_pb("receipt_id", &e.receipt_id)?,
                        claim_id: id_from_pb("claim_id", &e.claim_id)?,
                        facility_id: id_from_pb("facility_id", &e.facility_id)?,
                        member_id: id_from_pb("member_id", &e.member_id)?,
                        amount: money_from_pb("amount", e.amount)?,
                        collected_on: date_from_pb("collected_on", e.collected_on)?,
                    }))
                })(),
            ),
            Body::StockVisitRecorded(e) => (
                "stock_visit_recorded",
                (|| {
                    Ok(Event::StockVisitRecorded(StockVisitRecorded {
                        facility_id: id_from_pb("facility_id", &e.facility_id)?,
                        product_code: id_from_pb("product_code", &e.product_code)?,
                        visited_on: date_from_pb("visited_on", e.visited_on)?,
                        stock_found: e.stock_found,
                        losses: e.losses,
                        delivered: e.delivered,
                        unit_price: money_from_pb("unit_price", e.unit_price)?,
                    }))
                })(),
            ),
            Body::PaymentPeriodClosed(e) => (
                "payment_period_closed",
                (|| {
                    Ok(Event::PaymentPeriodClosed(PaymentPeriodClosed {
                        period_id: id_from_pb("period_id", &e.period_id)?,
                        scheme_id: id_from_pb("scheme_id", &e.scheme_id)?,
                        starts_on: date_from_pb("starts_on", e.starts_on)?,
                        ends_on: date_from_pb("ends_on", e.ends_on)?,
                        closed_on: date_from_pb("closed_on", e.closed_on)?,
                    }))
                })(),
            ),
            Body::FacilityStatementIssued(e) => (
                "facility_statement_issued",
                (|| {
                    Ok(Event::FacilityStatementIssued(FacilityStatementIssued {
                        period_id: id_from_pb("period_id", &e.period_id)?,
                        facility_id: id_from_pb("facility_id", &e.facility_id)?,
                        method: PaymentMethod::from_pb("method", e.method)?,
                        lines: list_from_pb("lines", e.lines)?,
                        amount_due: money_from_pb("amount_due", e.amount_due)?,
                        part: e.part,
                        more: e.more,
                    }))
                })(),
            ),
            Body::FacilityPaid(e) => (
                "facility_paid",
                (|| {
                    Ok(Event::FacilityPaid(FacilityPaid {
                        payout_id: id_from_pb("payout_id", &e.payout_id)?,
                        facility_id: id_from_pb("facility_id", &e.facility_id)?,
                        period_id: id_from_pb("period_id", &e.period_id)?,
                        amount: money_from_pb("amount", e.amount)?,
                        channel: PaymentChannel::from_pb("channel", e.channel)?,
                        reference: e.reference,
                        paid_on: date_from_pb("paid_on", e.paid_on)?,
                    }))
                })(),
            ),
        };
        result.map_err(|e: FieldError| e.within(name))
    }
}

/// The encoded `ledger.v1.Event` of `event`.
pub fn event_bytes(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    encode_event(event, &mut out);
    out
}

/// The stored form of one event, without its chain hash (which lives in the segment framing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub position: u64,
    pub stream: StreamId,
    pub stream_version: u64,
    pub recorded_at_unix_ms: i64,
    pub request_id: RequestId,
    pub event: Event,
}

impl Envelope {
    /// The exact bytes that are stored and hashed.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        encode_envelope(
            self.position,
            &self.stream,
            self.stream_version,
            self.recorded_at_unix_ms,
            &self.request_id,
            &event_bytes(&self.event),
            &mut out,
        );
        out
    }

    /// Decodes stored bytes (the direct decoder, see `decode.rs`).
    pub fn decode(bytes: &[u8]) -> Result<Envelope> {
        decode::decode_envelope(bytes)
    }

    /// Decodes stored bytes with prost, then converts: the reference `decode` is tested against.
    pub fn decode_via_prost(bytes: &[u8]) -> Result<Envelope> {
        let p = pb::RecordedEvent::decode(bytes).map_err(|e| {
            FieldError::new("recorded_event", format!("is not valid protobuf: {e}"))
        })?;
        let stream = p
            .stream
            .ok_or_else(|| FieldError::new("stream", "is required"))
            .and_then(|s| StreamId::from_pb(s).map_err(|e| e.within("stream")))?;
        let event = p
            .event
            .ok_or_else(|| FieldError::new("event", "is required"))
            .and_then(|e| Event::from_pb(e).map_err(|e| e.within("event")))?;
        Ok(Envelope {
            position: p.position,
            stream,
            stream_version: p.stream_version,
            recorded_at_unix_ms: p.recorded_at_unix_ms,
            request_id: id_from_pb("request_id", &p.request_id)?,
            event,
        })
    }
}

/// Encodes the stored bytes of an event (a `ledger.v1.RecordedEvent`) whose body is already
/// encoded (`event_bytes` is an encoded `ledger.v1.Event`, see [`encode_event`]). The result is
/// byte-for-byte what prost produces for the whole message.
pub fn encode_envelope(
    position: u64,
    stream: &StreamId,
    stream_version: u64,
    recorded_at_unix_ms: i64,
    request_id: &RequestId,
    event_bytes: &[u8],
    out: &mut Vec<u8>,
) {
    use prost::encoding::{WireType, encode_key, encode_varint};
    let varint = |out: &mut Vec<u8>, tag: u32, value: u64| {
        if value != 0 {
            encode_key(tag, WireType::Varint, out);
            encode_varint(value, out);
        }
    };
    let delimited = |out: &mut Vec<u8>, tag: u32, bytes: &[u8]| {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    };
    out.reserve(event_bytes.len() + stream.id().len() + request_id.as_str().len() + 48);
    varint(out, 1, position);
    direct::stream(out, 2, stream);
    varint(out, 3, stream_version);
    varint(out, 4, recorded_at_unix_ms as u64);
    if !request_id.as_str().is_empty() {
        delimited(out, 5, request_id.as_str().as_bytes());
    }
    delimited(out, 6, event_bytes);
}
