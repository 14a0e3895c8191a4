//! The gRPC layer: requests to commands and queries, answers and errors to the wire. The only
//! place besides `proto` and `ledger::codec` that knows protobuf types.

use std::pin::Pin;

use ledger::codec::{Wire, date_from_pb, date_to_pb, id_from_pb, money_from_pb, money_to_pb};
use ledger::event::{ClaimLine, Event, Gender, PaymentChannel, PremiumSource};
use ledger::log::EventLog;
use ledger::{Amount, Currency, Date, FieldError, RequestId};
use proto::v1 as pb;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::commands::{Command, Rejection, Subject};
use crate::processor::{CommandError, Receipt, Service};

/// Most events one `ReadEvents` call returns.
pub const READ_EVENTS_MAX: u32 = 100_000;
const READ_EVENTS_DEFAULT: u32 = 1_000;

/// The gRPC services over a command processor.
pub struct Api<L: EventLog> {
    service: Service<L>,
}

impl<L: EventLog> Clone for Api<L> {
    fn clone(&self) -> Self {
        Api {
            service: self.service.clone(),
        }
    }
}

impl<L: EventLog> Api<L> {
    pub fn new(service: Service<L>) -> Self {
        Api { service }
    }
}

fn invalid(e: FieldError) -> Status {
    Status::invalid_argument(e.to_string())
}

/// Maps a rejection to the gRPC code users expect; the message names the field or state.
fn rejection_status(r: &Rejection) -> Status {
    let message = r.to_string();
    match r {
        Rejection::Invalid(_)
        | Rejection::InvalidScheme(_)
        | Rejection::WrongCurrency { .. }
        | Rejection::NotPositive(_)
        | Rejection::InvalidReview { .. }
        | Rejection::Money(_) => Status::invalid_argument(message),
        Rejection::UnknownScheme(_)
        | Rejection::UnknownHousehold(_)
        | Rejection::UnknownMember(_)
        | Rejection::UnknownProduct(_)
        | Rejection::UnknownSponsor(_)
        | Rejection::UnknownClaim(_)
        | Rejection::UnknownFacility(_)
        | Rejection::NoStatement { .. } => Status::not_found(message),
        Rejection::SchemeVersionExists { .. }
        | Rejection::HouseholdExists(_)
        | Rejection::MemberExists(_)
        | Rejection::DuplicateReceipt(_)
        | Rejection::DuplicatePayout(_)
        | Rejection::PeriodClosed(_) => Status::already_exists(message),
        Rejection::MemberOfAnotherHousehold { .. }
        | Rejection::InsufficientWallet { .. }
        | Rejection::PolicyNotPayable(_)
        | Rejection::ClaimState { .. }
        | Rejection::Overpayment { .. } => Status::failed_precondition(message),
    }
}

fn command_status(e: CommandError) -> Status {
    match e {
        CommandError::Rejected(r) => rejection_status(&r),
        CommandError::Unavailable(reason) => Status::unavailable(reason),
    }
}

fn receipt_pb(r: &Receipt) -> pb::CommandReceipt {
    pb::CommandReceipt {
        first_position: r.first_position,
        event_count: r.count,
        already_done: r.already_done,
    }
}

fn request_id(value: &str) -> Result<RequestId, Status> {
    id_from_pb("request_id", value).map_err(invalid)
}

fn id<T: std::str::FromStr<Err = ledger::ids::IdError>>(
    field: &str,
    value: &str,
) -> Result<T, Status> {
    id_from_pb(field, value).map_err(invalid)
}

fn opt_id<T: std::str::FromStr<Err = ledger::ids::IdError>>(
    field: &str,
    value: &str,
) -> Result<Option<T>, Status> {
    if value.is_empty() {
        Ok(None)
    } else {
        id(field, value).map(Some)
    }
}

fn date(field: &str, value: Option<pb::Date>) -> Result<Date, Status> {
    date_from_pb(field, value).map_err(invalid)
}

fn money(field: &str, value: Option<pb::Money>) -> Result<Amount, Status> {
    money_from_pb(field, value).map_err(invalid)
}

fn enumeration<T>(
    field: &str,
    value: i32,
    from: fn(&str, i32) -> Result<T, FieldError>,
) -> Result<T, Status> {
    from(field, value).map_err(invalid)
}

/// Today's date in UTC (the server's business date when a request gives none).
fn today() -> Date {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    Date::from_ymd_opt(1970, 1, 1).unwrap_or(Date::MIN) + chrono::Days::new(days)
}

