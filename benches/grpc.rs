//! Claims per second over gRPC and query latency, side by side with the transport ceiling
//! measured in the same run (the health check: a handler that does nothing):
//! - unary `SubmitClaim` from 64 concurrent clients, durable (segment files);
//! - `SubmitClaims` batches of 500 from 8 concurrent clients;
//! - `GetBalance` and `GetCoverage` from 64 concurrent clients (queries/s at saturation) and
//!   from 4 (latency at a light load): p50 and p99, each next to the empty handler at the
//!   same load;
//! - the claims against their own ceilings: an empty `SubmitClaim`/`SubmitClaims` handler on a
//!   bare tonic server exchanging the ledger's messages (the transport ceiling for claims), and
//!   the durable log alone appending the batched claims' events again (the storage ceiling).
//!
//! Run: `cargo bench --bench grpc` (`-- --claims N` to size it; `-- --partitions` to compare
//! unary and batched claims on P = 1, 2 and 4 partitions instead; `-- --profile unary` (or
//! `batched`, `echo-unary`, `echo-batched`, `log-alone`) to run one measure alone under a
//! profiler, with its CPU time per claim).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adjudicator::examples;
use claims_ledger::api::grpc::Api;
use claims_ledger::command::Command;
use claims_ledger::partitioned::Ledger;
use claims_ledger::processor::Service;
use ledger::event::{Gender, PaymentChannel, PremiumSource};
use ledger::log::{AppendRequest, EventLog, NewEvent};
use ledger::{Amount, Currency, Date, FileLog, RequestId};
use proto::v1 as pb;
use proto::v1::ledger_service_client::LedgerServiceClient;
use proto::v1::ledger_service_server::{LedgerService, LedgerServiceServer};
use proto::v1::query_service_client::QueryServiceClient;
use tonic_health::pb::health_client::HealthClient;

/// The allocator the server binary uses (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CLIENTS: usize = 64;
/// Concurrent clients for the light-load query latency.
const LIGHT_CLIENTS: usize = 4;
const HOUSEHOLDS: usize = 500;

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

fn day(n: u64) -> Date {
    Date::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(n)
}

fn pb_date(n: u64) -> Option<pb::Date> {
    Some(ledger::codec::date_to_pb(day(n)))
}

async fn setup(service: &Ledger<FileLog>) {
    let mut n = 0;
    let mut run = |command: Command| {
        n += 1;
        let service = service.clone();
        async move {
            service
                .execute(RequestId::new(format!("setup-{n}")).unwrap(), command)
                .await
                .unwrap();
        }
    };
    run(Command::PublishScheme {
        document: examples::IPUSH_KE.to_owned(),
        effective_from: day(0),
    })
    .await;
    for h in 0..HOUSEHOLDS {
        let hh = format!("HH-{h}");
        run(Command::RegisterHousehold {
            household_id: id(&hh),
            scheme_id: id("ipush-ke"),
            location_code: "KSM".into(),
            socio_economic_category: String::new(),
            registered_on: day(1),
        })
        .await;
        run(Command::EnrollMember {
            member_id: id(&format!("M-{h}")),
            household_id: id(&hh),
            gender: Gender::Female,
            birth_date: Date::from_ymd_opt(1990, 1, 1).unwrap(),
            is_head: true,
            facility_id: None,
            enrolled_on: day(1),
        })
        .await;
        run(Command::PayPremium {
            period_start: None,
            receipt_id: id(&format!("PR-{h}")),
            household_id: id(&hh),
            product_id: id("NHIF-SUPA"),
            amount: Amount::new(600_000, Currency::KES),
            source: PremiumSource::Direct,
            paid_on: day(5),
        })
        .await;
        run(Command::RecordContribution {
            receipt_id: id(&format!("MP-{h}")),
            household_id: id(&hh),
            member_id: None,
            amount: Amount::new(10_000, Currency::KES),
            channel: PaymentChannel::MobileMoney,
            received_on: day(6),
        })
        .await;
    }
}

