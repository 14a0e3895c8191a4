//! The gRPC layer: requests to commands and queries, answers and errors to the wire. The only
//! place besides `proto` and `ledger::codec` that knows protobuf types.

use std::pin::Pin;

use ledger::codec::{Wire, date_to_pb, money_to_pb};
use ledger::event::{Event, StatementLine};
use ledger::log::EventLog;
use ledger::{Amount, Currency, Date};
use proto::v1 as pb;
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status};

use crate::api::auth::{Caller, own_facility};
use crate::api::requests::{self, date, id, opt_id, request_id};
use crate::api::status::{error, internal};
use crate::command::{Command, Rejection, Subject};
use crate::partitioned::Ledger;
use crate::processor::{CommandError, Executed, Receipt, State};
use crate::tools::transfer::stored_pb;
use ledger::partition::Partition;
use projections::canonical::Canonicals;
use projections::claims::ClaimRecord;
use projections::claims::detail::ClaimDetail;
use projections::payments::Statement;
use tokio::sync::RwLockReadGuard;

use crate::api::history;

/// Most events one `ReadEvents` call returns.
pub const READ_EVENTS_MAX: u32 = 100_000;
const READ_EVENTS_DEFAULT: u32 = 1_000;
/// Events `ReadEvents` reads from the log at a time while it streams them.
const READ_EVENTS_CHUNK: usize = 1_000;
/// Most events one `VerifyLog` call checks; a longer log is verified in ranges (and in full
/// by `claims-ledger verify` on a stopped server).
pub const VERIFY_EVENTS_MAX: u64 = 1 << 20;
/// Most events `GetProjectionDigest` rebuilds from position 0 inside one call.
pub const REBUILD_EVENTS_MAX: u64 = 1 << 20;
/// Most claims of one `SubmitClaims` batch in flight at once (a task each); the next ones
/// start as these are answered. As many as the command writer decides together.
pub const SUBMIT_CLAIMS_IN_FLIGHT: usize = crate::processor::BATCH_COMMANDS_MAX;
/// Most `SubscribeEvents` streams open at once; more are RESOURCE_EXHAUSTED.
pub const SUBSCRIPTIONS_MAX: usize = 256;

/// The gRPC services over the ledger's partitions.
pub struct Api<L: EventLog> {
    ledger: Ledger<L>,
    /// Becomes true when the server is stopping: open subscriptions end, so a graceful
    /// shutdown does not wait for them forever.
    stopping: tokio::sync::watch::Receiver<bool>,
    /// One permit per open subscription (`SUBSCRIPTIONS_MAX`).
    subscriptions: std::sync::Arc<tokio::sync::Semaphore>,
}

impl<L: EventLog> Clone for Api<L> {
    fn clone(&self) -> Self {
        Api {
            ledger: self.ledger.clone(),
            stopping: self.stopping.clone(),
            subscriptions: self.subscriptions.clone(),
        }
    }
}

impl<L: EventLog> Api<L> {
    pub fn ledger(&self) -> &Ledger<L> {
        &self.ledger
    }

    pub fn new(ledger: Ledger<L>, stopping: tokio::sync::watch::Receiver<bool>) -> Self {
        Api {
            ledger,
            stopping,
            subscriptions: std::sync::Arc::new(tokio::sync::Semaphore::new(SUBSCRIPTIONS_MAX)),
        }
    }
}

/// The caller the server's gate authenticated (see `server::GateLayer`). A request that did
/// not pass the gate has none and is refused.
fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| {
            error(
                Code::Unauthenticated,
                "UNAUTHENTICATED",
                "authorization",
                "authorization: the request has no caller",
            )
        })
}

/// Maps a rejection to the gRPC code users expect, with its reason and field in the details.
fn rejection_status(r: &Rejection) -> Status {
    let code = match r {
        Rejection::Invalid(_)
        | Rejection::InvalidScheme(_)
        | Rejection::WrongCurrency { .. }
        | Rejection::NotPositive(_)
        | Rejection::InvalidReview { .. }
        | Rejection::Money(_) => Code::InvalidArgument,
        Rejection::UnknownScheme(_)
        | Rejection::UnknownHousehold(_)
        | Rejection::UnknownMember(_)
        | Rejection::UnknownProduct(_)
        | Rejection::UnknownSponsor(_)
        | Rejection::UnknownClaim(_)
        | Rejection::UnknownFacility(_)
        | Rejection::NoStatement { .. } => Code::NotFound,
        Rejection::SchemeVersionExists { .. }
        | Rejection::HouseholdExists(_)
        | Rejection::MemberExists(_)
        | Rejection::DuplicateReceipt(_)
        | Rejection::DuplicatePayout(_)
        | Rejection::PeriodClosed(_)
        | Rejection::RequestIdReused(_) => Code::AlreadyExists,
        Rejection::MemberOfAnotherHousehold { .. }
        | Rejection::InsufficientWallet { .. }
        | Rejection::PolicyNotPayable(_)
        | Rejection::ClaimState { .. }
        | Rejection::ClaimClosed(_)
        | Rejection::SchemeNotInForce { .. }
        | Rejection::SchemeVersionOutOfOrder { .. }
        | Rejection::StatementIncomplete { .. }
        | Rejection::Overpayment { .. } => Code::FailedPrecondition,
    };
    error(code, r.reason(), &r.field(), r.to_string())
}

fn command_status(e: CommandError) -> Status {
    match e {
        CommandError::Rejected(r) => rejection_status(&r),
        CommandError::Unavailable(reason) => error(Code::Unavailable, "UNAVAILABLE", "", reason),
    }
}

fn receipt_pb(r: &Receipt) -> pb::CommandReceipt {
    pb::CommandReceipt {
        first_position: r.first_position,
        event_count: r.count,
        already_done: r.already_done,
        partition: r.partition,
    }
}

/// Today's date in UTC (the server's business date when a request gives none).
fn today() -> Date {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    Date::from_ymd_opt(1970, 1, 1).unwrap_or(Date::MIN) + chrono::Days::new(days)
}

/// The business date a claim is decided on: the server's, unless an admin or insurer token
/// gives one (an offline import of claims decided elsewhere). A facility never chooses the
/// date its own claim is decided on (it would choose the payment period and the waiting
/// periods that apply).
fn decision_date(caller: &Caller, decided_on: Option<pb::Date>) -> Result<(Date, bool), Status> {
    match decided_on {
        None => Ok((today(), false)),
        Some(_) if caller.facility().is_some() => Err(error(
            Code::PermissionDenied,
            "DECIDED_ON_NOT_ALLOWED",
            "decided_on",
            "decided_on: a facility's claims are decided on the server's date; only admin \
             and insurer tokens may give one",
        )),
        Some(d) => Ok((date("decided_on", Some(d))?, true)),
    }
}