fn adjudicated_pb(event: &ledger::event::ClaimAdjudicated) -> Option<pb::ClaimAdjudicated> {
    match Event::ClaimAdjudicated(event.clone()).to_pb().body {
        Some(pb::event::Body::ClaimAdjudicated(d)) => Some(d),
        _ => None,
    }
}

impl<L: EventLog> Api<L> {
    async fn execute(&self, request_id_text: &str, command: Command) -> Result<Receipt, Status> {
        let request_id = request_id(request_id_text)?;
        self.service
            .execute(request_id, command)
            .await
            .map_err(command_status)
    }
}

type Result2<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl<L: EventLog> pb::ledger_service_server::LedgerService for Api<L> {
    async fn publish_scheme(
        &self,
        request: Request<pb::PublishSchemeRequest>,
    ) -> Result2<pb::PublishSchemeResponse> {
        let r = request.into_inner();
        let command = Command::PublishScheme {
            document: r.document,
            effective_from: date("effective_from", r.effective_from)?,
        };
        let receipt = self.execute(&r.request_id, command).await?;
        Ok(Response::new(pb::PublishSchemeResponse {
            receipt: Some(receipt_pb(&receipt)),
        }))
    }

    async fn register_household(
        &self,
        request: Request<pb::RegisterHouseholdRequest>,
    ) -> Result2<pb::RegisterHouseholdResponse> {
        let r = request.into_inner();
        let command = Command::RegisterHousehold {
            household_id: id("household_id", &r.household_id)?,
            scheme_id: id("scheme_id", &r.scheme_id)?,
            location_code: r.location_code,
            socio_economic_category: r.socio_economic_category,
            registered_on: date("registered_on", r.registered_on)?,
        };
        let receipt = self.execute(&r.request_id, command).await?;
        Ok(Response::new(pb::RegisterHouseholdResponse {
            receipt: Some(receipt_pb(&receipt)),
        }))
    }

    async fn enroll_member(
        &self,
        request: Request<pb::EnrollMemberRequest>,
    ) -> Result2<pb::EnrollMemberResponse> {
        let r = request.into_inner();
        let command = Command::EnrollMember {
            member_id: id("member_id", &r.member_id)?,
            household_id: id("household_id", &r.household_id)?,
            gender: enumeration("gender", r.gender, Gender::from_pb)?,
            birth_date: date("birth_date", r.birth_date)?,
            is_head: r.is_head,
            facility_id: opt_id("facility_id", &r.facility_id)?,
            enrolled_on: date("enrolled_on", r.enrolled_on)?,
        };
        let receipt = self.execute(&r.request_id, command).await?;
        Ok(Response::new(pb::EnrollMemberResponse {
            receipt: Some(receipt_pb(&receipt)),
        }))
    }

    async fn record_contribution(
        &self,
        request: Request<pb::RecordContributionRequest>,
    ) -> Result2<pb::RecordContributionResponse> {
        let r = request.into_inner();
        let command = Command::RecordContribution {
            receipt_id: id("receipt_id", &r.receipt_id)?,
            household_id: id("household_id", &r.household_id)?,
            member_id: opt_id("member_id", &r.member_id)?,
            amount: money("amount", r.amount)?,
            channel: enumeration("channel", r.channel, PaymentChannel::from_pb)?,
            received_on: date("received_on", r.received_on)?,
        };
        let receipt = self.execute(&r.request_id, command).await?;
        Ok(Response::new(pb::RecordContributionResponse {
            receipt: Some(receipt_pb(&receipt)),
        }))
    }

    async fn pay_premium(
        &self,
        request: Request<pb::PayPremiumRequest>,
    ) -> Result2<pb::PayPremiumResponse> {
        let r = request.into_inner();
        let command = Command::PayPremium {
            receipt_id: id("receipt_id", &r.receipt_id)?,
            household_id: id("household_id", &r.household_id)?,
            product_id: id("product_id", &r.product_id)?,
            amount: money("amount", r.amount)?,
            source: enumeration("source", r.source, PremiumSource::from_pb)?,
            paid_on: date("paid_on", r.paid_on)?,
        };
        let receipt = self.execute(&r.request_id, command).await?;
        let policy_id = match &receipt.subject {
            Subject::Policy(p) => p.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(pb::PayPremiumResponse {
            receipt: Some(receipt_pb(&receipt)),
            policy_id,
        }))
    }

    async fn submit_claim(
        &self,
        request: Request<pb::SubmitClaimRequest>,
    ) -> Result2<pb::SubmitClaimResponse> {
        let r = request.into_inner();
        let lines = r
            .lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                ClaimLine::from_pb(l).map_err(|e| invalid(e.within(&format!("lines[{i}]"))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let command = Command::SubmitClaim {
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
            today: match r.decided_on {
                Some(d) => date("decided_on", Some(d))?,
                None => today(),
            },
        };
        let receipt = self.execute(&r.request_id, command).await?;
        let Subject::Claim(claim_id) = &receipt.subject else {
            return Err(Status::internal("a claim command answered without a claim"));
        };
        let state = self.service.state().await;
        let decision = state
            .projections
            .claims
            .get(claim_id)
            .and_then(|c| c.decision.as_ref())
            .and_then(adjudicated_pb);
        Ok(Response::new(pb::SubmitClaimResponse {
            receipt: Some(receipt_pb(&receipt)),
            claim_id: claim_id.to_string(),
            decision,
        }))
    }
}

#[tonic::async_trait]
impl<L: EventLog> pb::query_service_server::QueryService for Api<L> {
    async fn get_balance(
        &self,
        request: Request<pb::GetBalanceRequest>,
    ) -> Result2<pb::GetBalanceResponse> {
        use pb::get_balance_request::Subject as S;
        use projections::balances::Account;
        let r = request.into_inner();
        let state = self.service.state().await;
        let p = &state.projections;
        let (account, currency) = match r.subject {
            Some(S::HouseholdId(h)) => {
                let household: ledger::ids::HouseholdId = id("household_id", &h)?;
                let currency = p
                    .registry
                    .household_scheme(&household)
                    .map(|s| s.scheme.currency)
                    .ok_or_else(|| {
                        Status::not_found(format!(
                            "household_id: household {household} is not registered"
                        ))
                    })?;
                (Account::Wallet(household), currency)
            }
            Some(S::FacilityId(f)) => {
                let currency: Currency = r
                    .currency_code
                    .parse()
                    .map_err(|e| Status::invalid_argument(format!("currency_code: {e}")))?;
                (Account::FacilityPayable(id("facility_id", &f)?), currency)
            }
            None => {
                return Err(Status::invalid_argument(
                    "subject: give household_id or facility_id",
                ));
            }
        };
        let raw = match r.as_of_date {
            Some(d) => p
                .balances
                .balance_on(&account, currency, date("as_of_date", Some(d))?),
            None => p.balances.balance(&account, currency),
        };
        // Wallets and facility payables are liabilities: shown as positive amounts.
        let shown = Amount::new(raw.minor_units().saturating_neg(), currency);
        Ok(Response::new(pb::GetBalanceResponse {
            balance: Some(money_to_pb(shown)),
            position: p.position(),
        }))
    }

    async fn get_trial_balance(
        &self,
        _request: Request<pb::GetTrialBalanceRequest>,
    ) -> Result2<pb::GetTrialBalanceResponse> {
        let state = self.service.state().await;
        let b = &state.projections.balances;
        Ok(Response::new(pb::GetTrialBalanceResponse {
            totals: b
                .currencies()
                .into_iter()
                .map(|c| pb::get_trial_balance_response::CurrencyTotal {
                    currency_code: c.code().to_owned(),
                    sum_minor_units: b.trial_balance(c).to_string(),
                })
                .collect(),
            position: state.projections.position(),
        }))
    }

    async fn check_eligibility(
        &self,
        request: Request<pb::CheckEligibilityRequest>,
    ) -> Result2<pb::CheckEligibilityResponse> {
        use adjudicator::eligibility::CoverageStatus;
        let r = request.into_inner();
        let member_id: ledger::ids::MemberId = id("member_id", &r.member_id)?;
        let on = date("date", r.date)?;
        let codes = r
            .codes
            .iter()
            .enumerate()
            .map(|(i, c)| id(&format!("codes[{i}]"), c))
            .collect::<Result<Vec<_>, _>>()?;
        let state = self.service.state().await;
        let p = &state.projections;
        let member = p.registry.members.get(&member_id);
        let Some(published) = member.and_then(|m| p.registry.household_scheme(&m.household_id))
        else {
            return Ok(Response::new(pb::CheckEligibilityResponse {
                member_known: false,
                covered: false,
                products: Vec::new(),
            }));
        };
        let scheme = &published.scheme;
        let household_members = member
            .and_then(|m| p.registry.households.get(&m.household_id))
            .map_or(0, |h| h.members.len() as u32);
        let ctx = p.coverage.member_context(
            &member_id,
            member,
            household_members,
            scheme.currency,
            Vec::new(),
        );
        let e = adjudicator::eligibility(&ctx, scheme, on, &codes);
        let products = e
            .products
            .iter()
            .map(|pe| {
                let (status, from) = match pe.status {
                    CoverageStatus::Active => ("ACTIVE", None),
                    CoverageStatus::Waiting { until } => ("WAITING", Some(until)),
                    CoverageStatus::Idle => ("IDLE", None),
                    CoverageStatus::Suspended => ("SUSPENDED", None),
                    CoverageStatus::NotYetEffective { from } => ("NOT_YET_EFFECTIVE", Some(from)),
                    CoverageStatus::Expired { .. } => ("EXPIRED", None),
                };
                pb::ProductEligibility {
                    policy_id: pe.policy_id.to_string(),
                    product_id: pe.product_id.to_string(),
                    status: status.to_owned(),
                    from: from.map(date_to_pb),
                    expires_on: Some(date_to_pb(pe.expires_on)),
                    ceiling_left_member: pe.ceiling_left_outpatient.per_member.map(money_to_pb),
                    ceiling_left_household: pe
                        .ceiling_left_outpatient
                        .per_household
                        .map(money_to_pb),
                    deductible_left_member: pe
                        .deductible_left_outpatient
                        .per_member
                        .map(money_to_pb),
                    counts_left: pe
                        .counts_left
                        .iter()
                        .map(|(c, left)| pb::CountLeft {
                            category: c.to_pb(),
                            left: *left,
                        })
                        .collect(),
                    items: pe
                        .items
                        .iter()
                        .map(|i| pb::ItemLeft {
                            code: i.code.to_string(),
                            reason_code: i.reason_code,
                            quantity_left: i.quantity_left,
                        })
                        .collect(),
                }
            })
            .collect();
        Ok(Response::new(pb::CheckEligibilityResponse {
            member_known: e.member_known,
            covered: e.covered,
            products,
        }))
    }

    async fn get_claim(
        &self,
        request: Request<pb::GetClaimRequest>,
    ) -> Result2<pb::GetClaimResponse> {
        let r = request.into_inner();
        let claim_id: ledger::ids::ClaimId = id("claim_id", &r.claim_id)?;
        let state = self.service.state().await;
        let c = state.projections.claims.get(&claim_id).ok_or_else(|| {
            Status::not_found(format!("claim_id: claim {claim_id} does not exist"))
        })?;
        let claim = match Event::ClaimSubmitted(c.submitted.clone()).to_pb().body {
            Some(pb::event::Body::ClaimSubmitted(s)) => Some(s),
            _ => None,
        };
        Ok(Response::new(pb::GetClaimResponse {
            claim,
            decision: c.decision.as_ref().and_then(adjudicated_pb),
            status: format!("{:?}", c.status).to_uppercase(),
            total_payer: c.total_payer.map(money_to_pb),
            total_copay: c.total_copay.map(money_to_pb),
        }))
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::StoredEvent, Status>> + Send>>;

#[tonic::async_trait]
impl<L: EventLog> pb::audit_service_server::AuditService for Api<L> {
    type ReadEventsStream = EventStream;

    async fn read_events(
        &self,
        request: Request<pb::ReadEventsRequest>,
    ) -> Result2<Self::ReadEventsStream> {
        let r = request.into_inner();
        let limit = match r.limit {
            0 => READ_EVENTS_DEFAULT,
            n if n > READ_EVENTS_MAX => {
                return Err(Status::invalid_argument(format!(
                    "limit: {n} is above the maximum {READ_EVENTS_MAX}"
                )));
            }
            n => n,
        };
        let events = self
            .service
            .log()
            .read(r.from_position, limit as usize)
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let stored: Vec<Result<pb::StoredEvent, Status>> = events
            .into_iter()
            .map(|e| {
                Ok(pb::StoredEvent {
                    event: Some(pb::RecordedEvent {
                        position: e.position,
                        stream: Some(e.stream.to_pb()),
                        stream_version: e.stream_version,
                        recorded_at_unix_ms: e.recorded_at_unix_ms,
                        request_id: e.request_id.to_string(),
                        event: Some(e.event.to_pb()),
                    }),
                    hash: e.hash.to_vec(),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(stored))))
    }

    async fn verify_log(
        &self,
        request: Request<pb::VerifyLogRequest>,
    ) -> Result2<pb::VerifyLogResponse> {
        let r = request.into_inner();
        let log = self.service.log();
        let head = log.head().next_position;
        let to = if r.to_position == 0 {
            head
        } else {
            r.to_position
        };
        let report = log
            .verify(r.from_position, to)
            .await
            .map_err(|e| Status::invalid_argument(format!("to_position: {e}")))?;
        Ok(Response::new(pb::VerifyLogResponse {
            ok: report.is_ok(),
            first_bad_position: report.first_bad.as_ref().map(|(p, _)| *p),
            reason: report.first_bad.map(|(_, r)| r).unwrap_or_default(),
            last_hash: report.last_hash.to_vec(),
            head_position: head,
        }))
    }
}
