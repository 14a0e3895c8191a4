//! The seed programmes' flows through gRPC on the real server binary (iPUSH is in
//! tests/grpc.rs): Pesinet's child subscription with half-paid medication (Mali), CBHI's
//! household premium in instalments with a waiting period (Rwanda), the Informed Push Model's
//! consumption payments and top-ups (Senegal), openIMIS capitation, review and reversal
//! (Tanzania). The same figures as the in-process scenario tests, checked by hand; then a
//! restart, after which every figure is still there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Channel, Server, date};
use pb::ledger_service_client::LedgerServiceClient;
use pb::query_service_client::QueryServiceClient;
use proto::v1 as pb;
use tonic::Code;

/// An amount in minor units: XOF and RWF have none below the unit, TZS has cents.
fn money(minor_units: i64, currency: &str) -> Option<pb::Money> {
    Some(pb::Money {
        minor_units,
        currency_code: currency.into(),
    })
}

fn ymd(text: &str) -> Option<pb::Date> {
    let p: Vec<i32> = text.split('-').map(|x| x.parse().unwrap()).collect();
    date(p[0], p[1], p[2])
}

struct Client {
    ledger: LedgerServiceClient<Channel>,
    query: QueryServiceClient<Channel>,
    n: u32,
}

impl Client {
    async fn new(server: &Server) -> Client {
        let channel = server.channel(None).await;
        Client {
            ledger: LedgerServiceClient::new(channel.clone()),
            query: QueryServiceClient::new(channel),
            n: 0,
        }
    }

    fn request_id(&mut self) -> String {
        self.n += 1;
        format!("p-{}", self.n)
    }

    async fn publish(&mut self, document: &str) {
        let request_id = self.request_id();
        self.ledger
            .publish_scheme(pb::PublishSchemeRequest {
                request_id,
                document: document.into(),
                effective_from: ymd("2026-01-01"),
            })
            .await
            .unwrap();
    }

    async fn household(&mut self, hh: &str, scheme: &str, category: &str) {
        let request_id = self.request_id();
        self.ledger
            .register_household(pb::RegisterHouseholdRequest {
                request_id,
                household_id: hh.into(),
                scheme_id: scheme.into(),
                location_code: "LOC-1".into(),
                socio_economic_category: category.into(),
                registered_on: ymd("2026-01-02"),
            })
            .await
            .unwrap();
    }

    async fn member(&mut self, m: &str, hh: &str, female: bool, birth: &str, facility: &str) {
        let request_id = self.request_id();
        self.ledger
            .enroll_member(pb::EnrollMemberRequest {
                request_id,
                member_id: m.into(),
                household_id: hh.into(),
                gender: if female {
                    pb::Gender::Female
                } else {
                    pb::Gender::Male
                } as i32,
                birth_date: ymd(birth),
                is_head: false,
                facility_id: facility.into(),
                enrolled_on: ymd("2026-01-02"),
            })
            .await
            .unwrap();
    }

    async fn premium(
        &mut self,
        receipt: &str,
        hh: &str,
        product: &str,
        amount: Option<pb::Money>,
        on: &str,
    ) -> Result<pb::PayPremiumResponse, tonic::Status> {
        let request_id = self.request_id();
        self.ledger
            .pay_premium(pb::PayPremiumRequest {
                period_start: None,
                request_id,
                receipt_id: receipt.into(),
                household_id: hh.into(),
                product_id: product.into(),
                amount,
                source: pb::PremiumSource::Direct as i32,
                paid_on: ymd(on),
            })
            .await
            .map(|r| r.into_inner())
    }

