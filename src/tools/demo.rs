//! `claims-ledger demo`: a whole health-wallet programme in under a minute, through the real
//! gRPC API of an embedded server.
//!
//! It publishes the iPUSH example scheme with a generated district of facilities, registers a
//! synthetic population (households of one to seven members, ages and genders drawn from a
//! seeded generator), and then runs a month of activity from concurrent clients: mobile-money
//! savings that the county and a donor match, household premiums paid from the wallets (some
//! refused: not enough saved), claims submitted by each facility in offline batches and
//! adjudicated (some rejected by the rules), copays taken from the wallets, the month closed
//! into facility statements and part-paid. Then it prints what the ledger knows: wallets,
//! trial balance, coverage, claims, statements, and the verified head of the hash chain.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use ledger::chain::hex;
use ledger::codec::money_from_pb;
use ledger::{Amount, Currency};
use pb::audit_service_client::AuditServiceClient;
use pb::ledger_service_client::LedgerServiceClient;
use pb::query_service_client::QueryServiceClient;
use proto::v1 as pb;
use tonic::transport::Channel;

use crate::server::{self, Error, ServerConfig};
use crate::tools::rng::SplitMix64 as Rng;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub households: usize,
    /// Extra generated facilities (health centres and hospitals) besides the scheme's two.
    pub facilities: usize,
    /// Concurrent gRPC clients.
    pub clients: usize,
    pub seed: u64,
    /// Keep the log here (default: a temporary directory, removed at the end).
    pub data_dir: Option<PathBuf>,
    /// Partitions of the ledger (1 to 256).
    pub partitions: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            households: 3_000,
            facilities: 12,
            clients: 64,
            seed: 2026,
            data_dir: None,
            partitions: 1,
        }
    }
}

fn date(year: i32, month: i32, day: i32) -> Option<pb::Date> {
    Some(pb::Date { year, month, day })
}

fn kes(minor_units: i64) -> Option<pb::Money> {
    Some(pb::Money {
        minor_units,
        currency_code: "KES".into(),
    })
}

struct Member {
    id: String,
    female: bool,
    adult: bool,
    birth: (i32, i32, i32),
}

struct Household {
    id: String,
    members: Vec<Member>,
    /// Mobile-money deposits, in KES minor units.
    deposits: Vec<i64>,
}

struct Facility {
    id: String,
    hospital: bool,
}

/// The iPUSH example scheme with the generated facilities appended.
fn scheme_document(facilities: &[Facility]) -> String {
    let mut doc = adjudicator::examples::IPUSH_KE.to_owned();
    for f in facilities.iter().skip(2) {
        let (kind, level, care) = if f.hospital {
            ("sub-county hospital", "level_4", "B")
        } else {
            ("health centre", "level_3", "O")
        };
        let _ = write!(
            doc,
            "\n[[facilities]]\nid = \"{}\"\nname = \"Kisumu {kind} {}\"\nlevel = \"{level}\"\n\
             care_type = \"{care}\"\npayment_method = \"fee_for_service\"\n\
             price_list = \"KISUMU-2026\"\n",
            f.id,
            f.id.trim_start_matches("KE-KSM-")
        );
    }
    doc
}