fn claim(i: usize) -> pb::SubmitClaimRequest {
    pb::SubmitClaimRequest {
        request_id: format!("claim-{i}"),
        claim_code: format!("C-{i}"),
        facility_id: "KE-KSM-NYALENDA".into(),
        member_id: format!("M-{}", i % HOUSEHOLDS),
        date_from: pb_date(30 + (i / HOUSEHOLDS) as u64),
        date_to: None,
        claim_date: pb_date(30 + (i / HOUSEHOLDS) as u64),
        diagnosis_codes: vec![],
        lines: vec![pb::ClaimLine {
            line_no: 1,
            kind: pb::LineKind::Item as i32,
            code: "FEFOL-60".into(),
            quantity: 1,
            asked_unit_price: None,
        }],
        decided_on: pb_date(300),
    }
}

/// Runs `total` calls spread over `clients` concurrent clients; returns every call's latency.
async fn load<F, Fut>(clients: usize, total: usize, call: F) -> (Duration, Vec<Duration>)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                for i in (c..total).step_by(clients) {
                    let t = Instant::now();
                    call(i).await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    all.sort();
    (elapsed, all)
}

/// The transport ceiling: `total` health checks (a handler that does nothing) from `clients`.
async fn empty_handler(
    channel: &tonic::transport::Channel,
    clients: usize,
    total: usize,
) -> (Duration, Vec<Duration>) {
    let health = HealthClient::new(channel.clone());
    load(clients, total, move |_| {
        let mut h = health.clone();
        async move {
            h.check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap();
        }
    })
    .await
}

/// A `LedgerService` that does nothing but answer: every claim gets a copy of one real answer
/// (captured from the ledger), so the messages both ways have the ledger's shapes and sizes.
/// Served by a bare tonic server, it is the transport ceiling for claims.
struct EchoLedger {
    answer: pb::SubmitClaimResponse,
}

/// The echo ledger's service: the two claim methods answer, the others are unimplemented
/// (a macro, so that `async_trait` sees the methods it generates).
macro_rules! echo_ledger_service {
    ($($name:ident($req:ident) -> $resp:ident;)*) => {
        #[tonic::async_trait]
        impl LedgerService for EchoLedger {
            async fn submit_claim(
                &self,
                _: tonic::Request<pb::SubmitClaimRequest>,
            ) -> Result<tonic::Response<pb::SubmitClaimResponse>, tonic::Status> {
                Ok(tonic::Response::new(self.answer.clone()))
            }

            async fn submit_claims(
                &self,
                request: tonic::Request<pb::SubmitClaimsRequest>,
            ) -> Result<tonic::Response<pb::SubmitClaimsResponse>, tonic::Status> {
                let results = request
                    .into_inner()
                    .claims
                    .iter()
                    .map(|_| pb::SubmitClaimResult {
                        response: Some(self.answer.clone()),
                        ..Default::default()
                    })
                    .collect();
                Ok(tonic::Response::new(pb::SubmitClaimsResponse { results }))
            }

            $(async fn $name(
                &self,
                _: tonic::Request<pb::$req>,
            ) -> Result<tonic::Response<pb::$resp>, tonic::Status> {
                Err(tonic::Status::unimplemented("the echo ledger answers claims only"))
            })*
        }
    };
}

echo_ledger_service! {
    publish_scheme(PublishSchemeRequest) -> PublishSchemeResponse;
    register_household(RegisterHouseholdRequest) -> RegisterHouseholdResponse;
    enroll_member(EnrollMemberRequest) -> EnrollMemberResponse;
    record_contribution(RecordContributionRequest) -> RecordContributionResponse;
    pay_premium(PayPremiumRequest) -> PayPremiumResponse;
    review_claim(ReviewClaimRequest) -> ReviewClaimResponse;
    reverse_claim(ReverseClaimRequest) -> ReverseClaimResponse;
    record_copayment(RecordCopaymentRequest) -> RecordCopaymentResponse;
    record_stock_visit(RecordStockVisitRequest) -> RecordStockVisitResponse;
    close_payment_period(ClosePaymentPeriodRequest) -> ClosePaymentPeriodResponse;
    record_facility_payout(RecordFacilityPayoutRequest) -> RecordFacilityPayoutResponse;
}

