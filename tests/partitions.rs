//! The partitioned ledger: the same random command sequence, applied in the same order, gives
//! the same balances, coverage and claims with one partition and with four; each
//! partition's books balance alone; every event lands in its key's partition; a member is
//! enrolled in one partition only; a scheme version reaches every partition, also after a
//! publication cut short.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use adjudicator::examples;
use claims_ledger::api::history;
use claims_ledger::command::{Command, LineReview, Rejection, Subject};
use claims_ledger::partitioned::Ledger;
use claims_ledger::processor::{CommandError, rebuild};
use ledger::event::{ClaimLine, Event, Gender, LineKind, PaymentChannel, PremiumSource};
use ledger::ids::*;
use ledger::partition::Partitions;
use ledger::{Amount, Currency, Date, EventLog, MemoryLog, RequestId, StreamKind};
use projections::claims::partition_hash_of;
use projections::registry::{Recipient, Span};
use proptest::prelude::*;

const HOUSEHOLDS: usize = 8;
const FACILITIES: [&str; 2] = ["KE-KSM-NYALENDA", "KE-KSM-LUMUMBA"];
const CODES: [(LineKind, &str); 3] = [
    (LineKind::Service, "OPD-VISIT"),
    (LineKind::Service, "ANC-VISIT"),
    (LineKind::Item, "FEFOL-60"),
];

#[derive(Debug, Clone)]
enum Op {
    Contribute {
        hh: usize,
        shillings: i64,
    },
    Premium {
        hh: usize,
        shillings: i64,
        wallet: bool,
    },
    Claim {
        member: usize,
        facility: usize,
        lines: Vec<(usize, u32)>,
    },
    Review {
        claim: usize,
        reject: bool,
    },
    Reverse {
        claim: usize,
    },
    Copay {
        claim: usize,
    },
    /// Enrols an existing member into another household: refused either way.
    MoveMember {
        member: usize,
        hh: usize,
    },
    Close,
    Payout {
        facility: usize,
        shillings: i64,
    },
    Retry {
        back: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..HOUSEHOLDS, 1i64..4000).prop_map(|(hh, shillings)| Op::Contribute { hh, shillings }),
        2 => (0..HOUSEHOLDS, 1i64..7000, any::<bool>())
            .prop_map(|(hh, shillings, wallet)| Op::Premium { hh, shillings, wallet }),
        4 => (0..HOUSEHOLDS * 2, 0..FACILITIES.len(), proptest::collection::vec((0..CODES.len(), 1u32..4), 1..3))
            .prop_map(|(member, facility, lines)| Op::Claim { member, facility, lines }),
        1 => (0usize..20, any::<bool>()).prop_map(|(claim, reject)| Op::Review { claim, reject }),
        1 => (0usize..20).prop_map(|claim| Op::Reverse { claim }),
        1 => (0usize..20).prop_map(|claim| Op::Copay { claim }),
        1 => (0..HOUSEHOLDS * 2, 0..HOUSEHOLDS).prop_map(|(member, hh)| Op::MoveMember { member, hh }),
        1 => Just(Op::Close),
        1 => (0..FACILITIES.len(), 1i64..3000).prop_map(|(facility, shillings)| Op::Payout { facility, shillings }),
        1 => (1usize..10).prop_map(|back| Op::Retry { back }),
    ]
}

fn kes(shillings: i64) -> Amount {
    Amount::new(shillings * 100, Currency::KES)
}

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

fn day(n: u64) -> Date {
    Date::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(n)
}

async fn memory_ledger(partitions: u32) -> Ledger<MemoryLog> {
    let logs = (0..partitions)
        .map(|_| (MemoryLog::in_memory(), None))
        .collect();
    Ledger::start(logs).await.unwrap()
}

struct World {
    ledger: Ledger<MemoryLog>,
    sent: Vec<(RequestId, Command, Result<(), Rejection>)>,
    /// Claims in the order they were submitted (the same with any partition count).
    claims: Vec<ClaimId>,
    day: u64,
    periods: usize,
}

impl World {
    async fn new(partitions: u32) -> World {
        let mut w = World {
            ledger: memory_ledger(partitions).await,
            sent: Vec::new(),
            claims: Vec::new(),
            day: 31,
            periods: 0,
        };
        w.send(Command::PublishScheme {
            document: scheme(),
            effective_from: day(31),
        })
        .await;
        for h in 0..HOUSEHOLDS {
            w.send(Command::RegisterHousehold {
                household_id: id(&format!("HH-{h}")),
                scheme_id: id("ipush-ke"),
                location_code: "KSM".into(),
                socio_economic_category: String::new(),
                registered_on: day(31),
            })
            .await;
            for m in 0..2 {
                w.send(enrol(h * 2 + m, h)).await;
            }
        }
        w
    }