fn adjudicated_pb(event: &ledger::event::ClaimAdjudicated) -> Option<pb::ClaimAdjudicated> {
    match Event::ClaimAdjudicated(event.clone()).to_pb().body {
        Some(pb::event::Body::ClaimAdjudicated(d)) => Some(d),
        _ => None,
    }
}

impl<L: EventLog> Api<L> {
    async fn execute(&self, request_id_text: &str, command: Command) -> Result<Receipt, Status> {
        self.execute_with_events(request_id_text, command)
            .await
            .map(|e| e.receipt)
    }

    async fn execute_with_events(
        &self,
        request_id_text: &str,
        command: Command,
    ) -> Result<Executed, Status> {
        let request_id = request_id(request_id_text)?;
        self.ledger
            .execute_with_events(request_id, command)
            .await
            .map_err(command_status)
    }

    /// A partition's projections for a query (`Ledger::read`).
    async fn read(&self, partition: Partition) -> Result<RwLockReadGuard<'_, State>, Status> {
        self.ledger.read(partition).await.map_err(command_status)
    }

    /// The projections of the partition a command's events are in.
    async fn read_at(&self, receipt: &Receipt) -> Result<RwLockReadGuard<'_, State>, Status> {
        self.read(self.partition_of(receipt)).await
    }

    fn partition_of(&self, receipt: &Receipt) -> Partition {
        self.ledger
            .partitions()
            .get(receipt.partition)
            .unwrap_or(Partition::FIRST)
    }

    /// A claim in full: its record from the partition's projections, its history from the
    /// partition's log (read after the projections are let go). None when it is unknown.
    async fn claim_detail(
        &self,
        partition: Partition,
        claim: &ledger::ids::ClaimId,
    ) -> Result<Option<ClaimDetail>, Status> {
        let Some(record) = self.read(partition).await?.claim(claim).map_err(internal)? else {
            return Ok(None);
        };
        let log = self.ledger.service(partition).log();
        history::detail(log, record)
            .await
            .map(Some)
            .map_err(internal)
    }

    /// A page of a statement of `facility`: `max` lines from line `from`, read from the
    /// facility's partition's log.
    async fn statement_page(
        &self,
        facility: &ledger::ids::FacilityId,
        period: &ledger::ids::PeriodId,
        s: &Statement,
        from: u64,
        max: usize,
    ) -> Result<pb::FacilityStatement, Status> {
        let log = self
            .ledger
            .service(self.ledger.facility_partition(facility))
            .log();
        let lines = history::statement_lines(log, s, from, max)
            .await
            .map_err(internal)?;
        Ok(statement_page_pb(facility, period, s, from, &lines))
    }

    /// Every partition's projections, in partition order.
    async fn read_all(&self) -> Result<Vec<RwLockReadGuard<'_, State>>, Status> {
        self.ledger.read_all().await.map_err(command_status)
    }

    /// Where each partition recorded `period`'s close (its cut), in partition order.
    async fn close_cut(&self, period: &ledger::ids::PeriodId) -> Result<Vec<u64>, Status> {
        let mut cut = Vec::new();
        for state in self.read_all().await? {
            if let Some(p) = state.projections.payments.periods.get(period) {
                cut.push(p.closed_at);
            }
        }
        Ok(cut)
    }

    /// The partition an audit request names.
    fn partition(&self, partition: u32) -> Result<Partition, Status> {
        self.ledger.partitions().get(partition).ok_or_else(|| {
            crate::api::status::invalid(
                "partition",
                format!(
                    "partition: {partition} is not below the ledger's {} partitions",
                    self.ledger.partitions()
                ),
            )
        })
    }
}

type Result2<T> = Result<Response<T>, Status>;

/// Default and maximum page sizes of list RPCs.
pub const PAGE_SIZE_DEFAULT: u32 = 50;
pub const PAGE_SIZE_MAX: u32 = 1_000;
/// Most claims in one `SubmitClaims` batch.
pub const SUBMIT_CLAIMS_MAX: usize = 10_000;
/// Events buffered per subscription before the subscriber must read.
pub const SUBSCRIPTION_BUFFER_EVENTS: usize = 1024;

fn page_size(n: u32) -> Result<usize, Status> {
    match n {
        0 => Ok(PAGE_SIZE_DEFAULT as usize),
        n if n > PAGE_SIZE_MAX => Err(crate::api::status::invalid(
            "page_size",
            format!("page_size: {n} is above the maximum {PAGE_SIZE_MAX}"),
        )),
        n => Ok(n as usize),
    }
}

#[allow(deprecated)] // fills the deprecated text status too, for older clients
fn claim_pb(detail: &ClaimDetail) -> pb::GetClaimResponse {
    let claim = match Event::ClaimSubmitted(detail.submitted.clone()).to_pb().body {
        Some(pb::event::Body::ClaimSubmitted(s)) => Some(s),
        _ => None,
    };
    let c = &detail.record;
    pb::GetClaimResponse {
        claim,
        decision: detail.decision.as_ref().and_then(adjudicated_pb),
        status: format!("{:?}", c.status).to_uppercase(),
        claim_status: claim_status_pb(c.status) as i32,
        total_payer: c.total_payer.map(money_to_pb),
        total_copay: c.total_copay.map(money_to_pb),
        copay_paid: c
            .total_copay
            .map(|due| money_to_pb(c.copay_paid.unwrap_or(Amount::zero(due.currency())))),
        copay_outstanding: c.copay_outstanding().map(money_to_pb),
    }
}

fn claim_status_pb(s: projections::claims::ClaimStatus) -> pb::ClaimStatus {
    use projections::claims::ClaimStatus as S;
    match s {
        S::Submitted => pb::ClaimStatus::Submitted,
        S::Accepted => pb::ClaimStatus::Accepted,
        S::Partial => pb::ClaimStatus::Partial,
        S::Rejected => pb::ClaimStatus::Rejected,
        S::Reversed => pb::ClaimStatus::Reversed,
    }
}

/// Lines of a statement in one answer, unless a page size is asked for.
pub const STATEMENT_LINES_PAGE_DEFAULT: usize = 1_000;
/// Most lines of a statement in one answer.
pub const STATEMENT_LINES_PAGE_MAX: u32 = 5_000;

/// A statement with `lines`, its lines from line `from` (0-based), and the token of the rest.
fn statement_page_pb(
    facility: &ledger::ids::FacilityId,
    period: &ledger::ids::PeriodId,
    s: &Statement,
    from: u64,
    lines: &[StatementLine],
) -> pb::FacilityStatement {
    let end = from.saturating_add(lines.len() as u64);
    pb::FacilityStatement {
        facility_id: facility.to_string(),
        period_id: period.to_string(),
        method: s.method.to_pb(),
        lines: lines.iter().map(Wire::to_pb).collect(),
        amount_due: Some(money_to_pb(s.due)),
        paid: Some(money_to_pb(s.paid)),
        outstanding: Some(money_to_pb(s.outstanding())),
        complete: !s.more,
        line_count: u32::try_from(s.line_count()).unwrap_or(u32::MAX),
        next_line_page_token: if end < s.line_count() {
            format!("line:{end}")
        } else {
            String::new()
        },
    }
}