fn population(options: &Options, rng: &mut Rng) -> (Vec<Facility>, Vec<Household>) {
    let mut facilities = vec![
        Facility {
            id: "KE-KSM-LUMUMBA".into(),
            hospital: true,
        },
        Facility {
            id: "KE-KSM-NYALENDA".into(),
            hospital: false,
        },
    ];
    for i in 1..=options.facilities {
        let hospital = i % 4 == 0;
        let id = if hospital {
            format!("KE-KSM-H{i:02}")
        } else {
            format!("KE-KSM-C{i:02}")
        };
        facilities.push(Facility { id, hospital });
    }
    let households = (1..=options.households)
        .map(|h| {
            let size = match rng.range(1, 100) {
                1..=15 => 1,
                16..=35 => 2,
                36..=55 => 3,
                56..=72 => 4,
                73..=85 => 5,
                86..=95 => 6,
                _ => 7,
            };
            let members = (0..size)
                .map(|m| {
                    // The head is an adult, most often a woman (iPUSH enrols mothers).
                    let adult = m < 2 || rng.chance(10);
                    let female = if m == 0 {
                        rng.chance(85)
                    } else {
                        rng.chance(50)
                    };
                    let year = if adult {
                        rng.range(1966, 2006)
                    } else {
                        rng.range(2010, 2025)
                    } as i32;
                    Member {
                        id: format!("M-{h:05}-{}", m + 1),
                        female,
                        adult,
                        birth: (year, rng.range(1, 12) as i32, rng.range(1, 28) as i32),
                    }
                })
                .collect();
            // Savings of KES 500 to 2,000 at a time, one to four times in the month.
            let deposits = (0..rng.range(1, 4))
                .map(|_| rng.range(5, 20) as i64 * 10_000)
                .collect();
            Household {
                id: format!("HH-{h:05}"),
                members,
                deposits,
            }
        })
        .collect();
    (facilities, households)
}

/// Counts answers by outcome: "ok" or the refusal's ErrorInfo reason.
#[derive(Default)]
struct Outcomes(Mutex<BTreeMap<String, u64>>);

impl Outcomes {
    fn record<T>(&self, result: &Result<T, tonic::Status>) {
        let key = match result {
            Ok(_) => "ok".to_owned(),
            Err(status) => tonic_types::StatusExt::get_details_error_info(status)
                .map(|i| i.reason)
                .unwrap_or_else(|| format!("{:?}", status.code())),
        };
        if let Ok(mut map) = self.0.lock() {
            *map.entry(key).or_default() += 1;
        }
    }
    fn summary(&self) -> String {
        let Ok(map) = self.0.lock() else {
            return String::new();
        };
        let refused: Vec<String> = map
            .iter()
            .filter(|(k, _)| *k != "ok")
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        let ok = map.get("ok").copied().unwrap_or(0);
        if refused.is_empty() {
            format!("{ok} ok")
        } else {
            format!("{ok} ok, refused: {}", refused.join(", "))
        }
    }
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>22} [{bar:36.cyan/blue}] {pos:>6}/{len:6} {per_sec:>10} {elapsed:>4}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// Runs `call` on every item from `clients` concurrent tasks, advancing `bar`.
async fn run_all<T, F, Fut, R>(items: Vec<T>, clients: usize, bar: &ProgressBar, call: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = R> + Send,
{
    let queue = Arc::new(Mutex::new(items.into_iter().enumerate()));
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let queue = queue.clone();
        let call = call.clone();
        let bar = bar.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.next());
                let Some((i, item)) = next else { break };
                out.push((i, call(item).await));
                bar.inc(1);
            }
            out
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        if let Ok(part) = task.await {
            results.extend(part);
        }
    }
    bar.finish();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

fn amount(money: Option<pb::Money>) -> Amount {
    money_from_pb("amount", money).unwrap_or(Amount::zero(Currency::KES))
}