    async fn send(&mut self, command: Command) {
        let request = RequestId::new(format!("req-{}", self.sent.len())).unwrap();
        let result = match self.ledger.execute(request.clone(), command.clone()).await {
            Ok(receipt) => {
                if let (Subject::Claim(c), false) = (&receipt.subject, receipt.already_done) {
                    self.claims.push(c.clone());
                }
                Ok(())
            }
            Err(CommandError::Rejected(r)) => Err(r),
            Err(e) => panic!("{command:?}: {e}"),
        };
        self.sent.push((request, command, result));
    }

    fn claim(&self, i: usize) -> Option<ClaimId> {
        (!self.claims.is_empty()).then(|| self.claims[i % self.claims.len()].clone())
    }
}

/// iPUSH, its donor's matches within a yearly budget of 5,000 KES (which random savings
/// exhaust).
fn scheme() -> String {
    let donor = "name = \"PharmAccess donor fund\"\nmatch_percent = 50";
    assert!(examples::IPUSH_KE.contains(donor));
    examples::IPUSH_KE.replace(donor, &format!("{donor}\nbudget_per_year = \"5000 KES\""))
}

fn enrol(member: usize, hh: usize) -> Command {
    Command::EnrollMember {
        member_id: id(&format!("M-{member}")),
        household_id: id(&format!("HH-{hh}")),
        gender: if member.is_multiple_of(2) {
            Gender::Female
        } else {
            Gender::Male
        },
        birth_date: Date::from_ymd_opt(1990 + (member % 2) as i32 * 20, 1, 1).unwrap(),
        is_head: member.is_multiple_of(2),
        facility_id: None,
        enrolled_on: day(31),
    }
}

async fn apply(w: &mut World, op: &Op) {
    w.day += 1;
    let date = day(w.day);
    let n = w.sent.len();
    let command = match op {
        Op::Contribute { hh, shillings } => Command::RecordContribution {
            receipt_id: id(&format!("MP-{n}")),
            household_id: id(&format!("HH-{hh}")),
            member_id: None,
            amount: kes(*shillings),
            channel: PaymentChannel::MobileMoney,
            received_on: date,
        },
        Op::Premium {
            hh,
            shillings,
            wallet,
        } => Command::PayPremium {
            period_start: None,
            receipt_id: id(&format!("PR-{n}")),
            household_id: id(&format!("HH-{hh}")),
            product_id: id("NHIF-SUPA"),
            amount: kes(*shillings),
            source: if *wallet {
                PremiumSource::Wallet
            } else {
                PremiumSource::Direct
            },
            paid_on: date,
        },
        Op::Claim {
            member,
            facility,
            lines,
        } => Command::SubmitClaim {
            claim_code: id(&format!("C-{n}")),
            facility_id: id(FACILITIES[*facility]),
            member_id: id(&format!("M-{member}")),
            date_from: date,
            date_to: None,
            claim_date: date,
            diagnosis_codes: vec![],
            lines: lines
                .iter()
                .enumerate()
                .map(|(i, (c, q))| ClaimLine {
                    line_no: i as u32 + 1,
                    kind: CODES[*c].0,
                    code: id(CODES[*c].1),
                    quantity: *q,
                    asked_unit_price: None,
                })
                .collect(),
            today: date,
            today_given: true,
        },
        Op::Review { claim, reject } => {
            let Some(claim_id) = w.claim(*claim) else {
                return;
            };
            Command::ReviewClaim {
                claim_id,
                reviewer: "MO".into(),
                reviewed_on: date,
                changes: vec![LineReview {
                    line_no: 1,
                    approved_quantity: if *reject { None } else { Some(1) },
                    unit_price: None,
                    reject: *reject,
                }],
                comment: String::new(),
            }
        }
        Op::Reverse { claim } => {
            let Some(claim_id) = w.claim(*claim) else {
                return;
            };
            Command::ReverseClaim {
                claim_id,
                reason: "test".into(),
                reversed_on: date,
            }
        }
        Op::Copay { claim } => {
            let Some(claim_id) = w.claim(*claim) else {
                return;
            };
            Command::RecordCopay {
                receipt_id: id(&format!("CP-{n}")),
                claim_id,
                amount: kes(1),
                collected_on: date,
            }
        }
        Op::MoveMember { member, hh } => enrol(*member, *hh),
        Op::Close => {
            w.periods += 1;
            Command::ClosePaymentPeriod {
                period_id: id(&format!("P-{}", w.periods)),
                scheme_id: id("ipush-ke"),
                starts_on: day(w.day - 1),
                ends_on: date,
                closed_on: date,
            }
        }
        Op::Payout {
            facility,
            shillings,
        } => Command::RecordFacilityPayout {
            payout_id: id(&format!("PO-{n}")),
            facility_id: id(FACILITIES[*facility]),
            period_id: id(&format!("P-{}", w.periods.max(1))),
            amount: kes(*shillings),
            channel: PaymentChannel::Bank,
            reference: "EFT".into(),
            paid_on: date,
        },
        Op::Retry { back } => {
            let Some((request, command, Ok(()))) =
                w.sent.len().checked_sub(*back).map(|i| w.sent[i].clone())
            else {
                return;
            };
            let receipt = w.ledger.execute(request, command).await.unwrap();
            assert!(
                receipt.already_done,
                "a retry is answered with its first receipt"
            );
            return;
        }
    };
    w.send(command).await;
}