    /// Submits a claim; returns its id, status, first line's reason code and payer total.
    async fn claim(
        &mut self,
        member: &str,
        facility: &str,
        code: &str,
        on: &str,
        lines: &[(pb::LineKind, &str, u32)],
    ) -> (String, pb::DecisionStatus, i32, i64) {
        let request_id = self.request_id();
        let answer = self
            .ledger
            .submit_claim(pb::SubmitClaimRequest {
                request_id,
                claim_code: code.into(),
                facility_id: facility.into(),
                member_id: member.into(),
                date_from: ymd(on),
                date_to: None,
                claim_date: ymd(on),
                diagnosis_codes: vec![],
                lines: lines
                    .iter()
                    .enumerate()
                    .map(|(i, (kind, code, quantity))| pb::ClaimLine {
                        line_no: i as u32 + 1,
                        kind: *kind as i32,
                        code: (*code).into(),
                        quantity: *quantity,
                        asked_unit_price: None,
                    })
                    .collect(),
                decided_on: ymd(on),
            })
            .await
            .unwrap()
            .into_inner();
        let d = answer.decision.unwrap();
        (
            answer.claim_id,
            pb::DecisionStatus::try_from(d.status).unwrap(),
            d.lines[0].reason_code,
            d.total_payer.unwrap().minor_units,
        )
    }

    async fn close(&mut self, period: &str, scheme: &str, from: &str, to: &str) {
        let request_id = self.request_id();
        self.ledger
            .close_payment_period(pb::ClosePaymentPeriodRequest {
                request_id,
                period_id: period.into(),
                scheme_id: scheme.into(),
                starts_on: ymd(from),
                ends_on: ymd(to),
                closed_on: ymd(to),
            })
            .await
            .unwrap();
    }