/// The first line a statement page token names ("line:<n>", n within the statement).
fn line_page_start(token: &str, lines: u64) -> Result<u64, Status> {
    if token.is_empty() {
        return Ok(0);
    }
    token
        .strip_prefix("line:")
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| (1..lines).contains(n))
        .ok_or_else(|| {
            crate::api::status::invalid(
                "line_page_token",
                format!("line_page_token: {token:?} is not a token this statement issued"),
            )
        })
}

/// The lines each facility's statement got from `events` (a close call's), by facility in
/// the order issued.
fn issued_statements(events: &[Event]) -> Vec<(ledger::ids::FacilityId, Vec<&StatementLine>)> {
    let mut issued: Vec<(ledger::ids::FacilityId, Vec<&StatementLine>)> = Vec::new();
    for e in events {
        let Event::FacilityStatementIssued(s) = e else {
            continue;
        };
        match issued.last_mut() {
            Some((facility, lines)) if *facility == s.facility_id => lines.extend(&s.lines),
            _ => issued.push((s.facility_id.clone(), s.lines.iter().collect())),
        }
    }
    issued
}

fn digest_pb(d: &projections::Digests) -> pb::ProjectionDigest {
    pb::ProjectionDigest {
        position: d.position,
        combined: d.combined().to_vec(),
        registry: d.registry.to_vec(),
        balances: d.balances.to_vec(),
        coverage: d.coverage.to_vec(),
        claims: d.claims.to_vec(),
        payments: d.payments.to_vec(),
    }
}

#[tonic::async_trait]
impl<L: EventLog> pb::ledger_service_server::LedgerService for Api<L> {
    async fn publish_scheme(
        &self,
        request: Request<pb::PublishSchemeRequest>,
    ) -> Result2<pb::PublishSchemeResponse> {
        let r = request.into_inner();
        let command = requests::publish_scheme(&r)?;
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
        let command = requests::register_household(&r)?;
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
        let command = requests::enroll_member(&r)?;
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
        let command = requests::record_contribution(&r)?;
        let Command::RecordContribution {
            household_id,
            received_on,
            ..
        } = &command
        else {
            return Err(internal("a contribution request made another command"));
        };
        let (household_id, received_on) = (household_id.clone(), *received_on);
        let executed = self.execute_with_events(&r.request_id, command).await?;
        let events = self
            .recorded_events(executed.receipt.clone(), executed.events)
            .await?;
        let states = self.read_all().await?;
        let partitions: Vec<_> = states.iter().map(|s| &s.projections).collect();
        let own = partitions[self.partition_of(&executed.receipt).index()];
        Ok(Response::new(pb::RecordContributionResponse {
            receipt: Some(receipt_pb(&executed.receipt)),
            sponsors: crate::api::sponsors::shares(
                own,
                &partitions,
                &household_id,
                received_on,
                &events,
            ),
        }))
    }

    async fn pay_premium(
        &self,
        request: Request<pb::PayPremiumRequest>,
    ) -> Result2<pb::PayPremiumResponse> {
        let r = request.into_inner();
        let command = requests::pay_premium(&r)?;
        let receipt = self.execute(&r.request_id, command).await?;
        let Subject::Policy(policy_id) = &receipt.subject else {
            return Err(internal("a premium answered without a policy"));
        };
        let state = self.read_at(&receipt).await?;
        let policy = state.projections.coverage.policies.get(policy_id);
        let active = policy.filter(|p| p.current().status != ledger::event::PolicyStatus::Idle);
        Ok(Response::new(pb::PayPremiumResponse {
            receipt: Some(receipt_pb(&receipt)),
            policy_id: policy_id.to_string(),
            period_start: policy.map(|p| date_to_pb(p.period_start)),
            effective_from: active.map(|p| date_to_pb(p.current().effective_from)),
            expires_on: policy.map(|p| date_to_pb(p.current().expires_on)),
            outstanding: policy.map(|p| money_to_pb(p.outstanding())),
        }))
    }

    async fn submit_claim(
        &self,
        request: Request<pb::SubmitClaimRequest>,
    ) -> Result2<pb::SubmitClaimResponse> {
        let caller = caller(&request)?;
        self.submit(request.into_inner(), &caller)
            .await
            .map(Response::new)
    }

    async fn submit_claims(
        &self,
        request: Request<pb::SubmitClaimsRequest>,
    ) -> Result2<pb::SubmitClaimsResponse> {
        let caller = caller(&request)?;
        let r = request.into_inner();
        own_facility(&caller, "facility_id", &id("facility_id", &r.facility_id)?)?;
        if r.claims.len() > SUBMIT_CLAIMS_MAX {
            return Err(crate::api::status::invalid(
                "claims",
                format!(
                    "claims: {} claims, the maximum per batch is {SUBMIT_CLAIMS_MAX}",
                    r.claims.len()
                ),
            ));
        }
        // Submitted concurrently, so the command writer batches them (one fsync for many), at
        // most `SUBMIT_CLAIMS_IN_FLIGHT` at a time, answered in order.
        let mut results = Vec::with_capacity(r.claims.len());
        let mut claims = r.claims.into_iter().enumerate().peekable();
        while claims.peek().is_some() {
            let mut tasks = Vec::with_capacity(SUBMIT_CLAIMS_IN_FLIGHT);
            for (i, claim) in claims.by_ref().take(SUBMIT_CLAIMS_IN_FLIGHT) {
                if claim.facility_id != r.facility_id {
                    let field = format!("claims[{i}].facility_id");
                    let status = crate::api::status::invalid(
                        &field,
                        format!(
                            "{field}: {:?} is not the batch's facility {:?}",
                            claim.facility_id, r.facility_id
                        ),
                    );
                    tasks.push(tokio::spawn(async move { Err(status) }));
                    continue;
                }
                let api = self.clone();
                let caller = caller.clone();
                tasks.push(tokio::spawn(
                    async move { api.submit(claim, &caller).await },
                ));
            }
            for task in tasks {
                let result = task
                    .await
                    .unwrap_or_else(|e| Err(internal(format!("claim task failed: {e}"))));
                results.push(match result {
                    Ok(response) => pb::SubmitClaimResult {
                        response: Some(response),
                        ..Default::default()
                    },
                    Err(status) => {
                        let info = tonic_types::StatusExt::get_details_error_info(&status);
                        pb::SubmitClaimResult {
                            response: None,
                            code: status.code() as i32,
                            message: status.message().to_owned(),
                            reason: info.as_ref().map(|i| i.reason.clone()).unwrap_or_default(),
                            field: info
                                .and_then(|mut i| i.metadata.remove("field"))
                                .unwrap_or_default(),
                        }
                    }
                });
            }
        }
        Ok(Response::new(pb::SubmitClaimsResponse { results }))
    }