/// `text` without log positions (offsets in a partition differ with the partition count).
fn without_positions(text: String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = ["position: ", "submitted_at: ", "issued_at: "]
        .iter()
        .filter_map(|k| rest.find(k).map(|i| (i, k.len())))
        .min()
    {
        let (i, len) = at;
        out.push_str(&rest[..i + len]);
        rest = rest[i + len..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push('_');
    }
    out.push_str(rest);
    // A claim's list of where its events are.
    let mut text = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("events: [") {
        text.push_str(&rest[..i]);
        text.push_str("events: _");
        rest = rest[i..].split_once(']').map_or("", |(_, after)| after);
    }
    text.push_str(rest);
    text
}

/// What a household's partition says about it, rendered: wallet, coverage, its claims.
async fn household_view(w: &World, hh: usize) -> String {
    let household: HouseholdId = id(&format!("HH-{hh}"));
    let state = w
        .ledger
        .read(w.ledger.household_partition(&household))
        .await
        .unwrap();
    let p = &state.projections;
    let policies: Vec<String> = p
        .coverage
        .household_policies(&household)
        .map(|(id, record)| format!("{id} {record:?}"))
        .collect();
    without_positions(format!(
        "wallet {} registry {:?} policies {policies:?}",
        p.balances.wallet(&household, Currency::KES),
        p.registry.households.get(&household),
    ))
}

async fn claim_view(w: &World, claim: &ClaimId) -> String {
    let partition = w.ledger.claim_partition(claim).await.unwrap();
    let state = w.ledger.read(partition).await.unwrap();
    without_positions(format!("{:?}", state.projections.claims.get(claim)))
}

/// A facility's statements (in its partition): due, paid, whether complete, and their lines
/// in a canonical order (partitions list their parts in partition order).
async fn statements_view(w: &World, facility: &str) -> Vec<String> {
    let facility: FacilityId = id(facility);
    let partition = w.ledger.facility_partition(&facility);
    let state = w.ledger.read(partition).await.unwrap();
    let mut views = Vec::new();
    for (period, s) in state.projections.payments.statements_of(&facility) {
        let mut lines: Vec<String> = statement_lines(w, partition, s)
            .await
            .iter()
            .map(|l| format!("{l:?}"))
            .collect();
        lines.sort();
        views.push(format!(
            "{period} due {} paid {} more {} {lines:?}",
            s.due, s.paid, s.more
        ));
    }
    views
}

/// Every line of a statement, read from its partition's log.
async fn statement_lines(
    w: &World,
    partition: ledger::partition::Partition,
    s: &projections::payments::Statement,
) -> Vec<ledger::event::StatementLine> {
    let log = w.ledger.service(partition).log();
    history::statement_lines(log, s, 0, usize::MAX)
        .await
        .unwrap()
}

async fn facility_owed(w: &World, facility: &str) -> i64 {
    let mut owed = 0;
    for state in w.ledger.read_all().await.unwrap() {
        owed += state
            .projections
            .balances
            .facility_payable(&id(facility), Currency::KES)
            .minor_units();
    }
    owed
}

/// The ledger's digests, over every partition.
async fn ledger_digests(w: &World) -> projections::Digests {
    let states = w.ledger.read_all().await.unwrap();
    projections::canonical::ledger_digests(states.iter().map(|s| &s.projections))
}

/// Each partition balances alone, rebuilds to its live state, and holds only its own keys.
async fn check_partitions(w: &World) {
    let partitions = w.ledger.partitions();
    for partition in partitions.all() {
        let service = w.ledger.service(partition);
        let state = service.state().await;
        assert_eq!(state.projections.balances.trial_balance(Currency::KES), 0);
        let head = service.log().head().next_position;
        let rebuilt = rebuild(service.log(), head).await.unwrap();
        assert_eq!(rebuilt.projections.digests(), state.projections.digests());
        for e in service.log().read(0, usize::MAX).await.unwrap() {
            let home = match (e.stream.kind(), &e.event) {
                (StreamKind::Household, _) => partitions.of(e.stream.id()),
                (StreamKind::Claim, event) => {
                    if let Event::ClaimSubmitted(c) = event {
                        assert_eq!(partitions.of(c.household_id.as_str()), partition);
                    }
                    let hash = partition_hash_of(&id(e.stream.id())).unwrap();
                    partitions.of_hash(hash)
                }
                (StreamKind::Scheme | StreamKind::Period, _) => continue,
                (StreamKind::Facility, _) => partitions.of(e.stream.id()),
                (kind, _) => panic!("unexpected stream {kind:?} in this workload"),
            };
            assert_eq!(home, partition, "{} in partition {partition}", e.stream);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn one_partition_and_four_agree(ops in proptest::collection::vec(op(), 1..50)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let mut one = World::new(1).await;
            let mut four = World::new(4).await;
            for op in &ops {
                apply(&mut one, op).await;
                apply(&mut four, op).await;
            }
            let answers = |w: &World| w.sent.iter().map(|(_, _, r)| r.clone()).collect::<Vec<_>>();
            assert_eq!(answers(&one), answers(&four), "the same answers, command by command");
            assert_eq!(one.claims, four.claims, "the same claim ids");
            for hh in 0..HOUSEHOLDS {
                assert_eq!(household_view(&one, hh).await, household_view(&four, hh).await);
            }
            for claim in &one.claims {
                assert_eq!(claim_view(&one, claim).await, claim_view(&four, claim).await);
            }
            for f in FACILITIES {
                assert_eq!(facility_owed(&one, f).await, facility_owed(&four, f).await, "{f}");
                assert_eq!(
                    statements_view(&one, f).await,
                    statements_view(&four, f).await,
                    "{f}"
                );
            }
            // (Not the event count: four partitions record the scheme and closes in each.)
            let (d1, d4) = (ledger_digests(&one).await, ledger_digests(&four).await);
            let models = |d: &projections::Digests| [d.registry, d.balances, d.coverage, d.claims, d.payments];
            assert_eq!(models(&d1), models(&d4), "the ledger's digest does not depend on P");
            assert_eq!(d1.combined(), d4.combined());
            check_partitions(&one).await;
            check_partitions(&four).await;
        });
    }
}

/// Two households in different partitions of `p`.
fn households_apart(p: Partitions) -> (String, String) {
    let first = "HH-0".to_owned();
    let other = (1..)
        .map(|i| format!("HH-{i}"))
        .find(|h| p.of(h) != p.of(&first))
        .unwrap();
    (first, other)
}

#[tokio::test]
async fn a_member_id_is_enrolled_in_one_partition_only() {
    let w = World::new(4).await;
    let (a, b) = households_apart(w.ledger.partitions());
    let request = |s: &str| RequestId::new(s).unwrap();
    let move_to = |hh: &str| Command::EnrollMember {
        member_id: id("M-NEW"),
        household_id: id(hh),
        gender: Gender::Female,
        birth_date: day(0),
        is_head: false,
        facility_id: None,
        enrolled_on: day(40),
    };
    w.ledger
        .execute(request("new-in-a"), move_to(&a))
        .await
        .unwrap();
    let refused = w
        .ledger
        .execute(request("new-in-b"), move_to(&b))
        .await
        .unwrap_err();
    // What one partition answers for a member enrolled in another household.
    assert_eq!(
        refused,
        CommandError::Rejected(Rejection::MemberExists(id("M-NEW")))
    );
    // A claim for the member reaches its household's partition through the directory.
    assert_eq!(
        w.ledger.member_partition(&id("M-NEW")),
        Some(w.ledger.household_partition(&id(&a)))
    );
}

#[tokio::test]
async fn a_scheme_version_cut_short_reaches_every_partition_at_start() {
    // Partition 0 took a version the others never saw (a crash between partitions).
    let logs: Vec<MemoryLog> = (0..3).map(|_| MemoryLog::in_memory()).collect();
    let ledger = Ledger::start(logs.iter().map(|l| (l.clone(), None)).collect())
        .await
        .unwrap();
    ledger
        .service(Partitions::new(3).unwrap().get(0).unwrap())
        .execute(
            RequestId::new("publish").unwrap(),
            Command::PublishScheme {
                document: examples::IPUSH_KE.to_owned(),
                effective_from: day(0),
            },
        )
        .await
        .unwrap();
    ledger.shutdown().await;
    let restarted = Ledger::start(logs.iter().map(|l| (l.clone(), None)).collect())
        .await
        .unwrap();
    for service in restarted.services() {
        let state = service.state().await;
        let versions = &state.projections.registry.schemes[&id::<SchemeId>("ipush-ke")];
        assert_eq!(versions.len(), 1);
    }
    // Registering a household now works in whichever partition it lands.
    for h in 0..8 {
        restarted
            .execute(
                RequestId::new(format!("hh-{h}")).unwrap(),
                Command::RegisterHousehold {
                    household_id: id(&format!("HH-{h}")),
                    scheme_id: id("ipush-ke"),
                    location_code: "KSM".into(),
                    socio_economic_category: String::new(),
                    registered_on: day(1),
                },
            )
            .await
            .unwrap();
    }
}

/// A claim decided in its household's partition reaches its facility's statement in
/// another partition; the close records its cut in every partition, and a claim after the
/// cut (dated within the period) goes to the next statement.
#[tokio::test]
async fn a_claim_reaches_the_statement_of_a_facility_in_another_partition() {
    let mut w = World::new(4).await;
    let p = w.ledger.partitions();
    let facility = FACILITIES[0];
    // A member whose household is not in the facility's partition.
    let member = (0..HOUSEHOLDS * 2)
        .find(|m| p.of(&format!("HH-{}", m / 2)) != p.of(facility))
        .unwrap();
    let claim = |code: &str, on: u64| Command::SubmitClaim {
        claim_code: id(code),
        facility_id: id(facility),
        member_id: id(&format!("M-{member}")),
        date_from: day(on),
        date_to: None,
        claim_date: day(on),
        diagnosis_codes: vec![],
        lines: vec![ClaimLine {
            line_no: 1,
            kind: LineKind::Service,
            code: id("OPD-VISIT"),
            quantity: 1,
            asked_unit_price: None,
        }],
        today: day(on),
        today_given: true,
    };
    let close = |period: &str, to: u64| Command::ClosePaymentPeriod {
        period_id: id(period),
        scheme_id: id("ipush-ke"),
        starts_on: day(0),
        ends_on: day(to),
        closed_on: day(to),
    };
    w.send(Command::PayPremium {
        period_start: None,
        receipt_id: id("PR-1"),
        household_id: id(&format!("HH-{}", member / 2)),
        product_id: id("NHIF-SUPA"),
        amount: kes(6000),
        source: PremiumSource::Direct,
        paid_on: day(32),
    })
    .await;
    w.send(claim("C-1", 40)).await;
    w.send(close("P-1", 45)).await;
    // Dated before the first period's end, decided after its cut.
    w.send(claim("C-2", 44)).await;
    w.send(close("P-2", 50)).await;
    assert!(
        w.sent.iter().all(|(_, _, r)| r.is_ok()),
        "{:?}",
        w.sent.last()
    );

    let own = w.ledger.facility_partition(&id(facility));
    let state = w.ledger.read(own).await.unwrap();
    let payments = &state.projections.payments;
    let mut listed = Vec::new();
    for period in ["P-1", "P-2"] {
        let s = &payments.statements[&(id(facility), id(period))];
        let lines = statement_lines(&w, own, s).await;
        listed.push(
            lines
                .iter()
                .map(|l| l.reference.clone())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(listed[0], [w.claims[0].to_string()]);
    assert_eq!(listed[1], [w.claims[1].to_string()]);
    drop(state);
    // Every partition recorded each close: its cut.
    for service in w.ledger.services() {
        let state = service.state().await;
        assert!(state.projections.payments.periods.contains_key(&id("P-1")));
        assert!(state.projections.payments.periods.contains_key(&id("P-2")));
    }
    check_partitions(&w).await;
}

/// Savings in every partition at once: the donor's matches together never exceed its
/// yearly budget (1,000 KES here; eight savings of 1,000 KES would each draw 500).
#[tokio::test]
async fn a_sponsor_budget_is_never_exceeded_across_partitions() {
    let w = World::new(4).await;
    // A fresh year, so nothing was given yet: 2027's budget is 5,000 KES; draw it down to
    // 1,000 first with savings in one household (each matched 50%, 2,000 KES a saving).
    let year = Date::from_ymd_opt(2027, 1, 10).unwrap();
    let save = |receipt: String, hh: usize, shillings: i64| Command::RecordContribution {
        receipt_id: id(&receipt),
        household_id: id(&format!("HH-{hh}")),
        member_id: None,
        amount: kes(shillings),
        channel: PaymentChannel::MobileMoney,
        received_on: year,
    };
    w.ledger
        .execute(
            RequestId::new("draw").unwrap(),
            save("DRAW".into(), 0, 8000),
        )
        .await
        .unwrap();
    let mut savings = tokio::task::JoinSet::new();
    for hh in 0..HOUSEHOLDS {
        let ledger = w.ledger.clone();
        let command = save(format!("MP-{hh}"), hh, 1000);
        savings.spawn(async move {
            ledger
                .execute(RequestId::new(format!("save-{hh}")).unwrap(), command)
                .await
                .unwrap()
        });
    }
    savings.join_all().await;
    let mut given = 0i128;
    let mut households_matched = 0;
    for state in w.ledger.read_all().await.unwrap() {
        let registry = &state.projections.registry;
        let donor: SponsorId = id("phi-donor");
        given += registry.sponsored(&donor, Recipient::All, Span::Year(2027));
        households_matched += (0..HOUSEHOLDS)
            .filter(|hh| {
                registry.sponsored(
                    &donor,
                    Recipient::Household(id(&format!("HH-{hh}"))),
                    Span::Year(2027),
                ) > 0
            })
            .count();
    }
    // 4,000 to the first household's 8,000, then 1,000 left for the eight savings.
    assert_eq!(given, 500_000, "the whole budget, never more");
    assert!(households_matched >= 2, "{households_matched}");
    check_partitions(&w).await;
}

/// Receipt ids and (facility, claim code) are unique across partitions, as in one: a receipt
/// used by a household of another partition is refused, and a claim code used for a member
/// of another partition is answered with the original claim.
#[tokio::test]
async fn ids_used_in_another_partition_are_answered_as_one_partition_would() {
    let w = World::new(4).await;
    let (a, b) = households_apart(w.ledger.partitions());
    let (a, b): (usize, usize) = (a[3..].parse().unwrap(), b[3..].parse().unwrap());
    let request = |s: &str| RequestId::new(s).unwrap();
    let save = |hh: usize| Command::RecordContribution {
        receipt_id: id("MPESA-SHARED"),
        household_id: id(&format!("HH-{hh}")),
        member_id: None,
        amount: kes(100),
        channel: PaymentChannel::MobileMoney,
        received_on: day(40),
    };
    w.ledger.execute(request("save-a"), save(a)).await.unwrap();
    let refused = w
        .ledger
        .execute(request("save-b"), save(b))
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        CommandError::Rejected(Rejection::DuplicateReceipt("MPESA-SHARED".into()))
    );
    // The retry of the first is still its first answer.
    assert!(
        w.ledger
            .execute(request("save-a"), save(a))
            .await
            .unwrap()
            .already_done
    );

    let claim = |member: usize| Command::SubmitClaim {
        claim_code: id("SHARED-CODE"),
        facility_id: id(FACILITIES[0]),
        member_id: id(&format!("M-{member}")),
        date_from: day(40),
        date_to: None,
        claim_date: day(40),
        diagnosis_codes: vec![],
        lines: vec![ClaimLine {
            line_no: 1,
            kind: LineKind::Service,
            code: id("OPD-VISIT"),
            quantity: 1,
            asked_unit_price: None,
        }],
        today: day(40),
        today_given: true,
    };
    let first = w
        .ledger
        .execute(request("claim-a"), claim(a * 2))
        .await
        .unwrap();
    let again = w
        .ledger
        .execute(request("claim-b"), claim(b * 2))
        .await
        .unwrap();
    assert!(again.already_done, "a resubmission");
    assert_eq!(again.subject, first.subject);
    assert_eq!(again.partition, first.partition);
}