/// Runs the demo and returns its report.
pub async fn run(options: Options) -> Result<String, Error> {
    let started = Instant::now();
    let (data_dir, temporary) = match &options.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("claims-ledger-demo-{}", std::process::id())),
            true,
        ),
    };
    let mut config = ServerConfig::new(
        data_dir.clone(),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        None,
        None,
        None,
        &[],
    )?;
    config.partitions = Some(ledger::partition::Partitions::new(u64::from(
        options.partitions,
    ))?);
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(
        config,
        move |bound| {
            let _ = bound_tx.send(bound);
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let bound = match bound_rx.await {
        Ok(b) => b,
        Err(_) => {
            return Err(match server.await {
                Ok(Err(e)) => e,
                _ => "the embedded server did not start".into(),
            });
        }
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", bound.grpc))?
        .connect()
        .await?;
    let result = workload(&options, channel).await;
    let _ = stop_tx.send(());
    server.await??;
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    let mut report = result?;
    let _ = writeln!(
        report,
        "\nDone in {:.1} s{}.",
        started.elapsed().as_secs_f64(),
        if temporary {
            String::new()
        } else {
            format!("; the log is in {}", data_dir.display())
        }
    );
    Ok(report)
}

/// The demo's district and the clients it drives, and how many commands it has sent.
struct Workload {
    households: Arc<Vec<Household>>,
    facilities: Vec<Facility>,
    ledger: LedgerServiceClient<Channel>,
    query: QueryServiceClient<Channel>,
    clients: usize,
    commands: u64,
}

/// What the claims came to: how many were sent, their decisions by status, the payer's
/// share, and the copays to collect.
struct ClaimResults {
    total: usize,
    decisions: BTreeMap<&'static str, u64>,
    payer_total: i64,
    copays: Vec<(String, Amount)>,
}

/// Runs the programme's season through gRPC, then reads the ledger back into a report.
async fn workload(options: &Options, channel: Channel) -> Result<String, Error> {
    let mut rng = Rng::new(options.seed);
    let (facilities, households) = population(options, &mut rng);
    let mut w = Workload {
        households: Arc::new(households),
        facilities,
        ledger: LedgerServiceClient::new(channel.clone()),
        query: QueryServiceClient::new(channel.clone()),
        clients: options.clients.max(1),
        commands: 0,
    };
    let t0 = Instant::now();
    publish_scheme(&mut w).await?;
    let enrolment = enrol(&mut w).await;
    let (savings, saved) = save(&mut w).await;
    let (premiums, covered, uncovered) = pay_premiums(&mut w).await;
    let batches = claim_batches(&w, &mut rng, &covered, &uncovered);
    let claims = submit_claims(&mut w, batches).await?;
    let copays = take_copays(&mut w, claims.copays.clone()).await;
    let statements = close_march(&mut w).await?;
    pay_facilities(&mut w, &statements).await;
    let elapsed = t0.elapsed();

    // The report: everything below is read back from the ledger.
    let mut report = String::new();
    let out = &mut report;
    let members: usize = w.households.iter().map(|h| h.members.len()).sum();
    let _ = writeln!(
        out,
        "\nclaims-ledger demo: iPUSH health wallet, Kisumu (seed {})",
        options.seed
    );
    let _ = writeln!(
        out,
        "  population: {} households, {members} members, {} facilities",
        w.households.len(),
        w.facilities.len()
    );
    let _ = writeln!(
        out,
        "  workload: {} commands through gRPC in {:.1} s ({:.0} commands/s, {} clients)",
        w.commands,
        elapsed.as_secs_f64(),
        w.commands as f64 / elapsed.as_secs_f64().max(1e-9),
        w.clients
    );
    let _ = writeln!(out, "  enrolment: {}", enrolment.summary());
    let _ = writeln!(
        out,
        "  savings: {} (members saved {})",
        savings.summary(),
        Amount::new(saved, Currency::KES)
    );
    let _ = writeln!(out, "  premiums: {}", premiums.summary());
    let _ = writeln!(
        out,
        "  claims: {} submitted: {}; payer share {}",
        claims.total,
        claims
            .decisions
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", "),
        Amount::new(claims.payer_total, Currency::KES)
    );
    let _ = writeln!(out, "  copays: {}", copays.summary());
    report_balances(&w, out).await?;
    report_coverage(&w, out).await?;
    report_statements(&w, out, &statements).await?;
    report_audit(channel, options.partitions, out).await?;
    Ok(report)
}

/// Step 1: The scheme, with the district's facilities.
async fn publish_scheme(w: &mut Workload) -> Result<(), Error> {
    w.ledger
        .clone()
        .publish_scheme(pb::PublishSchemeRequest {
            request_id: "demo-scheme".into(),
            document: scheme_document(&w.facilities),
            effective_from: date(2026, 1, 1),
        })
        .await?;
    w.commands += 1;

    Ok(())
}

/// Step 2: Households and members: households first, then their members (a member needs its
/// household).
async fn enrol(w: &mut Workload) -> Outcomes {
    let (ledger, households, clients) = (w.ledger.clone(), w.households.clone(), w.clients);
    let enrol = Outcomes::default();
    let enrolments: Vec<(usize, Option<usize>)> = (0..households.len())
        .flat_map(|h| {
            std::iter::once((h, None))
                .chain((0..households[h].members.len()).map(move |m| (h, Some(m))))
        })
        .collect();
    let (heads, rest): (Vec<_>, Vec<_>) = enrolments.into_iter().partition(|(_, m)| m.is_none());
    for (phase, items) in [("households", heads), ("members", rest)] {
        let b = bar(items.len(), phase);
        let (l, hs) = (ledger.clone(), households.clone());
        let results = run_all(items, clients, &b, move |(h, m)| {
            let (mut l, hs) = (l.clone(), hs.clone());
            async move {
                let hh = &hs[h];
                match m {
                    None => l
                        .register_household(pb::RegisterHouseholdRequest {
                            request_id: format!("reg-{}", hh.id),
                            household_id: hh.id.clone(),
                            scheme_id: "ipush-ke".into(),
                            location_code: "KSM".into(),
                            socio_economic_category: String::new(),
                            registered_on: date(2026, 1, 5),
                        })
                        .await
                        .map(|_| ()),
                    Some(m) => {
                        let member = &hh.members[m];
                        let (y, mo, d) = member.birth;
                        l.enroll_member(pb::EnrollMemberRequest {
                            request_id: format!("enrol-{}", member.id),
                            member_id: member.id.clone(),
                            household_id: hh.id.clone(),
                            gender: if member.female {
                                pb::Gender::Female
                            } else {
                                pb::Gender::Male
                            } as i32,
                            birth_date: date(y, mo, d),
                            is_head: m == 0,
                            facility_id: String::new(),
                            enrolled_on: date(2026, 1, 5),
                        })
                        .await
                        .map(|_| ())
                    }
                }
            }
        })
        .await;
        w.commands += results.len() as u64;
        results.iter().for_each(|r| enrol.record(r));
    }

    enrol
}

/// Step 3: Savings by mobile money; the county and the donor match them. Answers the outcomes
/// and what the members saved.
async fn save(w: &mut Workload) -> (Outcomes, i64) {
    let (ledger, households, clients) = (w.ledger.clone(), w.households.clone(), w.clients);
    let deposits: Vec<(usize, usize)> = households
        .iter()
        .enumerate()
        .flat_map(|(h, hh)| (0..hh.deposits.len()).map(move |d| (h, d)))
        .collect();
    let saved: i64 = households.iter().flat_map(|h| h.deposits.iter()).sum();
    let savings = Outcomes::default();
    let b = bar(deposits.len(), "savings");
    let (l, hs) = (ledger.clone(), households.clone());
    let results = run_all(deposits, clients, &b, move |(h, d)| {
        let (mut l, hs) = (l.clone(), hs.clone());
        async move {
            let hh = &hs[h];
            l.record_contribution(pb::RecordContributionRequest {
                request_id: format!("save-{}-{d}", hh.id),
                receipt_id: format!("MPESA-{}-{d}", hh.id),
                household_id: hh.id.clone(),
                member_id: hh.members[0].id.clone(),
                amount: kes(hh.deposits[d]),
                channel: pb::PaymentChannel::MobileMoney as i32,
                received_on: date(2026, 2, 1 + d as i32 * 7),
            })
            .await
        }
    })
    .await;
    w.commands += results.len() as u64;
    results.iter().for_each(|r| savings.record(r));

    (savings, saved)
}

/// Step 4: Premiums from the wallets: KES 6,000 a household, KES 500 per member above six.
/// Answers the outcomes, then the households covered and those not.
async fn pay_premiums(w: &mut Workload) -> (Outcomes, Vec<usize>, Vec<usize>) {
    let (ledger, households, clients) = (w.ledger.clone(), w.households.clone(), w.clients);
    let premiums = Outcomes::default();
    let b = bar(households.len(), "premiums");
    let (l, hs) = (ledger.clone(), households.clone());
    let paid = run_all((0..households.len()).collect(), clients, &b, move |h| {
        let (mut l, hs) = (l.clone(), hs.clone());
        async move {
            let hh = &hs[h];
            let extra = hh.members.len().saturating_sub(6) as i64;
            l.pay_premium(pb::PayPremiumRequest {
                period_start: None,
                request_id: format!("premium-{}", hh.id),
                receipt_id: format!("PREM-{}", hh.id),
                household_id: hh.id.clone(),
                product_id: "NHIF-SUPA".into(),
                amount: kes(600_000 + extra * 50_000),
                source: pb::PremiumSource::Wallet as i32,
                paid_on: date(2026, 2, 25),
            })
            .await
        }
    })
    .await;
    w.commands += paid.len() as u64;
    paid.iter().for_each(|r| premiums.record(r));
    let covered: Vec<usize> = paid
        .iter()
        .enumerate()
        .filter_map(|(h, r)| r.is_ok().then_some(h))
        .collect();
    let uncovered: Vec<usize> = paid
        .iter()
        .enumerate()
        .filter_map(|(h, r)| r.is_err().then_some(h))
        .collect();

    (premiums, covered, uncovered)
}

/// Step 5: Claims in March (mostly by covered households; a few uninsured walk in too), as each
/// facility sends them: offline batches of up to 50.
fn claim_batches(
    w: &Workload,
    rng: &mut Rng,
    covered: &[usize],
    uncovered: &[usize],
) -> Vec<pb::SubmitClaimsRequest> {
    let (households, facilities) = (&w.households, &w.facilities);
    let mut by_facility: BTreeMap<usize, Vec<pb::SubmitClaimRequest>> = BTreeMap::new();
    let claim_count = households.len() * 3 / 2;
    for n in 0..claim_count {
        // Mostly covered households; a few uninsured walk in too (the rules reject them).
        let pool = if uncovered.is_empty() || (rng.chance(92) && !covered.is_empty()) {
            covered
        } else {
            uncovered
        };
        if pool.is_empty() {
            break;
        }
        let hh = &households[pool[rng.range(0, pool.len() as u64 - 1) as usize]];
        let member = &hh.members[rng.range(0, hh.members.len() as u64 - 1) as usize];
        let f = rng.range(0, facilities.len() as u64 - 1) as usize;
        let day = rng.range(1, 31) as i32;
        let line = |no: u32, kind: pb::LineKind, code: &str, quantity: u32| pb::ClaimLine {
            line_no: no,
            kind: kind as i32,
            code: code.into(),
            quantity,
            asked_unit_price: None,
        };
        let woman = member.female && member.adult;
        let lines = match rng.range(1, 100) {
            1..=12 if woman => vec![
                line(1, pb::LineKind::Service, "ANC-VISIT", 1),
                line(2, pb::LineKind::Item, "FEFOL-60", 1),
                line(3, pb::LineKind::Item, "TT-VACCINE", 1),
            ],
            13..=16 if woman => vec![line(1, pb::LineKind::Service, "DELIVERY-NORMAL", 1)],
            17 if woman => vec![line(1, pb::LineKind::Service, "CAESAREAN", 1)],
            18..=40 if member.female => vec![
                line(1, pb::LineKind::Service, "OPD-VISIT", 1),
                line(2, pb::LineKind::Item, "FEFOL-60", 2),
            ],
            _ => vec![line(1, pb::LineKind::Service, "OPD-VISIT", 1)],
        };
        by_facility
            .entry(f)
            .or_default()
            .push(pb::SubmitClaimRequest {
                request_id: format!("claim-{n}"),
                claim_code: format!("{}-{n:06}", facilities[f].id.trim_start_matches("KE-KSM-")),
                facility_id: facilities[f].id.clone(),
                member_id: member.id.clone(),
                date_from: date(2026, 3, day),
                date_to: None,
                claim_date: date(2026, 3, day),
                diagnosis_codes: vec![],
                lines,
                decided_on: date(2026, 3, day),
            });
    }
    by_facility
        .into_iter()
        .flat_map(|(f, claims)| {
            let id = facilities[f].id.clone();
            claims
                .chunks(50)
                .map(|c| pb::SubmitClaimsRequest {
                    facility_id: id.clone(),
                    claims: c.to_vec(),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Step 5: The claim batches submitted, and what they came to.
async fn submit_claims(
    w: &mut Workload,
    batches: Vec<pb::SubmitClaimsRequest>,
) -> Result<ClaimResults, Error> {
    let (ledger, clients) = (w.ledger.clone(), w.clients);
    let claim_total: usize = batches.iter().map(|b| b.claims.len()).sum();
    let b = bar(batches.len(), "claim batches");
    let l = ledger.clone();
    let answered = run_all(batches, clients.min(16), &b, move |batch| {
        let mut l = l.clone();
        async move { l.submit_claims(batch).await }
    })
    .await;
    w.commands += claim_total as u64;
    let mut decisions: BTreeMap<&str, u64> = BTreeMap::new();
    let mut copays = Vec::new();
    let mut payer_total = 0i64;
    for batch in answered {
        for result in batch?.into_inner().results {
            let Some(response) = result.response else {
                *decisions.entry("refused").or_default() += 1;
                continue;
            };
            let Some(d) = response.decision else { continue };
            let status = match pb::DecisionStatus::try_from(d.status) {
                Ok(pb::DecisionStatus::Accepted) => "accepted",
                Ok(pb::DecisionStatus::Partial) => "partial",
                _ => "rejected",
            };
            *decisions.entry(status).or_default() += 1;
            payer_total += amount(d.total_payer).minor_units();
            let copay = amount(d.total_copay);
            if copay.minor_units() > 0 {
                copays.push((response.claim_id, copay));
            }
        }
    }

    Ok(ClaimResults {
        total: claim_total,
        decisions,
        payer_total,
        copays,
    })
}

/// Step 6: Copays taken from the wallets at the facility.
async fn take_copays(w: &mut Workload, copays: Vec<(String, Amount)>) -> Outcomes {
    let (ledger, clients) = (w.ledger.clone(), w.clients);
    let copay_outcomes = Outcomes::default();
    let b = bar(copays.len(), "copays");
    let l = ledger.clone();
    let results = run_all(copays, clients, &b, move |(claim_id, copay)| {
        let mut l = l.clone();
        async move {
            l.record_copayment(pb::RecordCopaymentRequest {
                request_id: format!("copay-{claim_id}"),
                receipt_id: format!("COPAY-{claim_id}"),
                claim_id,
                amount: Some(ledger::codec::money_to_pb(copay)),
                collected_on: date(2026, 3, 31),
            })
            .await
        }
    })
    .await;
    w.commands += results.len() as u64;
    results.iter().for_each(|r| copay_outcomes.record(r));

    copay_outcomes
}

/// Step 7: Close March: one statement per facility, issued in pages. Answers them by facility.
async fn close_march(w: &mut Workload) -> Result<BTreeMap<String, pb::FacilityStatement>, Error> {
    let mut statements = std::collections::BTreeMap::new();
    for page in 1.. {
        let closed = w
            .ledger
            .clone()
            .close_payment_period(pb::ClosePaymentPeriodRequest {
                request_id: format!("close-2026-03-{page}"),
                period_id: "2026-03".into(),
                scheme_id: "ipush-ke".into(),
                starts_on: date(2026, 3, 1),
                ends_on: date(2026, 3, 31),
                closed_on: date(2026, 4, 1),
            })
            .await?
            .into_inner();
        w.commands += 1;
        for s in closed.statements {
            statements.insert(s.facility_id.clone(), s);
        }
        if closed.facilities_pending == 0 {
            break;
        }
    }
    Ok(statements)
}

/// Step 7: The insurer pays most statements in full: every third facility 60% now, the rest
/// next month.
async fn pay_facilities(w: &mut Workload, statements: &BTreeMap<String, pb::FacilityStatement>) {
    let mut payouts = Vec::new();
    for (i, s) in statements.values().enumerate() {
        let due = amount(s.amount_due.clone()).minor_units();
        // Every third facility is paid 60% now, the rest next month.
        let pay = if i % 3 == 2 { due / 10 * 6 } else { due };
        if pay > 0 {
            payouts.push((s.facility_id.clone(), pay));
        }
    }
    let b = bar(payouts.len(), "payouts");
    let l = w.ledger.clone();
    let results = run_all(payouts, w.clients, &b, move |(facility, pay)| {
        let mut l = l.clone();
        async move {
            l.record_facility_payout(pb::RecordFacilityPayoutRequest {
                request_id: format!("payout-{facility}"),
                payout_id: format!("PAY-2026-03-{facility}"),
                facility_id: facility.clone(),
                period_id: "2026-03".into(),
                amount: kes(pay),
                channel: pb::PaymentChannel::Bank as i32,
                reference: format!("EFT-{facility}"),
                paid_on: date(2026, 4, 5),
            })
            .await
        }
    })
    .await;
    w.commands += results.len() as u64;
}

/// The report's balances: the household wallets and the trial balance.
async fn report_balances(w: &Workload, out: &mut String) -> Result<(), Error> {
    let (query, households, clients) = (&w.query, &w.households, w.clients);
    let b = bar(households.len(), "reading wallets");
    let q = query.clone();
    let wallets = run_all(
        households.iter().map(|h| h.id.clone()).collect(),
        clients,
        &b,
        move |id| {
            let mut q = q.clone();
            async move {
                q.get_balance(pb::GetBalanceRequest {
                    subject: Some(pb::get_balance_request::Subject::HouseholdId(id)),
                    currency_code: String::new(),
                    as_of_date: None,
                })
                .await
                .map(|r| amount(r.into_inner().balance).minor_units())
            }
        },
    )
    .await
    .into_iter()
    .collect::<Result<Vec<i64>, _>>()?;
    let held: i64 = wallets.iter().sum();
    let mut sorted = wallets.clone();
    sorted.sort_unstable();
    let trial = query
        .clone()
        .get_trial_balance(pb::GetTrialBalanceRequest::default())
        .await?
        .into_inner();
    let _ = writeln!(out, "\nBalances");
    let _ = writeln!(
        out,
        "  household wallets hold {} (median {}, largest {})",
        Amount::new(held, Currency::KES),
        Amount::new(
            sorted.get(sorted.len() / 2).copied().unwrap_or(0),
            Currency::KES
        ),
        Amount::new(sorted.last().copied().unwrap_or(0), Currency::KES),
    );
    for t in &trial.totals {
        let _ = writeln!(
            out,
            "  trial balance {}: {} (debits minus credits over every account)",
            t.currency_code,
            t.sum.as_ref().map_or(i64::MIN, |m| m.minor_units)
        );
    }

    Ok(())
}

/// The report's coverage: each household's policy status in mid-March.
async fn report_coverage(w: &Workload, out: &mut String) -> Result<(), Error> {
    let (query, households, clients) = (&w.query, &w.households, w.clients);
    let b = bar(households.len(), "reading coverage");
    let q = query.clone();
    let statuses = run_all(
        households.iter().map(|h| h.id.clone()).collect(),
        clients,
        &b,
        move |id| {
            let mut q = q.clone();
            async move {
                q.get_coverage(pb::GetCoverageRequest {
                    household_id: id,
                    as_of_date: date(2026, 3, 15),
                })
                .await
                .map(|r| r.into_inner().policies.first().map(|p| p.status))
            }
        },
    )
    .await;
    let mut coverage: BTreeMap<String, u64> = BTreeMap::new();
    for s in statuses {
        let name = match s? {
            Some(status) => pb::PolicyStatus::try_from(status)
                .map(|s| {
                    s.as_str_name()
                        .trim_start_matches("POLICY_STATUS_")
                        .to_lowercase()
                })
                .unwrap_or_else(|_| "unknown".into()),
            None => "no policy".into(),
        };
        *coverage.entry(name).or_default() += 1;
    }
    let _ = writeln!(out, "\nCoverage on 2026-03-15 (households)");
    for (status, n) in &coverage {
        let _ = writeln!(out, "  {status:<10} {n:>7}");
    }

    Ok(())
}

/// The report's statements, as the query service gives them.
async fn report_statements(
    w: &Workload,
    out: &mut String,
    statements: &BTreeMap<String, pb::FacilityStatement>,
) -> Result<(), Error> {
    let query = &w.query;
    let _ = writeln!(
        out,
        "\nFacility statements, 2026-03 (fee for service: payer shares + copays from wallets)"
    );
    let _ = writeln!(
        out,
        "  {:<18} {:>16} {:>16} {:>16}",
        "facility", "due", "paid", "outstanding"
    );
    let (mut due, mut paid_total, mut outstanding) = (0i64, 0i64, 0i64);
    for s in statements.values() {
        let s = query
            .clone()
            .get_facility_statement(pb::GetFacilityStatementRequest {
                line_page_size: 0,
                line_page_token: String::new(),
                facility_id: s.facility_id.clone(),
                period_id: "2026-03".into(),
            })
            .await?
            .into_inner();
        let (d, p, o) = (amount(s.amount_due), amount(s.paid), amount(s.outstanding));
        due += d.minor_units();
        paid_total += p.minor_units();
        outstanding += o.minor_units();
        let _ = writeln!(
            out,
            "  {:<18} {:>16} {:>16} {:>16}",
            s.facility_id,
            d.to_string(),
            p.to_string(),
            o.to_string()
        );
    }
    let _ = writeln!(
        out,
        "  {:<18} {:>16} {:>16} {:>16}",
        "total",
        Amount::new(due, Currency::KES).to_string(),
        Amount::new(paid_total, Currency::KES).to_string(),
        Amount::new(outstanding, Currency::KES).to_string()
    );

    Ok(())
}

/// The report's audit: the hash chains, one per partition, and (several) the anchor over
/// their heads.
async fn report_audit(channel: Channel, partitions: u32, out: &mut String) -> Result<(), Error> {
    let mut audit = AuditServiceClient::new(channel);
    let mut heads = Vec::new();
    for partition in 0..partitions {
        let verified = audit
            .verify_log(pb::VerifyLogRequest {
                from_position: 0,
                to_position: 0,
                partition,
            })
            .await?
            .into_inner();
        if !verified.ok {
            return Err(format!(
                "the hash chain of partition {partition} is broken at position {:?}: {}",
                verified.first_bad_position, verified.reason
            )
            .into());
        }
        let hash: [u8; 32] = verified.last_hash.as_slice().try_into().unwrap_or([0; 32]);
        heads.push((verified.head_position, hash));
    }
    let _ = writeln!(out, "\nAudit");
    let events: u64 = heads.iter().map(|(n, _)| n).sum();
    match heads.as_slice() {
        [(_, hash)] => {
            let _ = writeln!(
                out,
                "  hash chain verified over {events} events; head hash {}",
                hex(hash)
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "  hash chains verified over {events} events in {} partitions; anchor {}",
                heads.len(),
                hex(&ledger::chain::anchor(&heads))
            );
        }
    }
    Ok(())
}