    async fn review_claim(
        &self,
        request: Request<pb::ReviewClaimRequest>,
    ) -> Result2<pb::ReviewClaimResponse> {
        let r = request.into_inner();
        let claim_id: ledger::ids::ClaimId = id("claim_id", &r.claim_id)?;
        let command = requests::review_claim(&r)?;
        let receipt = self.execute(&r.request_id, command).await?;
        let claim = self
            .claim_detail(self.partition_of(&receipt), &claim_id)
            .await?;
        Ok(Response::new(pb::ReviewClaimResponse {
            receipt: Some(receipt_pb(&receipt)),
            claim: claim.as_ref().map(claim_pb),
        }))
    }

    async fn reverse_claim(
        &self,
        request: Request<pb::ReverseClaimRequest>,
    ) -> Result2<pb::ReverseClaimResponse> {
        let r = request.into_inner();
        let command = requests::reverse_claim(&r)?;
        let receipt = self.execute(&r.request_id, command).await?;
        Ok(Response::new(pb::ReverseClaimResponse {
            receipt: Some(receipt_pb(&receipt)),
        }))
    }

    async fn record_copayment(
        &self,
        request: Request<pb::RecordCopaymentRequest>,
    ) -> Result2<pb::RecordCopaymentResponse> {
        let r = request.into_inner();
        let command = requests::record_copayment(&r)?;
        let receipt = self.execute(&r.request_id, command).await?;
        Ok(Response::new(pb::RecordCopaymentResponse {
            receipt: Some(receipt_pb(&receipt)),
        }))
    }

    async fn record_stock_visit(
        &self,
        request: Request<pb::RecordStockVisitRequest>,
    ) -> Result2<pb::RecordStockVisitResponse> {
        let r = request.into_inner();
        let facility_id: ledger::ids::FacilityId = id("facility_id", &r.facility_id)?;
        let product_code: ledger::ids::Code = id("product_code", &r.product_code)?;
        let command = requests::record_stock_visit(&r)?;
        let receipt = self.execute(&r.request_id, command).await?;
        let state = self.read_at(&receipt).await?;
        let p = &state.projections;
        let months = p.months_of_stock(&facility_id, &product_code);
        let stock = p.payments.stock.get(&(facility_id, product_code));
        let consumed = stock.and_then(|s| s.visits.last()).and_then(|v| v.consumed);
        let amount_owed = match (stock, consumed) {
            (Some(s), Some(c)) => i64::try_from(c)
                .ok()
                .and_then(|c| s.unit_price.checked_mul(c).ok())
                .map(money_to_pb),
            _ => None,
        };
        Ok(Response::new(pb::RecordStockVisitResponse {
            receipt: Some(receipt_pb(&receipt)),
            consumed,
            suggested_top_up: stock.map_or(0, |s| s.suggested_top_up(months)),
            amount_owed,
        }))
    }

    async fn close_payment_period(
        &self,
        request: Request<pb::ClosePaymentPeriodRequest>,
    ) -> Result2<pb::ClosePaymentPeriodResponse> {
        let r = request.into_inner();
        let period_id: ledger::ids::PeriodId = id("period_id", &r.period_id)?;
        let scheme_id: ledger::ids::SchemeId = id("scheme_id", &r.scheme_id)?;
        let command = requests::close_payment_period(&r)?;
        // A retry answers with what its first call recorded (the ledger reads it back).
        let Executed { receipt, events } = self.execute_with_events(&r.request_id, command).await?;
        let mut statements = Vec::new();
        for (facility, lines) in issued_statements(&events) {
            let state = self.read(self.ledger.facility_partition(&facility)).await?;
            let key = (facility.clone(), period_id.clone());
            if let Some(s) = state.projections.payments.statements.get(&key) {
                let mut statement = statement_page_pb(&facility, &period_id, s, 0, &[]);
                // The lines this call added (bounded by the call's budget), not a page.
                statement.lines = lines.iter().map(|l| l.to_pb()).collect();
                statements.push(statement);
            }
        }
        let facilities: Vec<ledger::ids::FacilityId> = self
            .read(Partition::FIRST)
            .await?
            .projections
            .registry
            .scheme(&scheme_id)
            .map(|published| published.scheme.facilities.keys().cloned().collect())
            .unwrap_or_default();
        let mut facilities_pending = 0u32;
        for facility in &facilities {
            let state = self.read(self.ledger.facility_partition(facility)).await?;
            if !state
                .projections
                .payments
                .statement_complete(facility, &period_id)
            {
                facilities_pending += 1;
            }
        }
        let cut = self.close_cut(&period_id).await?;
        Ok(Response::new(pb::ClosePaymentPeriodResponse {
            receipt: Some(receipt_pb(&receipt)),
            statements,
            facilities_pending,
            cut,
        }))
    }

    async fn record_facility_payout(
        &self,
        request: Request<pb::RecordFacilityPayoutRequest>,
    ) -> Result2<pb::RecordFacilityPayoutResponse> {
        let r = request.into_inner();
        let facility_id: ledger::ids::FacilityId = id("facility_id", &r.facility_id)?;
        let period_id: ledger::ids::PeriodId = id("period_id", &r.period_id)?;
        let command = requests::record_facility_payout(&r)?;
        let receipt = self.execute(&r.request_id, command).await?;
        let found = self
            .read_at(&receipt)
            .await?
            .projections
            .payments
            .statements
            .get(&(facility_id.clone(), period_id.clone()))
            .cloned();
        let statement = match found {
            Some(s) => Some(
                self.statement_page(
                    &facility_id,
                    &period_id,
                    &s,
                    0,
                    STATEMENT_LINES_PAGE_DEFAULT,
                )
                .await?,
            ),
            None => None,
        };
        Ok(Response::new(pb::RecordFacilityPayoutResponse {
            receipt: Some(receipt_pb(&receipt)),
            statement,
        }))
    }
}

impl<L: EventLog> Api<L> {
    /// The events a command appended: `events` as executed, or, for a retry answered with its
    /// first receipt, read back from the log.
    async fn recorded_events(
        &self,
        receipt: Receipt,
        events: Vec<Event>,
    ) -> Result<Vec<Event>, Status> {
        if !(receipt.already_done && events.is_empty()) {
            return Ok(events);
        }
        Ok(self
            .ledger
            .service(self.partition_of(&receipt))
            .log()
            .read(receipt.first_position, receipt.count as usize)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?
            .into_iter()
            .map(|e| e.event)
            .collect())
    }

