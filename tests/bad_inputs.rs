//! The bad-input catalogue, against the real server binary: every case is a request a careless
//! or hostile client could send, across every RPC. Each must be refused with the exact status
//! code, the field named first in the message and in `ErrorInfo.metadata.field`, nothing
//! appended, and the service still answering afterwards (health SERVING, a query, a valid
//! command). RELIABILITY.md records the counts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Channel, RawBytes, Server, date, kes, token, tokens_config};
use pb::audit_service_client::AuditServiceClient;
use pb::ledger_service_client::LedgerServiceClient;
use pb::query_service_client::QueryServiceClient;
use proto::v1 as pb;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Who sends a case.
#[derive(Debug, Clone, Copy)]
enum Who {
    Admin,
    Insurer,
    Facility,
    Auditor,
    NoToken,
    BadToken,
    EmptyToken,
}

/// One request of the catalogue.
#[derive(Debug, Clone)]
enum Call {
    Publish(pb::PublishSchemeRequest),
    Register(pb::RegisterHouseholdRequest),
    Enroll(pb::EnrollMemberRequest),
    Contribution(pb::RecordContributionRequest),
    Premium(pb::PayPremiumRequest),
    Claim(pb::SubmitClaimRequest),
    Claims(pb::SubmitClaimsRequest),
    Review(pb::ReviewClaimRequest),
    Reverse(pb::ReverseClaimRequest),
    Copay(pb::RecordCopaymentRequest),
    Stock(pb::RecordStockVisitRequest),
    Close(pb::ClosePaymentPeriodRequest),
    Payout(pb::RecordFacilityPayoutRequest),
    Balance(pb::GetBalanceRequest),
    Eligibility(pb::CheckEligibilityRequest),
    GetClaim(pb::GetClaimRequest),
    ListClaims(pb::ListClaimsRequest),
    Coverage(pb::GetCoverageRequest),
    Statement(pb::GetFacilityStatementRequest),
    Statements(pb::ListFacilityStatementsRequest),
    ReadEvents(pb::ReadEventsRequest),
    Verify(pb::VerifyLogRequest),
    /// Bytes sent as they are to a method path.
    Raw(&'static str, Vec<u8>),
}

struct Case {
    name: String,
    who: Who,
    call: Call,
    code: Code,
    /// The field the refusal names (a prefix of it: `amount` covers
    /// `amount.currency_code`); empty for refusals by the transport (no details).
    field: &'static str,
}

fn case(name: impl Into<String>, who: Who, call: Call, code: Code, field: &'static str) -> Case {
    Case {
        name: name.into(),
        who,
        call,
        code,
        field,
    }
}

struct Clients {
    server: Server,
}

impl Clients {
    async fn channel(&self, who: Who) -> Channel {
        let t = match who {
            Who::Admin => Some(token("admin")),
            Who::Insurer => Some(token("insurer")),
            Who::Facility => Some(token("facility")),
            Who::Auditor => Some(token("auditor")),
            Who::NoToken => None,
            Who::BadToken => Some("not-a-token-of-this-ledger"),
            Who::EmptyToken => Some(""),
        };
        self.server.channel(t).await
    }

    /// Sends `call` as `who`; Ok when the server accepted it.
    async fn send(&self, who: Who, call: Call) -> Result<(), Status> {
        let channel = self.channel(who).await;
        let mut l = LedgerServiceClient::new(channel.clone());
        let mut q = QueryServiceClient::new(channel.clone());
        let mut a = AuditServiceClient::new(channel.clone());
        match call {
            Call::Publish(r) => l.publish_scheme(r).await.map(drop),
            Call::Register(r) => l.register_household(r).await.map(drop),
            Call::Enroll(r) => l.enroll_member(r).await.map(drop),
            Call::Contribution(r) => l.record_contribution(r).await.map(drop),
            Call::Premium(r) => l.pay_premium(r).await.map(drop),
            Call::Claim(r) => l.submit_claim(r).await.map(drop),
            Call::Claims(r) => {
                let results = l.submit_claims(r).await?.into_inner().results;
                // A batch answers each claim on its own: the first refusal stands for it.
                match results.into_iter().find(|r| r.code != 0) {
                    Some(r) => Err(Status::with_error_details(
                        Code::from(r.code),
                        r.message,
                        tonic_types::ErrorDetails::with_error_info(
                            r.reason,
                            "claims-ledger",
                            [("field".to_string(), r.field)],
                        ),
                    )),
                    None => Ok(()),
                }
            }
            Call::Review(r) => l.review_claim(r).await.map(drop),
            Call::Reverse(r) => l.reverse_claim(r).await.map(drop),
            Call::Copay(r) => l.record_copayment(r).await.map(drop),
            Call::Stock(r) => l.record_stock_visit(r).await.map(drop),
            Call::Close(r) => l.close_payment_period(r).await.map(drop),
            Call::Payout(r) => l.record_facility_payout(r).await.map(drop),
            Call::Balance(r) => q.get_balance(r).await.map(drop),
            Call::Eligibility(r) => q.check_eligibility(r).await.map(drop),
            Call::GetClaim(r) => q.get_claim(r).await.map(drop),
            Call::ListClaims(r) => q.list_claims(r).await.map(drop),
            Call::Coverage(r) => q.get_coverage(r).await.map(drop),
            Call::Statement(r) => q.get_facility_statement(r).await.map(drop),
            Call::Statements(r) => q.list_facility_statements(r).await.map(drop),
            Call::ReadEvents(r) => {
                let mut stream = a.read_events(r).await?.into_inner();
                while stream.message().await?.is_some() {}
                Ok(())
            }
            Call::Verify(r) => a.verify_log(r).await.map(drop),
            Call::Raw(path, bytes) => {
                let mut grpc = tonic::client::Grpc::new(channel);
                grpc.ready().await.unwrap();
                grpc.unary(
                    tonic::Request::new(RawBytes(bytes)),
                    path.parse().unwrap(),
                    tonic_prost::ProstCodec::<RawBytes, RawBytes>::default(),
                )
                .await
                .map(drop)
            }
        }
    }