/// Serves on a fresh loopback port (TCP_NODELAY, as `serve` sets it) with `serve`, which
/// spawns the server on the listener it is given; returns a channel to it.
async fn serve_on_loopback<F>(serve: F) -> tonic::transport::Channel
where
    F: FnOnce(tonic::transport::server::TcpIncoming),
{
    let incoming = tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .with_nodelay(Some(true));
    let url = format!("http://{}", incoming.local_addr().unwrap());
    serve(incoming);
    tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// The durable log alone: `requests` (each one claim's events, as the ledger appended them)
/// appended again to a fresh segment-file log by `clients` concurrent appenders, `per_append` requests
/// per `append_all`, as the command writer commits them. No transport, no decisions, no
/// folds: the storage ceiling for claims.
async fn log_alone(
    log: &FileLog,
    requests: Vec<AppendRequest>,
    clients: usize,
    per_append: usize,
) -> Duration {
    // Each append's requests, taken (not copied) by the client that sends it.
    let appends: Arc<Vec<Mutex<Vec<AppendRequest>>>> = Arc::new(
        requests
            .chunks(per_append)
            .map(|chunk| Mutex::new(chunk.to_vec()))
            .collect(),
    );
    let log = log.clone();
    load(clients, appends.len(), move |i| {
        let (log, appends) = (log.clone(), appends.clone());
        async move {
            let requests = std::mem::take(&mut *appends[i].lock().unwrap());
            for outcome in log.append_all(requests).await {
                assert!(!outcome.unwrap().already_appended);
            }
        }
    })
    .await
    .0
}

/// The appends that made `from..to` of `log`, one request per request id, as first made.
async fn appends_between(log: &FileLog, from: u64, to: u64) -> Vec<AppendRequest> {
    let mut requests: Vec<AppendRequest> = Vec::new();
    let mut position = from;
    while position < to {
        let events = log.read(position, (to - position) as usize).await.unwrap();
        position += events.len() as u64;
        for e in events {
            let event = NewEvent {
                stream: e.stream,
                event: e.event,
            };
            match requests.last_mut() {
                Some(r) if r.request_id == e.request_id => r.events.push(event),
                _ => requests.push(
                    AppendRequest::new(e.request_id, vec![event])
                        .recorded_at(e.recorded_at_unix_ms),
                ),
            }
        }
    }
    requests
}

/// CPU time this process has used so far (user + system, all threads), from /proc; `None`
/// where there is no /proc.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports these in USER_HZ, 100 per second on every architecture it runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// Awaits `measure` (`claims` claims; it returns its elapsed time). Under `--profile <name>`,
/// for the measure of that name, also prints its rate and the process's CPU time per claim.
async fn accounted(
    profile: Option<&str>,
    name: &str,
    claims: usize,
    measure: impl std::future::Future<Output = Duration>,
) -> Duration {
    let before = cpu_time();
    let time = measure.await;
    if profile == Some(name) {
        println!("{name}: {:.0} claims/s", claims as f64 / time.as_secs_f64());
        if let (Some(before), Some(after)) = (before, cpu_time()) {
            let used = after.saturating_sub(before);
            println!(
                "CPU: {:.0} us per claim, {:.2} cores busy",
                used.as_secs_f64() * 1e6 / claims as f64,
                used.as_secs_f64() / time.as_secs_f64()
            );
        }
    }
    time
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Unary and batched claims through a ledger of P = 1, 2 and 4 partitions (segment logs in
/// one directory, on one disk), next to the empty handler and the durable log alone, in the
/// same run.
async fn compare_partitions(claims: usize) {
    const BATCH: usize = 500;
    let mut rows = Vec::new();
    let mut ceilings = None;
    for partitions in [1usize, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let logs = (0..partitions)
            .map(|p| {
                (
                    FileLog::open(dir.path().join(format!("p{p}"))).unwrap(),
                    None,
                )
            })
            .collect();
        let ledger = Ledger::start(logs).await.unwrap();
        setup(&ledger).await;
        let (_stop, stopping) = tokio::sync::watch::channel(false);
        let router = claims_ledger::server::router(
            Api::new(ledger.clone(), stopping),
            Default::default(),
            None,
            Default::default(),
        )
        .await
        .unwrap();
        let channel = serve_on_loopback(|incoming| {
            tokio::spawn(router.serve_with_incoming(incoming));
        })
        .await;
        let client = LedgerServiceClient::new(channel.clone());
        let l = client.clone();
        let unary = load(CLIENTS, claims, move |i| {
            let mut l = l.clone();
            async move {
                l.submit_claim(claim(i)).await.unwrap();
            }
        })
        .await
        .0;
        let l = client.clone();
        let batches = claims / BATCH;
        let cpu_before = cpu_time();
        let batched = load(8, batches, move |b| {
            let mut l = l.clone();
            async move {
                let request = pb::SubmitClaimsRequest {
                    facility_id: "KE-KSM-NYALENDA".into(),
                    claims: (0..BATCH).map(|k| claim(claims + b * BATCH + k)).collect(),
                };
                let answer = l.submit_claims(request).await.unwrap().into_inner();
                assert!(answer.results.iter().all(|r| r.response.is_some()));
            }
        })
        .await
        .0;
        let busy = cpu_before.zip(cpu_time()).map_or(0.0, |(b, a)| {
            a.saturating_sub(b).as_secs_f64() / batched.as_secs_f64()
        });
        if ceilings.is_none() {
            // Measured once, with the first ledger: the transport and the storage alone.
            let (empty, _) = empty_handler(&channel, CLIENTS, claims).await;
            let log = ledger.service(ledger::partition::Partition::FIRST).log();
            let head = log.head().next_position;
            let appends = appends_between(log, head - (batches * BATCH * 2) as u64, head).await;
            let again_dir = tempfile::tempdir().unwrap();
            let again = FileLog::open(again_dir.path().join("log")).unwrap();
            let stored = log_alone(&again, appends, 8, BATCH).await;
            again.shutdown().await.unwrap();
            ceilings = Some((empty, stored));
        }
        ledger.shutdown().await;
        rows.push((partitions, unary, batched, busy));
    }
    let Some((empty, stored)) = ceilings else {
        return;
    };
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    let (base_unary, base_batched) = (rows[0].1, rows[0].2);
    println!(
        "| partitions | unary claims/s | vs P = 1 | vs empty handler | batched claims/s | vs P = 1 | vs log alone | cores busy (batched) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (p, unary, batched, busy) in rows {
        let batched_claims = claims / BATCH * BATCH;
        println!(
            "| {p} | {:.0} | {:.2}x | {:.2}x | {:.0} | {:.2}x | {:.2}x | {busy:.2} |",
            rate(claims, unary),
            base_unary.as_secs_f64() / unary.as_secs_f64(),
            rate(claims, unary) / rate(claims, empty),
            rate(batched_claims, batched),
            base_batched.as_secs_f64() / batched.as_secs_f64(),
            rate(batched_claims, batched) / rate(batched_claims, stored),
        );
    }
    println!(
        "\nceilings: empty handler {:.0} calls/s ({CLIENTS} clients); log alone {:.0} claims/s",
        rate(claims, empty),
        rate(claims / BATCH * BATCH, stored)
    );
}

fn main() {
    let claims: usize = std::env::args()
        .skip_while(|a| a != "--claims")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    if std::env::args().any(|a| a == "--partitions") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(compare_partitions(claims));
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let log = FileLog::open(dir.path().join("log")).unwrap();
        let service = Service::start(log.clone()).await.unwrap();
        let ledger = Ledger::single(service.clone()).await;
        setup(&ledger).await;
        let (_stop, stopping) = tokio::sync::watch::channel(false);
        let api = Api::new(ledger, stopping);
        // The server's own router and gate (development mode: no tokens); the empty handler
        // below is its health check, behind the same gate.
        let router = claims_ledger::server::router(api, Default::default(), None, Default::default()).await.unwrap();
        let channel = serve_on_loopback(|incoming| {
            tokio::spawn(router.serve_with_incoming(incoming));
        })
        .await;

        // `--profile <measure>` (unary, batched, echo-unary, echo-batched, log-alone): that
        // measure alone at full size (for perf), the others shrunk to one call per client.
        let profile: Option<String> =
            std::env::args().skip_while(|a| a != "--profile").nth(1);
        let profile = profile.as_deref();
        // (The log alone appends again what the batched measure appended.)
        let calls = |measure: &str| match profile {
            Some("log-alone") if measure == "batched" => claims,
            Some(p) if p != measure => CLIENTS,
            _ => claims,
        };
        let (empty, empty_latency) = empty_handler(&channel, CLIENTS, calls("empty")).await;

        let ledger = LedgerServiceClient::new(channel.clone());
        // One real answer, for the echo ledger (the unary load below retries this claim).
        let answer = ledger.clone().submit_claim(claim(0)).await.unwrap().into_inner();
        let l = ledger.clone();
        let unary = accounted(profile, "unary", calls("unary"), async {
            load(CLIENTS, calls("unary"), move |i| {
                let mut l = l.clone();
                async move {
                    let answer = l.submit_claim(claim(i)).await.unwrap().into_inner();
                    // Every claim is a fresh, covered visit: adjudicated and accepted.
                    assert_eq!(answer.decision.unwrap().status, pb::DecisionStatus::Accepted as i32);
                }
            })
            .await
            .0
        })
        .await;

        const BATCH: usize = 500;
        let batched_claims = |measure: &str| calls(measure) / BATCH * BATCH;
        let batch = move |b: usize| pb::SubmitClaimsRequest {
            facility_id: "KE-KSM-NYALENDA".into(),
            claims: (0..BATCH).map(|k| claim(claims + b * BATCH + k)).collect(),
        };
        let l = ledger.clone();
        let before_batched = log.head().next_position;
        let batched = accounted(profile, "batched", batched_claims("batched"), async {
            load(8, batched_claims("batched") / BATCH, move |b| {
                let mut l = l.clone();
                async move {
                    let answer = l.submit_claims(batch(b)).await.unwrap().into_inner();
                    assert!(answer.results.iter().all(|r| r.response.as_ref().and_then(|r| r.decision.as_ref())
                        .is_some_and(|d| d.status == pb::DecisionStatus::Accepted as i32)));
                }
            })
            .await
            .0
        })
        .await;
        let batches = batched_claims("batched") / BATCH;

        // The same claims against their ceilings: the transport with the same messages (the
        // echo ledger), and the durable log alone appending the batched claims' events.
        let answer_bytes = prost::Message::encoded_len(&answer);
        // A bare tonic server: no gate, no ledger.
        let echo = LedgerServiceClient::new(
            serve_on_loopback(|incoming| {
                tokio::spawn(
                    tonic::transport::Server::builder()
                        .add_service(LedgerServiceServer::new(EchoLedger { answer }))
                        .serve_with_incoming(incoming),
                );
            })
            .await,
        );
        let e = echo.clone();
        let echo_unary = accounted(profile, "echo-unary", calls("echo-unary"), async {
            load(CLIENTS, calls("echo-unary"), move |i| {
                let mut e = e.clone();
                async move {
                    e.submit_claim(claim(i)).await.unwrap();
                }
            })
            .await
            .0
        })
        .await;
        let e = echo.clone();
        let echo_batched = accounted(profile, "echo-batched", batched_claims("echo-batched"), async {
            load(8, batched_claims("echo-batched") / BATCH, move |b| {
                let mut e = e.clone();
                async move {
                    let answer = e.submit_claims(batch(b)).await.unwrap().into_inner();
                    assert_eq!(answer.results.len(), BATCH);
                }
            })
            .await
            .0
        })
        .await;
        let appends = appends_between(&log, before_batched, log.head().next_position).await;
        assert_eq!(appends.len(), batches * BATCH);
        let again_dir = tempfile::tempdir().unwrap();
        let again = FileLog::open(again_dir.path().join("log")).unwrap();
        let stored = accounted(profile, "log-alone", appends.len(), log_alone(&again, appends, 8, BATCH)).await;
        again.shutdown().await.unwrap();
        if profile.is_some() {
            return;
        }

        let query = QueryServiceClient::new(channel.clone());
        let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
        let ms = |lat: &[Duration], p: f64| percentile(lat, p).as_secs_f64() * 1e3;
        println!("| measure | rate | vs empty handler | p50 | p99 |");
        println!("|---|---:|---:|---:|---:|");
        println!(
            "| empty handler (health check), {CLIENTS} clients | {:.0} calls/s | 1.00x | {:.2} ms | {:.2} ms |",
            rate(claims, empty),
            ms(&empty_latency, 0.50),
            ms(&empty_latency, 0.99)
        );
        println!(
            "| SubmitClaim unary, {CLIENTS} clients, durable | {:.0} claims/s | {:.2}x | | |",
            rate(claims, unary),
            rate(claims, unary) / rate(claims, empty)
        );
        println!(
            "| SubmitClaims, batches of {BATCH}, 8 clients, durable | {:.0} claims/s | {:.2}x | | |",
            rate(batches * BATCH, batched),
            rate(batches * BATCH, batched) / rate(claims, empty)
        );
        println!();
        println!(
            "Claim messages: request {} bytes, answer {} bytes (protobuf).",
            prost::Message::encoded_len(&claim(0)),
            answer_bytes
        );
        println!();
        println!("| claims against their own ceilings (same run) | claims/s | ledger / ceiling |");
        println!("|---|---:|---:|");
        println!(
            "| empty SubmitClaim handler (the ledger's messages, bare tonic), {CLIENTS} clients | {:.0} | unary {:.2}x |",
            rate(claims, echo_unary),
            rate(claims, unary) / rate(claims, echo_unary)
        );
        println!(
            "| empty SubmitClaims handler, batches of {BATCH}, 8 clients | {:.0} | batched {:.2}x |",
            rate(batches * BATCH, echo_batched),
            rate(batches * BATCH, batched) / rate(batches * BATCH, echo_batched)
        );
        println!(
            "| durable log alone: the batched claims' events appended again, 8 appenders of {BATCH} claims | {:.0} | batched {:.2}x |",
            rate(batches * BATCH, stored),
            rate(batches * BATCH, batched) / rate(batches * BATCH, stored)
        );
        println!();
        println!("| measure | rate | vs empty handler | p50 | p99 |");
        println!("|---|---:|---:|---:|---:|");
        // Claims to look up: GetClaim reads each claim's events back from the log.
        let claim_ids: Arc<Vec<String>> = Arc::new(
            query
                .clone()
                .list_claims(pb::ListClaimsRequest {
                    page_size: 1000,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .claims
                .into_iter()
                .filter_map(|c| c.claim.map(|c| c.claim_id))
                .collect(),
        );
        assert!(!claim_ids.is_empty());
        // Queries at saturation (64 clients: throughput) and at a light load (4 clients:
        // latency), each next to the empty handler at the same load.
        for clients in [CLIENTS, LIGHT_CLIENTS] {
            let (empty_time, empty_lat) = empty_handler(&channel, clients, claims).await;
            let q = query.clone();
            let balance = load(clients, claims, move |i| {
                let mut q = q.clone();
                async move {
                    q.get_balance(pb::GetBalanceRequest {
                        subject: Some(pb::get_balance_request::Subject::HouseholdId(format!("HH-{}", i % HOUSEHOLDS))),
                        currency_code: String::new(),
                        as_of_date: None,
                    })
                    .await
                    .unwrap();
                }
            })
            .await;
            let q = query.clone();
            let coverage = load(clients, claims, move |i| {
                let mut q = q.clone();
                async move {
                    q.get_coverage(pb::GetCoverageRequest {
                        household_id: format!("HH-{}", i % HOUSEHOLDS),
                        as_of_date: None,
                    })
                    .await
                    .unwrap();
                }
            })
            .await;
            let q = query.clone();
            let ids = claim_ids.clone();
            let get_claim = load(clients, claims, move |i| {
                let mut q = q.clone();
                let claim_id = ids[i % ids.len()].clone();
                async move {
                    q.get_claim(pb::GetClaimRequest { claim_id }).await.unwrap();
                }
            })
            .await;
            println!(
                "| empty handler, {clients} clients | {:.0} calls/s | 1.00x | {:.2} ms | {:.2} ms |",
                rate(claims, empty_time),
                ms(&empty_lat, 0.50),
                ms(&empty_lat, 0.99)
            );
            let rows = [
                ("GetBalance", balance),
                ("GetCoverage", coverage),
                ("GetClaim (its events read from the log)", get_claim),
            ];
            for (name, (time, lat)) in rows {
                println!(
                    "| {name}, {clients} clients | {:.0} queries/s | {:.2}x | {:.2} ms | {:.2} ms |",
                    rate(claims, time),
                    rate(claims, time) / rate(claims, empty_time),
                    ms(&lat, 0.50),
                    ms(&lat, 0.99)
                );
            }
        }
        service.shutdown().await;
    });
}