    /// Submits one claim (SubmitClaim, and each claim of SubmitClaims).
    async fn submit(
        &self,
        r: pb::SubmitClaimRequest,
        caller: &Caller,
    ) -> Result<pb::SubmitClaimResponse, Status> {
        let facility_id = id("facility_id", &r.facility_id)?;
        own_facility(caller, "facility_id", &facility_id)?;
        let (today, today_given) = decision_date(caller, r.decided_on)?;
        let command = requests::submit_claim(&r, today, today_given)?;
        let Executed { receipt, events } = self.execute_with_events(&r.request_id, command).await?;
        let Subject::Claim(claim_id) = &receipt.subject else {
            return Err(internal("a claim command answered without a claim"));
        };
        // The decision is among the events just appended; a retry or resubmission reads it
        // from the projections.
        let decision = match events.iter().find_map(|e| match e {
            Event::ClaimAdjudicated(d) => Some(d),
            _ => None,
        }) {
            Some(d) => adjudicated_pb(d),
            None => self
                .claim_detail(self.partition_of(&receipt), claim_id)
                .await?
                .and_then(|c| c.decision.as_ref().and_then(adjudicated_pb)),
        };
        Ok(pb::SubmitClaimResponse {
            receipt: Some(receipt_pb(&receipt)),
            claim_id: claim_id.to_string(),
            decision,
        })
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
        // A wallet is in its household's partition; a facility's payable is the sum of its
        // parts in every partition (its claims are in their households' partitions).
        let states = match &r.subject {
            Some(S::HouseholdId(h)) => {
                let household: ledger::ids::HouseholdId = id("household_id", h)?;
                vec![
                    self.read(self.ledger.household_partition(&household))
                        .await?,
                ]
            }
            _ => self.read_all().await?,
        };
        let p = &states[0].projections;
        let (account, currency) = match r.subject {
            Some(S::HouseholdId(h)) => {
                let household: ledger::ids::HouseholdId = id("household_id", &h)?;
                let currency = p
                    .registry
                    .household_scheme(&household)
                    .map(|s| s.scheme.currency)
                    .ok_or_else(|| {
                        rejection_status(&Rejection::UnknownHousehold(household.clone()))
                    })?;
                // Optional for a wallet (its scheme's currency); when given, checked as
                // strictly as for a facility.
                if !r.currency_code.is_empty() {
                    let given: Currency = r.currency_code.parse().map_err(|e| {
                        crate::api::status::invalid("currency_code", format!("currency_code: {e}"))
                    })?;
                    if given != currency {
                        return Err(crate::api::status::invalid(
                            "currency_code",
                            format!("currency_code: the wallet is kept in {currency}, not {given}"),
                        ));
                    }
                }
                (Account::Wallet(household), currency)
            }
            Some(S::FacilityId(f)) => {
                let currency: Currency = r.currency_code.parse().map_err(|e| {
                    crate::api::status::invalid("currency_code", format!("currency_code: {e}"))
                })?;
                (Account::FacilityPayable(id("facility_id", &f)?), currency)
            }
            None => {
                return Err(crate::api::status::invalid(
                    "subject",
                    "subject: give household_id or facility_id",
                ));
            }
        };
        let as_of = r
            .as_of_date
            .map(|d| date("as_of_date", Some(d)))
            .transpose()?;
        let raw = match as_of {
            None => states.iter().fold(0i128, |sum, state| {
                sum.saturating_add(state.projections.balances.raw_balance(&account, currency))
            }),
            Some(_) => {
                let parts: Vec<&State> = states.iter().map(|s| &**s).collect();
                let (debits, credits) =
                    crate::api::accounts::totals(&parts, &account, currency, as_of)?;
                debits.saturating_sub(credits)
            }
        };
        // Wallets and facility payables are liabilities: shown as positive amounts.
        let shown = i64::try_from(-raw).map_err(|_| {
            error(
                Code::OutOfRange,
                "BALANCE_OUT_OF_RANGE",
                "balance",
                format!("balance: {} minor units do not fit the API's int64", -raw),
            )
        })?;
        let shown = Amount::new(shown, currency);
        Ok(Response::new(pb::GetBalanceResponse {
            balance: Some(money_to_pb(shown)),
            position: p.position(),
        }))
    }

    #[allow(deprecated)] // fills the deprecated text sum too, for older clients
    async fn get_trial_balance(
        &self,
        request: Request<pb::GetTrialBalanceRequest>,
    ) -> Result2<pb::GetTrialBalanceResponse> {
        let r = request.into_inner();
        let size = page_size(r.page_size)?;
        let states = self.read_all().await?;
        let b: Vec<&State> = states.iter().map(|s| &**s).collect();
        let (accounts, next_page_token) = crate::api::accounts::page(
            &b,
            &crate::api::accounts::Page {
                kind: None,
                currency: None,
                as_of: None,
                size,
                token: &r.page_token,
            },
        )?;
        Ok(Response::new(pb::GetTrialBalanceResponse {
            totals: crate::api::accounts::currencies(&b)
                .into_iter()
                .map(|c| {
                    let sum = crate::api::accounts::trial_balance(&b, c);
                    pb::get_trial_balance_response::CurrencyTotal {
                        currency_code: c.code().to_owned(),
                        sum_minor_units: sum.to_string(),
                        sum: i64::try_from(sum)
                            .ok()
                            .map(|sum| money_to_pb(Amount::new(sum, c))),
                    }
                })
                .collect(),
            position: states[0].projections.position(),
            accounts,
            next_page_token,
        }))
    }

    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Result2<pb::ListAccountsResponse> {
        let r = request.into_inner();
        let size = page_size(r.page_size)?;
        let kind = (!r.kind.is_empty()).then_some(r.kind.as_str());
        if let Some(k) = kind
            && !projections::balances::ACCOUNT_KINDS.contains(&k)
        {
            return Err(crate::api::status::invalid(
                "kind",
                format!(
                    "kind: {k:?} is not one of {}",
                    projections::balances::ACCOUNT_KINDS.join(", ")
                ),
            ));
        }
        let currency = if r.currency_code.is_empty() {
            None
        } else {
            Some(r.currency_code.parse().map_err(|e| {
                crate::api::status::invalid("currency_code", format!("currency_code: {e}"))
            })?)
        };
        let as_of = r
            .as_of_date
            .map(|d| date("as_of_date", Some(d)))
            .transpose()?;
        let states = self.read_all().await?;
        let b: Vec<&State> = states.iter().map(|s| &**s).collect();
        let (accounts, next_page_token) = crate::api::accounts::page(
            &b,
            &crate::api::accounts::Page {
                kind,
                currency,
                as_of,
                size,
                token: &r.page_token,
            },
        )?;
        Ok(Response::new(pb::ListAccountsResponse {
            accounts,
            next_page_token,
            position: states[0].projections.position(),
        }))
    }

