//! Claims per second over gRPC and query latency, side by side with the transport ceiling
//! measured in the same run (the health check: a handler that does nothing):
//! - unary `SubmitClaim` from 64 concurrent clients, durable (sled);
//! - `SubmitClaims` batches of 500 from 8 concurrent clients;
//! - `GetBalance` and `GetCoverage` from 64 concurrent clients (queries/s at saturation) and
//!   from 4 (latency at a light load): p50 and p99, each next to the empty handler at the
//!   same load.
//!
//! Run: `cargo bench --bench grpc` (`-- --claims N` to size it; `-- --profile unary` or
//! `-- --profile batched` to run one measure alone under a profiler).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use adjudicator::examples;
use claims_ledger::commands::Command;
use claims_ledger::grpc::Api;
use claims_ledger::processor::Service;
use ledger::event::{Gender, PaymentChannel, PremiumSource};
use ledger::{Amount, Currency, Date, RequestId, SledLog};
use proto::v1 as pb;
use proto::v1::ledger_service_client::LedgerServiceClient;
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

async fn setup(service: &Service<SledLog>) {
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn main() {
    let claims: usize = std::env::args()
        .skip_while(|a| a != "--claims")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let log = SledLog::open(dir.path().join("log")).unwrap();
        let service = Service::start(log.clone()).await.unwrap();
        setup(&service).await;
        let (_stop, stopping) = tokio::sync::watch::channel(false);
        let api = Api::new(service.clone(), stopping);
        // The server's own router and gate (development mode: no tokens); the empty handler
        // below is its health check, behind the same gate.
        let router = claims_ledger::server::router(api, Default::default(), None).await.unwrap();
        let incoming = tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap())
            .unwrap()
            .with_nodelay(Some(true));
        let url = format!("http://{}", incoming.local_addr().unwrap());
        tokio::spawn(router.serve_with_incoming(incoming));
        let channel = tonic::transport::Endpoint::from_shared(url).unwrap().connect().await.unwrap();

        // `--profile unary` or `--profile batched`: that measure alone (for perf), the
        // others shrunk to one call per client.
        let profile: Option<String> =
            std::env::args().skip_while(|a| a != "--profile").nth(1);
        let calls = |measure: &str| match &profile {
            Some(p) if p != measure => CLIENTS,
            _ => claims,
        };
        let (empty, empty_latency) = empty_handler(&channel, CLIENTS, calls("empty")).await;

        let ledger = LedgerServiceClient::new(channel.clone());
        let l = ledger.clone();
        let cpu_before_unary = cpu_time();
        let (unary, _) = load(CLIENTS, calls("unary"), move |i| {
            let mut l = l.clone();
            async move {
                let answer = l.submit_claim(claim(i)).await.unwrap().into_inner();
                // Every claim is a fresh, covered visit: adjudicated and accepted.
                assert_eq!(answer.decision.unwrap().status, pb::DecisionStatus::Accepted as i32);
            }
        })
        .await;

        let cpu_before_batched = cpu_time();
        const BATCH: usize = 500;
        let batches = calls("batched") / BATCH;
        let l = ledger.clone();
        let (batched, _) = load(8, batches, move |b| {
            let mut l = l.clone();
            async move {
                let claims = (0..BATCH).map(|k| claim(claims + b * BATCH + k)).collect();
                let answer = l
                    .submit_claims(pb::SubmitClaimsRequest {
                        facility_id: "KE-KSM-NYALENDA".into(),
                        claims,
                    })
                    .await
                    .unwrap()
                    .into_inner();
                assert!(answer.results.iter().all(|r| r.response.as_ref().and_then(|r| r.decision.as_ref())
                    .is_some_and(|d| d.status == pb::DecisionStatus::Accepted as i32)));
            }
        })
        .await;
        let cpu_after_batched = cpu_time();

        if let Some(p) = &profile {
            let (name, n, time, cpu) = match p.as_str() {
                "unary" => ("SubmitClaim", calls("unary"), unary, (cpu_before_unary, cpu_before_batched)),
                _ => ("SubmitClaims", batches * BATCH, batched, (cpu_before_batched, cpu_after_batched)),
            };
            println!("{name}: {:.0} claims/s", n as f64 / time.as_secs_f64());
            if let (Some(before), Some(after)) = cpu {
                let used = after.saturating_sub(before);
                println!(
                    "CPU: {:.0} us per claim, {:.2} cores busy",
                    used.as_secs_f64() * 1e6 / n as f64,
                    used.as_secs_f64() / time.as_secs_f64()
                );
            }
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
            println!(
                "| empty handler, {clients} clients | {:.0} calls/s | 1.00x | {:.2} ms | {:.2} ms |",
                rate(claims, empty_time),
                ms(&empty_lat, 0.50),
                ms(&empty_lat, 0.99)
            );
            for (name, (time, lat)) in [("GetBalance", balance), ("GetCoverage", coverage)] {
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