    async fn statement(&mut self, facility: &str, period: &str) -> pb::FacilityStatement {
        self.query
            .get_facility_statement(pb::GetFacilityStatementRequest {
                line_page_size: 0,
                line_page_token: String::new(),
                facility_id: facility.into(),
                period_id: period.into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn claim_record(&mut self, claim_id: &str) -> pb::GetClaimResponse {
        self.query
            .get_claim(pb::GetClaimRequest {
                claim_id: claim_id.into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn trial_balance_is_zero(&mut self) {
        let totals = self
            .query
            .get_trial_balance(pb::GetTrialBalanceRequest::default())
            .await
            .unwrap()
            .into_inner()
            .totals;
        assert!(!totals.is_empty());
        for t in totals {
            assert_eq!(
                t.sum.as_ref().map(|m| m.minor_units),
                Some(0),
                "{}",
                t.currency_code
            );
        }
    }
}

use pb::LineKind::{Item, Service};

/// Pesinet (Mali): 500 XOF a child a month; a claim's medication paid at 50%.
async fn pesinet(c: &mut Client) -> String {
    c.publish(adjudicator::examples::PESINET_ML).await;
    c.household("HH-M1", "pesinet-ml", "").await;
    c.member("C-1", "HH-M1", false, "2022-05-01", "CSCOM-BKO-BANCONI")
        .await;
    c.member("C-2", "HH-M1", true, "2024-02-10", "CSCOM-BKO-BANCONI")
        .await;
    let too_much = c
        .premium(
            "OM-1",
            "HH-M1",
            "PESINET-CHILD",
            money(1001, "XOF"),
            "2026-07-01",
        )
        .await
        .unwrap_err();
    assert_eq!(too_much.code(), Code::FailedPrecondition);
    c.premium(
        "OM-1",
        "HH-M1",
        "PESINET-CHILD",
        money(1000, "XOF"),
        "2026-07-01",
    )
    .await
    .unwrap();
    // Examination 1,500 in full; antimalarial 901 at 50%: 450 (half-even of 450.5).
    let (claim, status, _, payer) = c
        .claim(
            "C-1",
            "CSCOM-BKO-BANCONI",
            "BAN-1",
            "2026-07-15",
            &[(Service, "EXAM-CHILD", 1), (Item, "ACT-PAED", 1)],
        )
        .await;
    assert_eq!((status, payer), (pb::DecisionStatus::Accepted, 1950));
    // The month of cover ends on the 31st: 2 August has no cover (21) until the renewal.
    let (_, status, reason, _) = c
        .claim(
            "C-2",
            "CSCOM-BKO-BANCONI",
            "BAN-2",
            "2026-08-02",
            &[(Service, "EXAM-CHILD", 1)],
        )
        .await;
    assert_eq!((status, reason), (pb::DecisionStatus::Rejected, 21));
    c.premium(
        "OM-2",
        "HH-M1",
        "PESINET-CHILD",
        money(1000, "XOF"),
        "2026-08-03",
    )
    .await
    .unwrap();
    let (_, status, _, _) = c
        .claim(
            "C-2",
            "CSCOM-BKO-BANCONI",
            "BAN-3",
            "2026-08-04",
            &[(Service, "EXAM-CHILD", 1)],
        )
        .await;
    assert_eq!(status, pb::DecisionStatus::Accepted);
    c.close("2026-08", "pesinet-ml", "2026-07-01", "2026-08-31")
        .await;
    let s = c.statement("CSCOM-BKO-BANCONI", "2026-08").await;
    assert_eq!(s.amount_due, money(3450, "XOF"), "1,950 + 1,500");
    claim
}

/// CBHI (Rwanda): category 3 pays 3,000 a member in instalments; one month of waiting.
async fn cbhi(c: &mut Client) {
    c.publish(adjudicator::examples::CBHI_RW).await;
    c.household("HH-R1", "cbhi-rw", "3").await;
    for (m, female) in [("R-1", true), ("R-2", false), ("R-3", true), ("R-4", false)] {
        c.member(m, "HH-R1", female, "1985-01-01", "").await;
    }
    let first = c
        .premium(
            "MM-1",
            "HH-R1",
            "CBHI-2026",
            money(5000, "RWF"),
            "2026-07-05",
        )
        .await
        .unwrap();
    c.premium(
        "MM-2",
        "HH-R1",
        "CBHI-2026",
        money(5000, "RWF"),
        "2026-07-20",
    )
    .await
    .unwrap();
    let (_, _, reason, _) = c
        .claim(
            "R-1",
            "RW-HC-KIMIRONKO",
            "K-1",
            "2026-07-22",
            &[(Service, "HC-CONSULT", 1)],
        )
        .await;
    assert_eq!(reason, 21, "10,000 of 12,000 paid: idle");
    c.premium(
        "MM-3",
        "HH-R1",
        "CBHI-2026",
        money(2000, "RWF"),
        "2026-07-25",
    )
    .await
    .unwrap();
    let coverage = c
        .query
        .get_coverage(pb::GetCoverageRequest {
            household_id: "HH-R1".into(),
            as_of_date: None,
        })
        .await
        .unwrap()
        .into_inner();
    let policy = coverage
        .policies
        .iter()
        .find(|p| p.policy_id == first.policy_id)
        .unwrap();
    assert_eq!(policy.status, pb::PolicyStatus::Active as i32);
    assert_eq!(
        (policy.effective_from, policy.expires_on),
        (ymd("2026-07-25"), ymd("2027-07-04"))
    );
    assert_eq!(policy.paid, money(12000, "RWF"));
    let before = c
        .query
        .get_coverage(pb::GetCoverageRequest {
            household_id: "HH-R1".into(),
            as_of_date: ymd("2026-07-21"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.policies[0].status, pb::PolicyStatus::Idle as i32);
    let (_, _, reason, _) = c
        .claim(
            "R-2",
            "RW-HC-KIMIRONKO",
            "K-2",
            "2026-08-24",
            &[(Service, "HC-CONSULT", 1)],
        )
        .await;
    // The month of waiting counts from the effective date, 25 July (the payment that
    // completed the premium), not from the first instalment on 5 July (openIMIS R17).
    assert_eq!(reason, 17, "waiting until 25 August");
    let waiting = c
        .query
        .check_eligibility(pb::CheckEligibilityRequest {
            member_id: "R-2".into(),
            date: ymd("2026-08-24"),
            codes: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            waiting.products[0].coverage_status(),
            waiting.products[0].from
        ),
        (pb::CoverageStatus::Waiting, ymd("2026-08-25"))
    );
    let (_, status, _, payer) = c
        .claim(
            "R-2",
            "RW-HC-KIMIRONKO",
            "K-3",
            "2026-08-25",
            &[(Service, "HC-CONSULT", 1)],
        )
        .await;
    assert_eq!(
        (status, payer),
        (pb::DecisionStatus::Accepted, 1805),
        "90% of 2,005"
    );
}

/// Informed Push Model (Senegal): consumption found at each visit, paid at the unit price.
async fn informed_push(c: &mut Client) {
    c.publish(adjudicator::examples::IPM_SN).await;
    let visit = async |c: &mut Client, on: &str, found: u64, losses: u64, delivered: u64| {
        let request_id = c.request_id();
        c.ledger
            .record_stock_visit(pb::RecordStockVisitRequest {
                request_id,
                facility_id: "SN-PS-THIAROYE".into(),
                product_code: "DMPA-SC".into(),
                visited_on: ymd(on),
                stock_found: found,
                losses,
                delivered,
                unit_price: money(250, "XOF"),
            })
            .await
            .unwrap()
            .into_inner()
    };
    visit(c, "2026-01-05", 20, 0, 30).await;
    let feb = visit(c, "2026-02-05", 10, 2, 40).await;
    assert_eq!(feb.consumed, Some(38), "50 - 2 lost - 10 found");
    let mar = visit(c, "2026-03-05", 12, 0, 40).await;
    assert_eq!(mar.suggested_top_up, 102, "3 months x 38 - 12 found");
    let apr = visit(c, "2026-04-05", 0, 0, 80).await;
    assert_eq!(
        (apr.consumed, apr.suggested_top_up),
        (Some(52), 114),
        "a stockout month is left out of the average"
    );
    c.close("2026-Q1", "ipm-sn", "2026-01-01", "2026-03-31")
        .await;
    let q1 = c.statement("SN-PS-THIAROYE", "2026-Q1").await;
    assert_eq!(q1.method, pb::PaymentMethod::Consumption as i32);
    assert_eq!(q1.amount_due, money(19000, "XOF"), "76 x 250");
}

/// openIMIS (Tanzania): a claim reviewed down, then reversed; capitation at the dispensary.
async fn openimis(c: &mut Client) -> String {
    c.publish(adjudicator::examples::OPENIMIS_TZ).await;
    c.household("HH-T1", "openimis-tz", "").await;
    for m in ["T-1", "T-2", "T-3"] {
        c.member(m, "HH-T1", true, "2015-01-01", "TZ-DISP-MVOMERO")
            .await;
    }
    c.premium(
        "TZ-P1",
        "HH-T1",
        "CHF-BASIC",
        money(3_200_000, "TZS"),
        "2026-01-10",
    )
    .await
    .unwrap();
    // Eligibility reports inpatient limits too: the inpatient deductible of 10,000 TZS per
    // member is whole before any claim, and there is no outpatient deductible.
    let eligibility = c
        .query
        .check_eligibility(pb::CheckEligibilityRequest {
            member_id: "T-2".into(),
            date: ymd("2026-03-20"),
            codes: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    let product = &eligibility.products[0];
    assert_eq!(product.coverage_status(), pb::CoverageStatus::Active);
    assert_eq!(
        product.deductible_left_member_inpatient,
        money(1_000_000, "TZS")
    );
    assert_eq!(product.deductible_left_member, None);
    assert_eq!(
        product.ceiling_left_member_inpatient,
        money(50_000_000, "TZS")
    );
    let (claim, status, reason, payer) = c
        .claim(
            "T-1",
            "TZ-HOSP-MOROGORO",
            "MOR-1",
            "2026-02-15",
            &[(Service, "XRAY-CHEST", 1), (Item, "AMOX-500", 20)],
        )
        .await;
    assert_eq!(
        (status, reason, payer),
        (pb::DecisionStatus::Accepted, 0, 2_235_000),
        "18,750.00 + 3,600.00 TZS"
    );
    let request_id = c.request_id();
    let reviewed = c
        .ledger
        .review_claim(pb::ReviewClaimRequest {
            request_id,
            claim_id: claim.clone(),
            reviewer: "MO-7".into(),
            reviewed_on: ymd("2026-02-20"),
            changes: vec![
                pb::LineReview {
                    line_no: 1,
                    approved_quantity: None,
                    unit_price: None,
                    reject: true,
                },
                pb::LineReview {
                    line_no: 2,
                    approved_quantity: Some(10),
                    unit_price: None,
                    reject: false,
                },
            ],
            comment: "no indication for the X-ray".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .claim
        .unwrap();
    assert_eq!(
        (reviewed.claim_status(), reviewed.total_payer),
        (pb::ClaimStatus::Partial, money(180_000, "TZS"))
    );
    let request_id = c.request_id();
    c.ledger
        .reverse_claim(pb::ReverseClaimRequest {
            request_id,
            claim_id: claim.clone(),
            reason: "entered twice".into(),
            reversed_on: ymd("2026-02-22"),
        })
        .await
        .unwrap();
    let request_id = c.request_id();
    let twice = c
        .ledger
        .reverse_claim(pb::ReverseClaimRequest {
            request_id,
            claim_id: claim.clone(),
            reason: "again".into(),
            reversed_on: ymd("2026-02-23"),
        })
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    c.close("2026-JF", "openimis-tz", "2026-01-01", "2026-02-28")
        .await;
    let dispensary = c.statement("TZ-DISP-MVOMERO", "2026-JF").await;
    assert_eq!(
        (dispensary.method, dispensary.amount_due),
        (pb::PaymentMethod::Capitation as i32, money(480_000, "TZS")),
        "3 members x 800 x 2 months"
    );
    let hospital = c.statement("TZ-HOSP-MOROGORO", "2026-JF").await;
    assert_eq!(
        hospital.amount_due,
        money(0, "TZS"),
        "accrued, then reversed"
    );
    claim
}

/// What must still be true after a restart.
async fn figures_hold(c: &mut Client, pesinet_claim: &str, openimis_claim: &str) {
    let p = c.claim_record(pesinet_claim).await;
    assert_eq!(
        (p.claim_status(), p.total_payer, p.total_copay),
        (
            pb::ClaimStatus::Accepted,
            money(1950, "XOF"),
            money(451, "XOF")
        )
    );
    let o = c.claim_record(openimis_claim).await;
    assert_eq!(o.claim_status(), pb::ClaimStatus::Reversed);
    assert_eq!(
        c.statement("CSCOM-BKO-BANCONI", "2026-08").await.amount_due,
        money(3450, "XOF")
    );
    assert_eq!(
        c.statement("SN-PS-THIAROYE", "2026-Q1").await.amount_due,
        money(19000, "XOF")
    );
    assert_eq!(
        c.statement("TZ-DISP-MVOMERO", "2026-JF").await.amount_due,
        money(480_000, "TZS")
    );
    let facility_payable = c
        .query
        .get_balance(pb::GetBalanceRequest {
            subject: Some(pb::get_balance_request::Subject::FacilityId(
                "RW-HC-KIMIRONKO".into(),
            )),
            currency_code: "RWF".into(),
            as_of_date: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(facility_payable.balance, money(1805, "RWF"));
    c.trial_balance_is_zero().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_seed_programmes_over_grpc_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut c = Client::new(&server).await;
    let pesinet_claim = pesinet(&mut c).await;
    cbhi(&mut c).await;
    informed_push(&mut c).await;
    let openimis_claim = openimis(&mut c).await;
    figures_hold(&mut c, &pesinet_claim, &openimis_claim).await;
    server.stop();

    let server = Server::start(dir.path());
    let mut c = Client::new(&server).await;
    figures_hold(&mut c, &pesinet_claim, &openimis_claim).await;
    server.stop();
}