    async fn get_account_balance(
        &self,
        request: Request<pb::GetAccountBalanceRequest>,
    ) -> Result2<pb::AccountBalance> {
        let r = request.into_inner();
        let as_of = r
            .as_of_date
            .map(|d| date("as_of_date", Some(d)))
            .transpose()?;
        let states = self.read_all().await?;
        let b: Vec<&State> = states.iter().map(|s| &**s).collect();
        let (account, currency) = crate::api::accounts::named(&b, &r.account, &r.currency_code)?;
        crate::api::accounts::balance_pb(&b, &account, currency, as_of).map(Response::new)
    }

    #[allow(deprecated)] // fills the deprecated text status too, for older clients
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
        let Some(partition) = self.ledger.member_partition(&member_id) else {
            return Ok(Response::new(pb::CheckEligibilityResponse {
                member_known: false,
                covered: false,
                products: Vec::new(),
            }));
        };
        let state = self.read(partition).await?;
        let p = &state.projections;
        let member = p.registry.members.get(&member_id);
        let Some(household) = member.map(|m| &m.household_id) else {
            return Ok(Response::new(pb::CheckEligibilityResponse {
                member_known: false,
                covered: false,
                products: Vec::new(),
            }));
        };
        // The version in force on the date asked about; none in force: nothing covers.
        let Some(published) = p.registry.household_scheme_on(household, on) else {
            return Ok(Response::new(pb::CheckEligibilityResponse {
                member_known: true,
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
            codes.iter(),
        );
        let e = adjudicator::eligibility(&ctx, scheme, on, &codes);
        let products = e
            .products
            .iter()
            .map(|pe| {
                use pb::CoverageStatus as P;
                let (status, from) = match pe.status {
                    CoverageStatus::Active => (P::Active, None),
                    CoverageStatus::Waiting { until } => (P::Waiting, Some(until)),
                    CoverageStatus::Idle => (P::Idle, None),
                    CoverageStatus::Suspended => (P::Suspended, None),
                    CoverageStatus::NotYetEffective { from } => (P::NotYetEffective, Some(from)),
                    CoverageStatus::Expired { .. } => (P::Expired, None),
                };
                let money = |m: Option<Amount>| m.map(money_to_pb);
                pb::ProductEligibility {
                    policy_id: pe.policy_id.to_string(),
                    product_id: pe.product_id.to_string(),
                    status: status
                        .as_str_name()
                        .trim_start_matches("COVERAGE_STATUS_")
                        .to_owned(),
                    coverage_status: status as i32,
                    from: from.map(date_to_pb),
                    expires_on: Some(date_to_pb(pe.expires_on)),
                    ceiling_left_member: money(pe.ceiling_left_outpatient.per_member),
                    ceiling_left_household: money(pe.ceiling_left_outpatient.per_household),
                    deductible_left_member: money(pe.deductible_left_outpatient.per_member),
                    deductible_left_household: money(pe.deductible_left_outpatient.per_household),
                    ceiling_left_member_inpatient: money(pe.ceiling_left_inpatient.per_member),
                    ceiling_left_household_inpatient: money(
                        pe.ceiling_left_inpatient.per_household,
                    ),
                    deductible_left_member_inpatient: money(
                        pe.deductible_left_inpatient.per_member,
                    ),
                    deductible_left_household_inpatient: money(
                        pe.deductible_left_inpatient.per_household,
                    ),
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
        let caller = caller(&request)?;
        let r = request.into_inner();
        let claim_id: ledger::ids::ClaimId = id("claim_id", &r.claim_id)?;
        let unknown = || rejection_status(&Rejection::UnknownClaim(claim_id.clone()));
        let partition = self
            .ledger
            .claim_partition(&claim_id)
            .await
            .ok_or_else(unknown)?;
        let claim = self
            .claim_detail(partition, &claim_id)
            .await?
            .ok_or_else(unknown)?;
        own_facility(&caller, "claim_id", &claim.record.facility_id)?;
        Ok(Response::new(claim_pb(&claim)))
    }

    async fn get_coverage(
        &self,
        request: Request<pb::GetCoverageRequest>,
    ) -> Result2<pb::GetCoverageResponse> {
        let r = request.into_inner();
        let household: ledger::ids::HouseholdId = id("household_id", &r.household_id)?;
        let as_of = r
            .as_of_date
            .map(|d| date("as_of_date", Some(d)))
            .transpose()?;
        let state = self
            .read(self.ledger.household_partition(&household))
            .await?;
        let p = &state.projections;
        if !p.registry.households.contains_key(&household) {
            return Err(rejection_status(&Rejection::UnknownHousehold(household)));
        }
        let policies = p
            .coverage
            .household_policies(&household)
            .filter_map(|(policy_id, record)| {
                let change = match as_of {
                    Some(d) => record.as_of(d)?,
                    None => record.current(),
                };
                Some(pb::PolicyPeriod {
                    policy_id: policy_id.to_string(),
                    product_id: record.product_id.to_string(),
                    status: change.status.to_pb(),
                    period_start: Some(date_to_pb(record.period_start)),
                    effective_from: Some(date_to_pb(change.effective_from)),
                    expires_on: Some(date_to_pb(change.expires_on)),
                    renewal: record.renewal,
                    price: Some(money_to_pb(record.price)),
                    paid: Some(money_to_pb(record.paid)),
                })
            })
            .collect();
        Ok(Response::new(pb::GetCoverageResponse { policies }))
    }

    async fn list_claims(
        &self,
        request: Request<pb::ListClaimsRequest>,
    ) -> Result2<pb::ListClaimsResponse> {
        use projections::claims::{ClaimFilter, ClaimStatus};
        let caller = caller(&request)?;
        let r = request.into_inner();
        let size = page_size(r.page_size)?;
        let status = match r.status.as_str() {
            "" => None,
            "SUBMITTED" => Some(ClaimStatus::Submitted),
            "ACCEPTED" => Some(ClaimStatus::Accepted),
            "PARTIAL" => Some(ClaimStatus::Partial),
            "REJECTED" => Some(ClaimStatus::Rejected),
            "REVERSED" => Some(ClaimStatus::Reversed),
            other => {
                return Err(crate::api::status::invalid(
                    "status",
                    format!(
                        "status: {other:?} is not SUBMITTED, ACCEPTED, PARTIAL, REJECTED or \
                         REVERSED"
                    ),
                ));
            }
        };
        // A facility lists its own claims: its id is the default filter and the only one.
        let facility = match (opt_id("facility_id", &r.facility_id)?, caller.facility()) {
            (Some(asked), _) => {
                own_facility(&caller, "facility_id", &asked)?;
                Some(asked)
            }
            (None, own) => own.cloned(),
        };
        let filter = ClaimFilter {
            facility,
            member: opt_id("member_id", &r.member_id)?,
            status,
        };
        // The page token is the last claim id of the previous page. Claims are listed in
        // partition order, and in submission order within a partition; a member's claims
        // are all in its household's partition.
        let after: Option<ledger::ids::ClaimId> = opt_id("page_token", &r.page_token)?;
        let bad_token = || {
            crate::api::status::invalid(
                "page_token",
                format!(
                    "page_token: {:?} is not a token this server issued",
                    r.page_token
                ),
            )
        };
        let partitions: Vec<Partition> = match &filter.member {
            Some(member) => self.ledger.member_partition(member).into_iter().collect(),
            None => self.ledger.partitions().all().collect(),
        };
        let mut after = after;
        let start = match &after {
            Some(claim) => {
                let at = self.ledger.claim_partition(claim).await;
                at.filter(|p| partitions.contains(p))
                    .ok_or_else(bad_token)?
            }
            None => Partition::FIRST,
        };
        let (mut claims, mut ids) = (Vec::new(), Vec::new());
        for partition in partitions.into_iter().filter(|p| *p >= start) {
            let want = size + 1 - claims.len();
            let page: Vec<ClaimRecord> = self
                .read(partition)
                .await?
                .list_claims(&filter, after.take().as_ref(), want)
                .map_err(internal)?
                .ok_or_else(bad_token)?;
            ids.extend(page.iter().map(|c| c.claim_id.clone()));
            let log = self.ledger.service(partition).log();
            for claim in history::details(log, page).await.map_err(internal)? {
                claims.push(claim_pb(&claim));
            }
            if claims.len() > size {
                break;
            }
        }
        let more = claims.len() > size;
        claims.truncate(size);
        let next_page_token = if more {
            ids[size - 1].to_string()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListClaimsResponse {
            claims,
            next_page_token,
        }))
    }

    async fn get_facility_statement(
        &self,
        request: Request<pb::GetFacilityStatementRequest>,
    ) -> Result2<pb::FacilityStatement> {
        let caller = caller(&request)?;
        let r = request.into_inner();
        let facility: ledger::ids::FacilityId = id("facility_id", &r.facility_id)?;
        own_facility(&caller, "facility_id", &facility)?;
        let period: ledger::ids::PeriodId = id("period_id", &r.period_id)?;
        let state = self.read(self.ledger.facility_partition(&facility)).await?;
        let s = state
            .projections
            .payments
            .statements
            .get(&(facility.clone(), period.clone()))
            .ok_or_else(|| {
                rejection_status(&Rejection::NoStatement {
                    facility: facility.clone(),
                    period: period.clone(),
                })
            })?;
        let size = match r.line_page_size {
            0 => STATEMENT_LINES_PAGE_DEFAULT,
            n if n > STATEMENT_LINES_PAGE_MAX => {
                return Err(crate::api::status::invalid(
                    "line_page_size",
                    format!("line_page_size: {n} is above the maximum {STATEMENT_LINES_PAGE_MAX}"),
                ));
            }
            n => n as usize,
        };
        let from = line_page_start(&r.line_page_token, s.line_count())?;
        let s = s.clone();
        drop(state);
        Ok(Response::new(
            self.statement_page(&facility, &period, &s, from, size)
                .await?,
        ))
    }

    async fn get_stock(
        &self,
        request: Request<pb::GetStockRequest>,
    ) -> Result2<pb::GetStockResponse> {
        let caller = caller(&request)?;
        let r = request.into_inner();
        let facility: ledger::ids::FacilityId = id("facility_id", &r.facility_id)?;
        own_facility(&caller, "facility_id", &facility)?;
        let product: ledger::ids::Code = id("product_code", &r.product_code)?;
        let state = self.read(self.ledger.facility_partition(&facility)).await?;
        let p = &state.projections;
        let months = p.months_of_stock(&facility, &product);
        let stock = p
            .payments
            .stock
            .get(&(facility.clone(), product.clone()))
            .ok_or_else(|| {
                error(
                    Code::NotFound,
                    "NO_STOCK_VISIT",
                    "product_code",
                    format!("product_code: no stock visit of {product} at {facility}"),
                )
            })?;
        Ok(Response::new(pb::GetStockResponse {
            facility_id: facility.to_string(),
            product_code: product.to_string(),
            on_hand: stock.after_delivery().unwrap_or(0),
            average_monthly_consumption: stock.average_consumption(),
            months_of_stock: months,
            suggested_top_up: stock.suggested_top_up(months),
            last_visit: stock.visits.last().map(|v| date_to_pb(v.date)),
            unit_price: Some(money_to_pb(stock.unit_price)),
            visits: stock.visits.len() as u32,
        }))
    }

    async fn get_sponsor(
        &self,
        request: Request<pb::GetSponsorRequest>,
    ) -> Result2<pb::GetSponsorResponse> {
        let r = request.into_inner();
        let scheme_id: ledger::ids::SchemeId = id("scheme_id", &r.scheme_id)?;
        let sponsor_id: ledger::ids::SponsorId = id("sponsor_id", &r.sponsor_id)?;
        let year = if r.year == 0 {
            chrono::Datelike::year(&today())
        } else {
            r.year
        };
        if !(1900..=2199).contains(&year) {
            return Err(crate::api::status::invalid(
                "year",
                format!("year: {year} is outside 1900..2199"),
            ));
        }
        let states = self.read_all().await?;
        let partitions: Vec<_> = states.iter().map(|s| &s.projections).collect();
        crate::api::sponsors::sponsor_pb(&partitions, &scheme_id, &sponsor_id, year)
            .map(Response::new)
            .ok_or_else(|| rejection_status(&Rejection::UnknownSponsor(sponsor_id)))
    }

    async fn list_facility_statements(
        &self,
        request: Request<pb::ListFacilityStatementsRequest>,
    ) -> Result2<pb::ListFacilityStatementsResponse> {
        let caller = caller(&request)?;
        let r = request.into_inner();
        let facility: ledger::ids::FacilityId = id("facility_id", &r.facility_id)?;
        own_facility(&caller, "facility_id", &facility)?;
        let size = page_size(r.page_size)?;
        let after: Option<ledger::ids::PeriodId> = opt_id("page_token", &r.page_token)?;
        let state = self.read(self.ledger.facility_partition(&facility)).await?;
        // The page token is the last period of the previous page: one of this facility's.
        if let Some(a) = &after
            && !state
                .projections
                .payments
                .statements
                .contains_key(&(facility.clone(), a.clone()))
        {
            return Err(crate::api::status::invalid(
                "page_token",
                format!(
                    "page_token: {:?} is not a token this server issued",
                    r.page_token
                ),
            ));
        }
        let page: Vec<(ledger::ids::PeriodId, Statement)> = state
            .projections
            .payments
            .statements_of(&facility)
            .filter(|(p, _)| after.as_ref().is_none_or(|a| *p > a))
            .take(size + 1)
            .map(|(p, s)| (p.clone(), s.clone()))
            .collect();
        drop(state);
        let more = page.len() > size;
        let mut statements = Vec::with_capacity(size.min(page.len()));
        for (period, s) in page.iter().take(size) {
            statements.push(
                self.statement_page(&facility, period, s, 0, STATEMENT_LINES_PAGE_DEFAULT)
                    .await?,
            );
        }
        let next_page_token = if more {
            page[size - 1].0.to_string()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListFacilityStatementsResponse {
            statements,
            next_page_token,
        }))
    }
}

/// The end of the range a `VerifyLog` call checks: `to` (0 for the head, or for
/// `VERIFY_EVENTS_MAX` events when the head is further), refused when the range is not
/// within the log or longer than `VERIFY_EVENTS_MAX`.
fn verify_range(from: u64, to: u64, head: u64) -> Result<u64, Status> {
    let out_of_range = |field: &str, value: u64| {
        error(
            Code::OutOfRange,
            "OUT_OF_RANGE",
            field,
            format!("{field}: {value} is beyond the head of the log ({head})"),
        )
    };
    if from > head {
        return Err(out_of_range("from_position", from));
    }
    if to == 0 {
        return Ok(head.min(from.saturating_add(VERIFY_EVENTS_MAX)));
    }
    if to > head {
        return Err(out_of_range("to_position", to));
    }
    if to < from {
        return Err(crate::api::status::invalid(
            "to_position",
            format!("to_position: {to} is before from_position {from}"),
        ));
    }
    if to - from > VERIFY_EVENTS_MAX {
        return Err(crate::api::status::invalid(
            "to_position",
            format!(
                "to_position: {} events, at most {VERIFY_EVENTS_MAX} are verified per call",
                to - from
            ),
        ));
    }
    Ok(to)
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
                return Err(crate::api::status::invalid(
                    "limit",
                    format!("limit: {n} is above the maximum {READ_EVENTS_MAX}"),
                ));
            }
            n => n,
        };
        let log = self
            .ledger
            .service(self.partition(r.partition)?)
            .log()
            .clone();
        let head = log.head().next_position;
        if r.from_position > head {
            return Err(error(
                Code::OutOfRange,
                "OUT_OF_RANGE",
                "from_position",
                format!(
                    "from_position: {} is beyond the head of the log ({head})",
                    r.from_position
                ),
            ));
        }
        // Streamed as read, a chunk at a time: nothing holds the whole answer.
        let (tx, rx) = tokio::sync::mpsc::channel(READ_EVENTS_CHUNK);
        tokio::spawn(async move {
            let (mut from, end) = (r.from_position, r.from_position + u64::from(limit));
            while from < end {
                let max = READ_EVENTS_CHUNK.min((end - from) as usize);
                let events = match log.read(from, max).await {
                    Ok(events) if events.is_empty() => break,
                    Ok(events) => events,
                    Err(e) => {
                        let _ = tx.send(Err(internal(e.to_string()))).await;
                        break;
                    }
                };
                from += events.len() as u64;
                for e in events {
                    if tx.send(Ok(stored_pb(e))).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn verify_log(
        &self,
        request: Request<pb::VerifyLogRequest>,
    ) -> Result2<pb::VerifyLogResponse> {
        let r = request.into_inner();
        let log = self.ledger.service(self.partition(r.partition)?).log();
        let head = log.head().next_position;
        let to = verify_range(r.from_position, r.to_position, head)?;
        let report = log
            .verify(r.from_position, to)
            .await
            .map_err(|e| internal(e.to_string()))?;
        Ok(Response::new(pb::VerifyLogResponse {
            ok: report.is_ok(),
            first_bad_position: report.first_bad.as_ref().map(|(p, _)| *p),
            reason: report.first_bad.map(|(_, r)| r).unwrap_or_default(),
            last_hash: report.last_hash.to_vec(),
            head_position: head,
        }))
    }

    type SubscribeEventsStream = EventStream;

    async fn subscribe_events(
        &self,
        request: Request<pb::SubscribeEventsRequest>,
    ) -> Result2<Self::SubscribeEventsStream> {
        let r = request.into_inner();
        let (from, partition) = (r.from_position, self.partition(r.partition)?);
        let permit = self
            .subscriptions
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                error(
                    Code::ResourceExhausted,
                    "TOO_MANY_SUBSCRIPTIONS",
                    "",
                    format!("{SUBSCRIPTIONS_MAX} subscriptions are open, the maximum"),
                )
            })?;
        let mut subscription = self.ledger.service(partition).log().subscribe(from);
        // Bounded: a slow client slows its own subscription, nothing else.
        let (tx, rx) = tokio::sync::mpsc::channel(SUBSCRIPTION_BUFFER_EVENTS);
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            let _permit = permit;
            loop {
                let next = tokio::select! {
                    next = subscription.next() => next,
                    _ = stopping.wait_for(|s| *s) => None,
                };
                let Some(next) = next else { break };
                let item = next.map(stored_pb).map_err(|e| internal(e.to_string()));
                if tx.send(item).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn get_projection_digest(
        &self,
        request: Request<pb::GetProjectionDigestRequest>,
    ) -> Result2<pb::GetProjectionDigestResponse> {
        let r = request.into_inner();
        let partitions = self.ledger.partitions();
        if partitions.count() > 1 && r.rebuild_to != 0 {
            return Err(crate::api::status::invalid(
                "rebuild_to",
                "rebuild_to: a position of a one-partition ledger; this one has several, \
                 each rebuilt to its head",
            ));
        }
        let live = projections::canonical::ledger_digests(
            self.read_all().await?.iter().map(|s| &s.projections),
        );
        let rebuilt = if r.rebuild {
            let heads: Vec<u64> = self
                .ledger
                .services()
                .iter()
                .map(|s| s.log().head().next_position)
                .collect();
            let to = if r.rebuild_to == 0 {
                heads[0]
            } else {
                r.rebuild_to.min(heads[0])
            };
            let total = heads
                .iter()
                .skip(1)
                .fold(to, |sum, h| sum.saturating_add(*h));
            if total > REBUILD_EVENTS_MAX {
                return Err(crate::api::status::invalid(
                    "rebuild_to",
                    format!(
                        "rebuild_to: {total} events; an RPC rebuilds at most {REBUILD_EVENTS_MAX} \
                         (rebuild the whole log with `claims-ledger replay`)"
                    ),
                ));
            }
            let mut all = Canonicals::default();
            for (i, service) in self.ledger.services().iter().enumerate() {
                let to = if i == 0 { to } else { heads[i] };
                let state = crate::processor::rebuild(service.log(), to)
                    .await
                    .map_err(|e| internal(e.to_string()))?;
                all.merge(&Canonicals::of(&state.projections));
            }
            Some(digest_pb(&all.digests()))
        } else {
            None
        };
        Ok(Response::new(pb::GetProjectionDigestResponse {
            live: Some(digest_pb(&live)),
            rebuilt,
        }))
    }
}