    async fn head(&self) -> u64 {
        common::head_position(&self.server, Some(token("admin"))).await
    }

    async fn serving(&self) -> bool {
        use tonic_health::pb::health_client::HealthClient;
        let mut health = HealthClient::new(self.channel(Who::NoToken).await);
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        answer.status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    }
}

fn d(y: i32, m: i32, day: i32) -> Option<pb::Date> {
    date(y, m, day)
}

fn money(minor: i64, currency: &str) -> Option<pb::Money> {
    Some(pb::Money {
        minor_units: minor,
        currency_code: currency.into(),
    })
}

fn contribution(n: &str) -> pb::RecordContributionRequest {
    pb::RecordContributionRequest {
        request_id: format!("c-{n}"),
        receipt_id: format!("RCPT-{n}"),
        household_id: "HH-1".into(),
        member_id: String::new(),
        amount: kes(100),
        channel: pb::PaymentChannel::MobileMoney as i32,
        received_on: d(2026, 2, 1),
    }
}

fn premium() -> pb::PayPremiumRequest {
    pb::PayPremiumRequest {
        period_start: None,
        request_id: "bad-premium".into(),
        receipt_id: "PREM-BAD".into(),
        household_id: "HH-1".into(),
        product_id: "NHIF-SUPA".into(),
        amount: kes(100),
        source: pb::PremiumSource::Direct as i32,
        paid_on: d(2026, 2, 10),
    }
}

fn line(no: u32, code: &str, quantity: u32) -> pb::ClaimLine {
    pb::ClaimLine {
        line_no: no,
        kind: pb::LineKind::Item as i32,
        code: code.into(),
        quantity,
        asked_unit_price: None,
    }
}

fn claim() -> pb::SubmitClaimRequest {
    pb::SubmitClaimRequest {
        request_id: "bad-claim".into(),
        claim_code: "BAD-1".into(),
        facility_id: "KE-KSM-NYALENDA".into(),
        member_id: "M-1".into(),
        date_from: d(2026, 3, 5),
        date_to: None,
        claim_date: d(2026, 3, 5),
        diagnosis_codes: vec![],
        lines: vec![line(1, "FEFOL-60", 2), line(2, "FEFOL-60", 1)],
        decided_on: None,
    }
}

fn review() -> pb::ReviewClaimRequest {
    pb::ReviewClaimRequest {
        request_id: "bad-review".into(),
        claim_id: CLAIM.into(),
        reviewer: "dr-a".into(),
        reviewed_on: d(2026, 3, 10),
        changes: vec![pb::LineReview {
            line_no: 1,
            approved_quantity: Some(1),
            unit_price: None,
            reject: false,
        }],
        comment: String::new(),
    }
}

fn reverse() -> pb::ReverseClaimRequest {
    pb::ReverseClaimRequest {
        request_id: "bad-reverse".into(),
        claim_id: CLAIM.into(),
        reason: "duplicate".into(),
        reversed_on: d(2026, 3, 10),
    }
}

fn copay() -> pb::RecordCopaymentRequest {
    pb::RecordCopaymentRequest {
        request_id: "bad-copay".into(),
        receipt_id: "COPAY-BAD".into(),
        claim_id: CLAIM.into(),
        amount: kes(100),
        collected_on: d(2026, 3, 5),
    }
}

fn stock() -> pb::RecordStockVisitRequest {
    pb::RecordStockVisitRequest {
        request_id: "bad-stock".into(),
        facility_id: "KE-KSM-NYALENDA".into(),
        product_code: "FEFOL-60".into(),
        visited_on: d(2026, 3, 1),
        stock_found: 10,
        losses: 0,
        delivered: 5,
        unit_price: kes(35_000),
    }
}

fn close() -> pb::ClosePaymentPeriodRequest {
    pb::ClosePaymentPeriodRequest {
        request_id: "bad-close".into(),
        period_id: "2026-04".into(),
        scheme_id: "ipush-ke".into(),
        starts_on: d(2026, 4, 1),
        ends_on: d(2026, 4, 30),
        closed_on: d(2026, 5, 1),
    }
}

fn payout() -> pb::RecordFacilityPayoutRequest {
    pb::RecordFacilityPayoutRequest {
        request_id: "bad-payout".into(),
        payout_id: "PAY-BAD".into(),
        facility_id: "KE-KSM-NYALENDA".into(),
        period_id: "2026-03".into(),
        amount: kes(100),
        channel: pb::PaymentChannel::MobileMoney as i32,
        reference: "ref".into(),
        paid_on: d(2026, 4, 2),
    }
}

fn register() -> pb::RegisterHouseholdRequest {
    pb::RegisterHouseholdRequest {
        request_id: "bad-register".into(),
        household_id: "HH-BAD".into(),
        scheme_id: "ipush-ke".into(),
        location_code: "KSM".into(),
        socio_economic_category: String::new(),
        registered_on: d(2026, 1, 2),
    }
}

fn enroll() -> pb::EnrollMemberRequest {
    pb::EnrollMemberRequest {
        request_id: "bad-enroll".into(),
        member_id: "M-BAD".into(),
        household_id: "HH-1".into(),
        gender: pb::Gender::Male as i32,
        birth_date: d(1990, 1, 1),
        is_head: false,
        facility_id: String::new(),
        enrolled_on: d(2026, 1, 3),
    }
}

/// The claim the setup leaves for reviews, reversals and copays.
/// The first claim of HH-1: `CL-<murmur2 of "HH-1", made positive, in hex>-1`.
const CLAIM: &str = "CL-5BCEFA4C-1";
const LONG: usize = 10 * 1024;

/// Dates no business event can have, each with what it is.
fn bad_dates() -> Vec<(&'static str, Option<pb::Date>)> {
    vec![
        ("year 0", d(0, 1, 1)),
        ("year -5", d(-5, 6, 1)),
        ("9999-12-31", d(9999, 12, 31)),
        ("Feb 30", d(2026, 2, 30)),
        ("month 13", d(2026, 13, 1)),
        ("day 0", d(2026, 3, 0)),
        ("1899-12-31", d(1899, 12, 31)),
        ("missing", None),
    ]
}

/// Amounts no payment can have, each with what it is.
fn bad_amounts() -> Vec<(&'static str, Option<pb::Money>, Code)> {
    use Code::InvalidArgument as I;
    vec![
        ("negative", money(-5, "KES"), I),
        ("zero", money(0, "KES"), I),
        ("i64::MAX", money(i64::MAX, "KES"), I),
        ("i64::MIN", money(i64::MIN, "KES"), I),
        ("4e18", money(4_000_000_000_000_000_000, "KES"), I),
        (
            "beyond AMOUNT_MAX",
            money(ledger::bounds::AMOUNT_MAX + 1, "KES"),
            I,
        ),
        ("USD", money(100, "USD"), I),
        ("lowercase kes", money(100, "kes"), I),
        ("unknown XYZ", money(100, "XYZ"), I),
        ("empty currency", money(100, ""), I),
        ("missing", None, I),
    ]
}

fn catalogue() -> Vec<Case> {
    use Code::{
        AlreadyExists as Exists, FailedPrecondition as Pre, InvalidArgument as I, NotFound as Nf,
        PermissionDenied as Denied, Unauthenticated as Unauth,
    };
    use Who::*;
    let mut cases = Vec::new();
    let mut add =
        |name: String, who, call, code, field| cases.push(case(name, who, call, code, field));

    // Amounts, on every command that moves money.
    for (what, amount, code) in bad_amounts() {
        let mut c = contribution("bad");
        c.amount = amount.clone();
        add(
            format!("contribution amount {what}"),
            Insurer,
            Call::Contribution(c),
            code,
            "amount",
        );
        let mut p = premium();
        p.amount = amount.clone();
        add(
            format!("premium amount {what}"),
            Insurer,
            Call::Premium(p),
            code,
            "amount",
        );
        let mut c = copay();
        c.amount = amount.clone();
        add(
            format!("copay amount {what}"),
            Insurer,
            Call::Copay(c),
            code,
            "amount",
        );
        let mut p = payout();
        p.amount = amount;
        add(
            format!("payout amount {what}"),
            Insurer,
            Call::Payout(p),
            code,
            "amount",
        );
    }
    // Dates, on every command that carries one.
    for (what, date) in bad_dates() {
        let mut c = contribution("bad");
        c.received_on = date;
        add(
            format!("contribution received_on {what}"),
            Insurer,
            Call::Contribution(c),
            I,
            "received_on",
        );
        let mut c = claim();
        c.date_from = date;
        add(
            format!("claim date_from {what}"),
            Facility,
            Call::Claim(c),
            I,
            "date_from",
        );
        let mut r = register();
        r.registered_on = date;
        add(
            format!("household registered_on {what}"),
            Insurer,
            Call::Register(r),
            I,
            "registered_on",
        );
        let mut s = stock();
        s.visited_on = date;
        add(
            format!("stock visited_on {what}"),
            Insurer,
            Call::Stock(s),
            I,
            "visited_on",
        );
    }
    for (what, date) in bad_dates().into_iter().take(3) {
        let mut r = review();
        r.reviewed_on = date;
        add(
            format!("review reviewed_on {what}"),
            Insurer,
            Call::Review(r),
            I,
            "reviewed_on",
        );
        let mut c = claim();
        c.decided_on = date;
        add(
            format!("insurer claim decided_on {what}"),
            Insurer,
            Call::Claim(c),
            I,
            "decided_on",
        );
        let mut p = premium();
        p.paid_on = date;
        add(
            format!("premium paid_on {what}"),
            Insurer,
            Call::Premium(p),
            I,
            "paid_on",
        );
        let mut c = close();
        c.starts_on = date;
        add(
            format!("close starts_on {what}"),
            Insurer,
            Call::Close(c),
            I,
            "starts_on",
        );
    }
    // Dates before their subject existed.
    let mut c = contribution("bad");
    c.received_on = d(2026, 1, 1);
    add(
        "contribution before the household's registration".into(),
        Insurer,
        Call::Contribution(c),
        I,
        "received_on",
    );
    let mut p = premium();
    p.paid_on = d(2026, 1, 1);
    add(
        "premium before the household's registration".into(),
        Insurer,
        Call::Premium(p),
        I,
        "paid_on",
    );
    let mut e = enroll();
    e.enrolled_on = d(2025, 12, 31);
    add(
        "enrolment before the household's registration".into(),
        Insurer,
        Call::Enroll(e),
        I,
        "enrolled_on",
    );
    let mut e = enroll();
    e.birth_date = d(2026, 1, 5);
    add(
        "birth after enrolment".into(),
        Insurer,
        Call::Enroll(e),
        I,
        "birth_date",
    );
    let mut r = review();
    r.reviewed_on = d(2026, 3, 4);
    add(
        "review before the claim".into(),
        Insurer,
        Call::Review(r),
        I,
        "reviewed_on",
    );
    let mut r = reverse();
    r.reversed_on = d(2026, 3, 4);
    add(
        "reversal before the claim".into(),
        Insurer,
        Call::Reverse(r),
        I,
        "reversed_on",
    );
    let mut c = copay();
    c.collected_on = d(2026, 3, 4);
    add(
        "copay before the service".into(),
        Insurer,
        Call::Copay(c),
        I,
        "collected_on",
    );
    let mut c = claim();
    c.claim_date = d(2026, 3, 4);
    add(
        "claim date before the service date".into(),
        Facility,
        Call::Claim(c),
        I,
        "claim_date",
    );
    let mut c = claim();
    c.date_to = d(2026, 3, 1);
    add(
        "date_to before date_from".into(),
        Facility,
        Call::Claim(c),
        I,
        "date_to",
    );
    let mut c = close();
    c.ends_on = d(2026, 3, 1);
    add(
        "period ends before it starts".into(),
        Insurer,
        Call::Close(c),
        I,
        "ends_on",
    );
    let mut c = close();
    c.closed_on = d(2026, 4, 2);
    add(
        "period closed before it ends".into(),
        Insurer,
        Call::Close(c),
        I,
        "closed_on",
    );

    // Claim lines.
    let lines: Vec<(&str, Vec<pb::ClaimLine>, &'static str)> = vec![
        (
            "quantity 0",
            vec![line(1, "FEFOL-60", 0)],
            "lines[0].quantity",
        ),
        (
            "quantity u32::MAX",
            vec![line(1, "FEFOL-60", u32::MAX)],
            "lines[0].quantity",
        ),
        (
            "quantity beyond the maximum",
            vec![line(1, "FEFOL-60", ledger::bounds::QUANTITY_MAX + 1)],
            "lines[0].quantity",
        ),
        (
            "line_no 0",
            vec![line(0, "FEFOL-60", 1)],
            "lines[0].line_no",
        ),
        (
            "line_no repeated",
            vec![line(1, "FEFOL-60", 1), line(1, "OPD-VISIT", 1)],
            "lines[1].line_no",
        ),
        (
            "line_no beyond the lines",
            vec![line(1, "FEFOL-60", 1), line(5, "OPD-VISIT", 1)],
            "lines[1].line_no",
        ),
        ("no lines", vec![], "lines"),
        (
            "257 lines",
            (1..=257).map(|i| line(i, "FEFOL-60", 1)).collect(),
            "lines",
        ),
        (
            "10,000 lines",
            (1..=10_000).map(|i| line(i, "FEFOL-60", 1)).collect(),
            "lines",
        ),
        ("empty code", vec![line(1, "", 1)], "lines[0].code"),
        (
            "code with a space",
            vec![line(1, "FE FOL", 1)],
            "lines[0].code",
        ),
        (
            "code of 10 KB",
            vec![line(1, &"X".repeat(LONG), 1)],
            "lines[0].code",
        ),
    ];
    for (what, lines, field) in lines {
        let mut c = claim();
        c.lines = lines;
        add(format!("claim {what}"), Facility, Call::Claim(c), I, field);
    }
    let mut kind = claim();
    kind.lines[0].kind = 99;
    add(
        "claim line kind 99".into(),
        Facility,
        Call::Claim(kind),
        I,
        "lines[0].kind",
    );
    for (what, price) in [
        ("USD", money(100, "USD")),
        ("i64::MAX", money(i64::MAX, "KES")),
        ("negative", money(-1, "KES")),
        (
            "beyond UNIT_PRICE_MAX",
            money(ledger::bounds::UNIT_PRICE_MAX + 1, "KES"),
        ),
        ("lowercase currency", money(100, "kes")),
    ] {
        let mut c = claim();
        c.lines[0].asked_unit_price = price;
        add(
            format!("claim asked price {what}"),
            Facility,
            Call::Claim(c),
            I,
            "lines[0].asked_unit_price",
        );
    }
    // Claim identity, dates and roles.
    let mut c = claim();
    c.member_id = "M-NOBODY".into();
    add(
        "claim for an unknown member".into(),
        Facility,
        Call::Claim(c),
        Nf,
        "member_id",
    );
    let mut c = claim();
    c.claim_code = String::new();
    add(
        "claim without a code".into(),
        Facility,
        Call::Claim(c),
        I,
        "claim_code",
    );
    let mut c = claim();
    c.diagnosis_codes = (0..17).map(|i| format!("A{i:02}")).collect();
    add(
        "17 diagnosis codes".into(),
        Facility,
        Call::Claim(c),
        I,
        "diagnosis_codes",
    );
    let mut c = claim();
    c.diagnosis_codes = vec!["A0 1".into()];
    add(
        "diagnosis code with a space".into(),
        Facility,
        Call::Claim(c),
        I,
        "diagnosis_codes[0]",
    );
    let mut c = claim();
    c.decided_on = d(2026, 3, 6);
    add(
        "facility chooses its decision date".into(),
        Facility,
        Call::Claim(c),
        Denied,
        "decided_on",
    );
    let mut c = claim();
    c.facility_id = "KE-KSM-LUMUMBA".into();
    add(
        "facility claims for another facility".into(),
        Facility,
        Call::Claim(c),
        Denied,
        "facility_id",
    );
    let mut batch = pb::SubmitClaimsRequest {
        facility_id: "KE-KSM-NYALENDA".into(),
        claims: Vec::new(),
    };
    batch.claims = (0..10_001)
        .map(|i| {
            let mut c = claim();
            c.request_id = format!("batch-{i}");
            c.claim_code = format!("B-{i}");
            c
        })
        .collect();
    add(
        "a batch of 10,001 claims".into(),
        Facility,
        Call::Claims(batch),
        I,
        "claims",
    );
    let mut one = claim();
    one.lines[0].quantity = 0;
    add(
        "a batch whose claim has quantity 0".into(),
        Facility,
        Call::Claims(pb::SubmitClaimsRequest {
            facility_id: "KE-KSM-NYALENDA".into(),
            claims: vec![one],
        }),
        I,
        "lines[0].quantity",
    );

    // Request ids: malformed, and reused for another body, command or caller.
    for (what, id, field) in [
        ("empty", String::new(), "request_id"),
        ("10 KB", "r".repeat(LONG), "request_id"),
        ("with a space", "r 1".into(), "request_id"),
        ("non-ASCII", "réq-1".into(), "request_id"),
    ] {
        let mut c = contribution("bad");
        c.request_id = id.clone();
        add(
            format!("request_id {what}"),
            Insurer,
            Call::Contribution(c),
            I,
            field,
        );
        let mut c = claim();
        c.request_id = id;
        add(
            format!("claim request_id {what}"),
            Facility,
            Call::Claim(c),
            I,
            field,
        );
    }
    let mut c = contribution("1");
    c.amount = kes(999_900);
    add(
        "a used request id with another amount".into(),
        Insurer,
        Call::Contribution(c),
        Exists,
        "request_id",
    );
    let mut p = premium();
    p.request_id = "c-1".into();
    add(
        "a contribution's request id on PayPremium".into(),
        Insurer,
        Call::Premium(p),
        Exists,
        "request_id",
    );
    let mut r = review();
    r.request_id = "c-1".into();
    add(
        "a contribution's request id on ReviewClaim".into(),
        Insurer,
        Call::Review(r),
        Exists,
        "request_id",
    );
    let mut c = close();
    c.request_id = "c-1".into();
    add(
        "a contribution's request id on ClosePaymentPeriod".into(),
        Insurer,
        Call::Close(c),
        Exists,
        "request_id",
    );
    let mut c = claim();
    c.request_id = "c-1".into();
    add(
        "a contribution's request id on a facility's claim".into(),
        Facility,
        Call::Claim(c),
        Exists,
        "request_id",
    );
    let mut c = claim();
    c.request_id = "lumumba-claim".into();
    add(
        "another facility's claim request id".into(),
        Facility,
        Call::Claim(c),
        Exists,
        "request_id",
    );

    // Other ids and texts.
    for (what, value, code) in [
        ("empty", String::new(), I),
        ("10 KB", "h".repeat(LONG), I),
        ("with a slash-space", "HH 1".into(), I),
        ("unknown", "HH-NOBODY".into(), Nf),
    ] {
        let mut c = contribution("bad");
        c.household_id = value.clone();
        add(
            format!("contribution household_id {what}"),
            Insurer,
            Call::Contribution(c),
            code,
            "household_id",
        );
        let mut b = pb::GetBalanceRequest {
            subject: Some(pb::get_balance_request::Subject::HouseholdId(value.clone())),
            currency_code: String::new(),
            as_of_date: None,
        };
        if what == "unknown" {
            b.currency_code = "KES".into();
        }
        add(
            format!("balance household_id {what}"),
            Insurer,
            Call::Balance(b),
            code,
            "household_id",
        );
        let mut r = register();
        r.scheme_id = value;
        add(
            format!("household scheme_id {what}"),
            Insurer,
            Call::Register(r),
            code,
            "scheme_id",
        );
    }
    let mut c = contribution("bad");
    c.receipt_id = String::new();
    add(
        "contribution receipt_id empty".into(),
        Insurer,
        Call::Contribution(c),
        I,
        "receipt_id",
    );
    let mut c = contribution("bad");
    c.receipt_id = "MPESA-1".into();
    add(
        "contribution receipt_id used".into(),
        Insurer,
        Call::Contribution(c),
        Exists,
        "receipt_id",
    );
    let mut c = contribution("bad");
    c.member_id = "M-NOBODY".into();
    add(
        "contribution member unknown".into(),
        Insurer,
        Call::Contribution(c),
        Nf,
        "member_id",
    );
    let mut c = contribution("bad");
    c.channel = 99;
    add(
        "contribution channel 99".into(),
        Insurer,
        Call::Contribution(c),
        I,
        "channel",
    );
    let mut p = premium();
    p.product_id = "NO-SUCH-PRODUCT".into();
    add(
        "premium unknown product".into(),
        Insurer,
        Call::Premium(p),
        Nf,
        "product_id",
    );
    let mut p = premium();
    p.source = 99;
    add(
        "premium source 99".into(),
        Insurer,
        Call::Premium(p),
        I,
        "source",
    );
    let mut r = register();
    r.household_id = "HH-1".into();
    add(
        "household registered twice".into(),
        Insurer,
        Call::Register(r),
        Exists,
        "household_id",
    );
    let mut r = register();
    r.location_code = "L".repeat(2048);
    add(
        "household location_code of 2 KB".into(),
        Insurer,
        Call::Register(r),
        I,
        "location_code",
    );
    let mut e = enroll();
    e.member_id = "M-1".into();
    add(
        "member enrolled twice".into(),
        Insurer,
        Call::Enroll(e),
        Exists,
        "member_id",
    );
    let mut e = enroll();
    e.gender = 99;
    add(
        "member gender 99".into(),
        Insurer,
        Call::Enroll(e),
        I,
        "gender",
    );
    let mut e = enroll();
    e.facility_id = "KE-NO-SUCH".into();
    add(
        "member at an unknown facility".into(),
        Insurer,
        Call::Enroll(e),
        Nf,
        "facility_id",
    );
    let mut e = enroll();
    e.household_id = "HH-NOBODY".into();
    add(
        "member of an unknown household".into(),
        Insurer,
        Call::Enroll(e),
        Nf,
        "household_id",
    );

    // Reviews, reversals, copays.
    let mut r = review();
    r.claim_id = "CL-NOBODY".into();
    add(
        "review of an unknown claim".into(),
        Insurer,
        Call::Review(r),
        Nf,
        "claim_id",
    );
    let mut r = review();
    r.changes[0].line_no = 9;
    add(
        "review of a line not on the claim".into(),
        Insurer,
        Call::Review(r),
        I,
        "changes[0]",
    );
    let mut r = review();
    r.changes[0].approved_quantity = Some(0);
    add(
        "review to quantity 0".into(),
        Insurer,
        Call::Review(r),
        I,
        "changes[0]",
    );
    let mut r = review();
    r.changes[0].approved_quantity = Some(50);
    add(
        "review to a higher quantity".into(),
        Insurer,
        Call::Review(r),
        I,
        "changes[0]",
    );
    let mut r = review();
    r.changes[0].unit_price = money(1, "USD");
    add(
        "review price in USD".into(),
        Insurer,
        Call::Review(r),
        I,
        "changes[0]",
    );
    let mut r = review();
    r.changes[0].unit_price = money(i64::MAX, "KES");
    add(
        "review price above the line's".into(),
        Insurer,
        Call::Review(r),
        I,
        "changes[0]",
    );
    let mut r = review();
    r.reviewer = "r".repeat(2048);
    add(
        "reviewer of 2 KB".into(),
        Insurer,
        Call::Review(r),
        I,
        "reviewer",
    );
    let mut r = review();
    r.comment = "c".repeat(2048);
    add(
        "review comment of 2 KB".into(),
        Insurer,
        Call::Review(r),
        I,
        "comment",
    );
    let mut r = reverse();
    r.claim_id = "CL-NOBODY".into();
    add(
        "reversal of an unknown claim".into(),
        Insurer,
        Call::Reverse(r),
        Nf,
        "claim_id",
    );
    let mut r = reverse();
    r.reason = "x".repeat(2048);
    add(
        "reversal reason of 2 KB".into(),
        Insurer,
        Call::Reverse(r),
        I,
        "reason",
    );
    let mut c = copay();
    c.amount = kes(1_000_000);
    add(
        "copay above what is owed".into(),
        Insurer,
        Call::Copay(c),
        Pre,
        "amount",
    );
    let mut c = copay();
    c.claim_id = "CL-NOBODY".into();
    add(
        "copay for an unknown claim".into(),
        Insurer,
        Call::Copay(c),
        Nf,
        "claim_id",
    );

    // Stock visits.
    for (what, set) in [
        ("stock_found u64::MAX", (u64::MAX, 0, 0)),
        ("losses u64::MAX", (0, u64::MAX, 0)),
        ("delivered u64::MAX", (0, 0, u64::MAX)),
        (
            "stock_found beyond the maximum",
            (ledger::bounds::STOCK_UNITS_MAX + 1, 0, 0),
        ),
    ] {
        let mut s = stock();
        (s.stock_found, s.losses, s.delivered) = set;
        let field = match what.split(' ').next().unwrap() {
            "stock_found" => "stock_found",
            "losses" => "losses",
            _ => "delivered",
        };
        add(format!("stock {what}"), Insurer, Call::Stock(s), I, field);
    }
    for (what, price) in [
        ("i64::MAX", money(i64::MAX, "KES")),
        ("negative", money(-1, "KES")),
        (
            "beyond UNIT_PRICE_MAX",
            money(ledger::bounds::UNIT_PRICE_MAX + 1, "KES"),
        ),
    ] {
        let mut s = stock();
        s.unit_price = price;
        add(
            format!("stock unit_price {what}"),
            Insurer,
            Call::Stock(s),
            I,
            "unit_price",
        );
    }
    let mut s = stock();
    s.facility_id = "KE-NO-SUCH".into();
    add(
        "stock at an unknown facility".into(),
        Insurer,
        Call::Stock(s),
        Nf,
        "facility_id",
    );
    let mut s = stock();
    s.product_code = String::new();
    add(
        "stock without a product".into(),
        Insurer,
        Call::Stock(s),
        I,
        "product_code",
    );

    // Periods and payouts.
    let mut c = close();
    c.scheme_id = "no-such-scheme".into();
    add(
        "close of an unknown scheme".into(),
        Insurer,
        Call::Close(c),
        Nf,
        "scheme_id",
    );
    let mut c = close();
    c.period_id = "2026-03".into();
    add(
        "close of a closed period".into(),
        Insurer,
        Call::Close(c),
        Exists,
        "period_id",
    );
    let mut c = close();
    c.period_id = String::new();
    add(
        "close without a period".into(),
        Insurer,
        Call::Close(c),
        I,
        "period_id",
    );
    let mut p = payout();
    p.period_id = "2027-01".into();
    add(
        "payout of a period without a statement".into(),
        Insurer,
        Call::Payout(p),
        Nf,
        "period_id",
    );
    let mut p = payout();
    p.paid_on = d(0, 1, 1);
    add(
        "payout paid_on year 0".into(),
        Insurer,
        Call::Payout(p),
        I,
        "paid_on",
    );
    let mut p = payout();
    p.reference = "r".repeat(2048);
    add(
        "payout reference of 2 KB".into(),
        Insurer,
        Call::Payout(p),
        I,
        "reference",
    );

    // Schemes.
    let publish = |document: String, effective_from| pb::PublishSchemeRequest {
        request_id: "bad-publish".into(),
        document,
        effective_from,
    };
    let ipush = adjudicator::examples::IPUSH_KE;
    add(
        "scheme of garbage".into(),
        Admin,
        Call::Publish(publish("{{{ not toml".into(), d(2026, 1, 1))),
        I,
        "document",
    );
    add(
        "empty scheme".into(),
        Admin,
        Call::Publish(publish(String::new(), d(2026, 1, 1))),
        I,
        "document",
    );
    let priced = ipush.replace("version = 1", "version = 7").replacen(
        "price = \"1200 KES\"",
        "price = \"92233720368547758.07 KES\"",
        1,
    );
    add(
        "scheme with a price of i64::MAX".into(),
        Admin,
        Call::Publish(publish(priced, d(2026, 1, 1))),
        I,
        "document",
    );
    add(
        "scheme effective in year 0".into(),
        Admin,
        Call::Publish(publish(
            ipush.replace("version = 1", "version = 8"),
            d(0, 1, 1),
        )),
        I,
        "effective_from",
    );
    add(
        "scheme version already published".into(),
        Admin,
        Call::Publish(publish(ipush.into(), d(2026, 1, 1))),
        Exists,
        "version",
    );
    add(
        "insurer publishes a scheme".into(),
        Insurer,
        Call::Publish(publish(ipush.into(), d(2026, 1, 1))),
        Denied,
        "authorization",
    );

    // Queries.
    let facility_balance = |currency: &str| pb::GetBalanceRequest {
        subject: Some(pb::get_balance_request::Subject::FacilityId(
            "KE-KSM-NYALENDA".into(),
        )),
        currency_code: currency.into(),
        as_of_date: None,
    };
    for (what, currency) in [
        ("unknown currency", "XYZ"),
        ("empty currency", ""),
        ("10 KB currency", "K"),
    ] {
        let currency = if what.starts_with("10 KB") {
            "K".repeat(LONG)
        } else {
            currency.to_string()
        };
        add(
            format!("facility balance {what}"),
            Insurer,
            Call::Balance(facility_balance(&currency)),
            I,
            "currency_code",
        );
    }
    add(
        "balance without a subject".into(),
        Insurer,
        Call::Balance(pb::GetBalanceRequest {
            subject: None,
            currency_code: String::new(),
            as_of_date: None,
        }),
        I,
        "subject",
    );
    let mut b = facility_balance("KES");
    b.as_of_date = d(2026, 2, 30);
    add(
        "balance as of Feb 30".into(),
        Insurer,
        Call::Balance(b),
        I,
        "as_of_date",
    );
    add(
        "eligibility for a code with a space".into(),
        Facility,
        Call::Eligibility(pb::CheckEligibilityRequest {
            member_id: "M-1".into(),
            date: d(2026, 3, 5),
            codes: vec!["FE FOL".into()],
        }),
        I,
        "codes[0]",
    );

    add(
        "eligibility on month 13".into(),
        Facility,
        Call::Eligibility(pb::CheckEligibilityRequest {
            member_id: "M-1".into(),
            date: d(2026, 13, 5),
            codes: vec![],
        }),
        I,
        "date",
    );
    add(
        "an unknown claim".into(),
        Insurer,
        Call::GetClaim(pb::GetClaimRequest {
            claim_id: "CL-NOBODY".into(),
        }),
        Nf,
        "claim_id",
    );
    add(
        "a claim id of 10 KB".into(),
        Insurer,
        Call::GetClaim(pb::GetClaimRequest {
            claim_id: "c".repeat(LONG),
        }),
        I,
        "claim_id",
    );
    let list = |token: &str, size: u32, status: &str| pb::ListClaimsRequest {
        facility_id: String::new(),
        member_id: String::new(),
        status: status.into(),
        page_size: size,
        page_token: token.into(),
    };
    add(
        "claims with a bogus page token".into(),
        Insurer,
        Call::ListClaims(list("bogus!", 0, "")),
        I,
        "page_token",
    );
    add(
        "claims with a page of 100,000".into(),
        Insurer,
        Call::ListClaims(list("", 100_000, "")),
        I,
        "page_size",
    );
    add(
        "claims with an unknown status".into(),
        Insurer,
        Call::ListClaims(list("", 0, "MAYBE")),
        I,
        "status",
    );
    let statements = |token: &str, size: u32| pb::ListFacilityStatementsRequest {
        facility_id: "KE-KSM-NYALENDA".into(),
        page_size: size,
        page_token: token.into(),
    };
    add(
        "statements with a bogus page token".into(),
        Insurer,
        Call::Statements(statements("bogus!", 0)),
        I,
        "page_token",
    );
    add(
        "statements with a page of 100,000".into(),
        Insurer,
        Call::Statements(statements("", 100_000)),
        I,
        "page_size",
    );
    add(
        "coverage of an unknown household".into(),
        Insurer,
        Call::Coverage(pb::GetCoverageRequest {
            household_id: "HH-NOBODY".into(),
            as_of_date: None,
        }),
        Nf,
        "household_id",
    );
    add(
        "an unknown statement".into(),
        Insurer,
        Call::Statement(pb::GetFacilityStatementRequest {
            line_page_size: 0,
            line_page_token: String::new(),
            facility_id: "KE-KSM-NYALENDA".into(),
            period_id: "2030-01".into(),
        }),
        Nf,
        "period_id",
    );
    add(
        "a facility reads another facility's statement".into(),
        Facility,
        Call::Statement(pb::GetFacilityStatementRequest {
            line_page_size: 0,
            line_page_token: String::new(),
            facility_id: "KE-KSM-LUMUMBA".into(),
            period_id: "2026-03".into(),
        }),
        Denied,
        "facility_id",
    );

    add(
        "wallet balance in lowercase kes".into(),
        Insurer,
        Call::Balance(pb::GetBalanceRequest {
            subject: Some(pb::get_balance_request::Subject::HouseholdId("HH-1".into())),
            currency_code: "kes".into(),
            as_of_date: None,
        }),
        I,
        "currency_code",
    );
    add(
        "wallet balance in another currency".into(),
        Insurer,
        Call::Balance(pb::GetBalanceRequest {
            subject: Some(pb::get_balance_request::Subject::HouseholdId("HH-1".into())),
            currency_code: "XOF".into(),
            as_of_date: None,
        }),
        I,
        "currency_code",
    );
    add(
        "statements with a well-formed token this server never issued".into(),
        Insurer,
        Call::Statements(statements("2099-01", 0)),
        I,
        "page_token",
    );
    add(
        "claims with a well-formed token this server never issued".into(),
        Insurer,
        Call::ListClaims(list("CL-9999999999", 0, "")),
        I,
        "page_token",
    );

    // Audit.
    add(
        "read events beyond the head".into(),
        Auditor,
        Call::ReadEvents(pb::ReadEventsRequest {
            from_position: 1_000_000,
            limit: 10,
            partition: 0,
        }),
        Code::OutOfRange,
        "from_position",
    );
    add(
        "read events, a limit beyond the maximum".into(),
        Auditor,
        Call::ReadEvents(pb::ReadEventsRequest {
            from_position: 0,
            limit: 1_000_000,
            partition: 0,
        }),
        I,
        "limit",
    );
    add(
        "verify from beyond the head".into(),
        Auditor,
        Call::Verify(pb::VerifyLogRequest {
            from_position: 1_000_000,
            to_position: 0,
            partition: 0,
        }),
        Code::OutOfRange,
        "from_position",
    );
    add(
        "verify to before from".into(),
        Auditor,
        Call::Verify(pb::VerifyLogRequest {
            from_position: 5,
            to_position: 2,
            partition: 0,
        }),
        I,
        "to_position",
    );
    add(
        "read events of a partition the ledger does not have".into(),
        Auditor,
        Call::ReadEvents(pb::ReadEventsRequest {
            from_position: 0,
            limit: 10,
            partition: 1,
        }),
        I,
        "partition",
    );
    add(
        "verify a partition the ledger does not have".into(),
        Auditor,
        Call::Verify(pb::VerifyLogRequest {
            from_position: 0,
            to_position: 0,
            partition: u32::MAX,
        }),
        I,
        "partition",
    );

    // Who is calling.
    add(
        "no token".into(),
        NoToken,
        Call::Contribution(contribution("bad")),
        Unauth,
        "authorization",
    );
    add(
        "a token this ledger does not know".into(),
        BadToken,
        Call::Contribution(contribution("bad")),
        Unauth,
        "authorization",
    );
    add(
        "an empty token".into(),
        EmptyToken,
        Call::Contribution(contribution("bad")),
        Unauth,
        "authorization",
    );
    add(
        "an auditor records a contribution".into(),
        Auditor,
        Call::Contribution(contribution("bad")),
        Denied,
        "authorization",
    );
    add(
        "a facility records a contribution".into(),
        Facility,
        Call::Contribution(contribution("bad")),
        Denied,
        "authorization",
    );
    add(
        "a facility lists another facility's claims".into(),
        Facility,
        Call::ListClaims(pb::ListClaimsRequest {
            facility_id: "KE-KSM-LUMUMBA".into(),
            member_id: String::new(),
            status: String::new(),
            page_size: 0,
            page_token: String::new(),
        }),
        Denied,
        "facility_id",
    );

    // Bytes that are not the message.
    add(
        "garbage bytes".into(),
        Insurer,
        Call::Raw(
            "/ledger.v1.LedgerService/RecordContribution",
            vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
        ),
        I,
        "request_id",
    );
    add(
        "invalid UTF-8 in request_id".into(),
        Insurer,
        Call::Raw(
            "/ledger.v1.LedgerService/RecordContribution",
            vec![0x0a, 0x02, 0xc3, 0x28],
        ),
        I,
        "request_id",
    );
    add(
        "a 50 MB message".into(),
        Insurer,
        Call::Raw("/ledger.v1.LedgerService/RegisterHousehold", {
            let mut bytes = vec![0x22]; // location_code, length-delimited
            let len: u64 = 50 << 20;
            let mut v = len;
            while v >= 0x80 {
                bytes.push((v as u8) | 0x80);
                v >>= 7;
            }
            bytes.push(v as u8);
            bytes.resize(bytes.len() + len as usize, b'x');
            bytes
        }),
        Code::OutOfRange,
        "",
    );
    cases
}

/// Publishes the iPUSH scheme, registers HH-1 with M-1 (2026-01-02), saves into the wallet
/// (request `c-1`, receipt MPESA-1), pays the premium, submits a claim at Nyalenda
/// ([`CLAIM`]) and one at Lumumba (request `lumumba-claim`), and closes March 2026.
async fn setup(clients: &Clients) {
    common::setup_household(&mut LedgerServiceClient::new(
        clients.channel(Who::Admin).await,
    ))
    .await;
    clients
        .send(Who::Insurer, Call::Contribution(contribution("1")))
        .await
        .unwrap();
    let mut nyalenda = claim();
    nyalenda.request_id = "setup-claim".into();
    nyalenda.claim_code = "SETUP-1".into();
    nyalenda.decided_on = d(2026, 3, 5);
    clients
        .send(Who::Insurer, Call::Claim(nyalenda))
        .await
        .unwrap();
    let mut lumumba = claim();
    lumumba.request_id = "lumumba-claim".into();
    lumumba.claim_code = "LU-1".into();
    lumumba.facility_id = "KE-KSM-LUMUMBA".into();
    lumumba.decided_on = d(2026, 3, 6);
    lumumba.date_from = d(2026, 3, 6);
    lumumba.claim_date = d(2026, 3, 6);
    clients
        .send(Who::Insurer, Call::Claim(lumumba))
        .await
        .unwrap();
    let mut march = close();
    march.request_id = "setup-close".into();
    march.period_id = "2026-03".into();
    march.starts_on = d(2026, 3, 1);
    march.ends_on = d(2026, 3, 31);
    march.closed_on = d(2026, 4, 1);
    clients
        .send(Who::Insurer, Call::Close(march))
        .await
        .unwrap();
}

/// Checks one refusal: the code, the field first in the message and in ErrorInfo.
fn check(case: &Case, outcome: Result<(), Status>) -> Result<(), String> {
    let status = match outcome {
        Ok(()) => return Err("accepted".into()),
        Err(status) => status,
    };
    if status.code() != case.code {
        return Err(format!(
            "{:?} instead of {:?}: {}",
            status.code(),
            case.code,
            status.message()
        ));
    }
    if case.field.is_empty() {
        return Ok(());
    }
    if !status.message().starts_with(case.field) {
        return Err(format!(
            "the message does not start with {}: {}",
            case.field,
            status.message()
        ));
    }
    match status.get_details_error_info() {
        Some(info)
            if info
                .metadata
                .get("field")
                .is_some_and(|f| f.starts_with(case.field)) =>
        {
            Ok(())
        }
        other => Err(format!("ErrorInfo does not name {}: {other:?}", case.field)),
    }
}

#[tokio::test]
async fn every_bad_input_is_refused_by_field_and_the_service_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let config = tokens_config(dir.path());
    let server = Server::start_with(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let clients = Clients { server };
    setup(&clients).await;
    let cases = catalogue();
    assert!(cases.len() >= 150, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let head = clients.head().await;
        let outcome = clients.send(case.who, case.call.clone()).await;
        if let Err(why) = check(case, outcome) {
            failures.push(format!("{}: {why}", case.name));
        }
        if clients.head().await != head {
            failures.push(format!("{}: the log moved", case.name));
        }
        // Still answering: health, and a valid command.
        if !clients.serving().await {
            failures.push(format!("{}: health is not SERVING", case.name));
        }
        let valid = contribution(&format!("after-{n}"));
        if let Err(e) = clients.send(Who::Insurer, Call::Contribution(valid)).await {
            failures.push(format!("{}: a valid command then failed: {e}", case.name));
        }
    }
    println!(
        "bad inputs: {} tried, {} refused as expected",
        cases.len(),
        cases.len() - failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {}:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    clients.server.stop();
}
