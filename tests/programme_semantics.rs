//! What the seed programmes need, through gRPC on the real binary, with figures computed by
//! hand in the comments: scheme versions in force by date; copays owed, paid and given back;
//! Informed Push Model stock with the scheme's months of stock and price list; every account
//! of the chart queryable, and the trial balance listed account by account; sponsor caps per
//! month, match ratios and a budget that runs out; premiums that name the period they pay.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Server, date, kes, visit_claim};
use pb::ledger_service_client::LedgerServiceClient;
use pb::query_service_client::QueryServiceClient;
use proto::v1 as pb;
use tonic::Code;

/// The field a refusal names in its ErrorInfo.
fn field(status: &tonic::Status) -> String {
    tonic_types::StatusExt::get_details_error_info(status)
        .and_then(|mut i| i.metadata.remove("field"))
        .unwrap_or_default()
}

fn reason(status: &tonic::Status) -> String {
    tonic_types::StatusExt::get_details_error_info(status)
        .map(|i| i.reason)
        .unwrap_or_default()
}

/// iPUSH as version `version`, with the outpatient visit at `visit` KES.
fn ipush_version(version: u32, visit: &str) -> String {
    adjudicator::examples::IPUSH_KE
        .replace("version = 1", &format!("version = {version}"))
        .replace(
            "{ code = \"OPD-VISIT\", price = \"1200 KES\"",
            &format!("{{ code = \"OPD-VISIT\", price = \"{visit} KES\""),
        )
}

fn publish(request: &str, document: String, y: i32, m: i32, d: i32) -> pb::PublishSchemeRequest {
    pb::PublishSchemeRequest {
        request_id: request.into(),
        document,
        effective_from: date(y, m, d),
    }
}

/// A visit claim (OPD visit + 2 iron/folate at 80%) on `month`/`day` of 2026.
fn claim_on(request: &str, code: &str, month: i32, day: i32) -> pb::SubmitClaimRequest {
    pb::SubmitClaimRequest {
        date_from: date(2026, month, day),
        claim_date: date(2026, month, day),
        decided_on: date(2026, month, day),
        ..visit_claim(request, code, day)
    }
}

#[tokio::test]
async fn each_claim_is_decided_by_the_scheme_version_in_force_on_its_service_date() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let mut ledger = LedgerServiceClient::new(server.channel(None).await);
    common::setup_household(&mut ledger).await;
    // Version 2, published now for April: the visit goes from 1,200 to 1,500 KES.
    ledger
        .publish_scheme(publish("v2", ipush_version(2, "1500"), 2026, 4, 1))
        .await
        .unwrap();

    // A March claim is decided by version 1: 1,200 + 2 x 350 x 80% = 1,760 KES payer.
    let march = ledger
        .submit_claim(claim_on("c-march", "V-MAR", 3, 10))
        .await
        .unwrap()
        .into_inner()
        .decision
        .unwrap();
    assert_eq!(march.scheme_version, 1);
    assert_eq!(march.total_payer.unwrap().minor_units, 176_000);
    // An April claim by version 2: 1,500 + 560 = 2,060 KES.
    let april = ledger
        .submit_claim(claim_on("c-april", "V-APR", 4, 10))
        .await
        .unwrap()
        .into_inner()
        .decision
        .unwrap();
    assert_eq!(april.scheme_version, 2);
    assert_eq!(april.total_payer.unwrap().minor_units, 206_000);

    // A version taking effect before the latest one is refused; so is another currency.
    let early = ledger
        .publish_scheme(publish("v3-early", ipush_version(3, "1600"), 2026, 3, 15))
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition, "{early:?}");
    assert_eq!(
        (reason(&early).as_str(), field(&early).as_str()),
        ("SCHEME_VERSION_OUT_OF_ORDER", "effective_from")
    );
    let xof = ipush_version(3, "1600").replace("currency = \"KES\"", "currency = \"XOF\"");
    let other_currency = ledger
        .publish_scheme(publish("v3-xof", xof, 2026, 5, 1))
        .await
        .unwrap_err();
    assert_eq!(other_currency.code(), Code::InvalidArgument);
    assert!(
        other_currency.message().contains("currency"),
        "{other_currency:?}"
    );
    server.stop();
}

fn copay(request: &str, claim: &str, minor: i64) -> pb::RecordCopaymentRequest {
    pb::RecordCopaymentRequest {
        request_id: request.into(),
        receipt_id: format!("R-{request}"),
        claim_id: claim.into(),
        amount: kes(minor),
        collected_on: date(2026, 3, 12),
    }
}

/// (due, paid, outstanding) of a claim's copay, in minor units.
async fn copay_of(query: &mut QueryServiceClient<common::Channel>, claim: &str) -> (i64, i64, i64) {
    let c = query
        .get_claim(pb::GetClaimRequest {
            claim_id: claim.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let minor = |m: Option<pb::Money>| m.unwrap().minor_units;
    (
        minor(c.total_copay),
        minor(c.copay_paid),
        minor(c.copay_outstanding),
    )
}

async fn trial_balance_is_zero(query: &mut QueryServiceClient<common::Channel>) {
    let totals = query
        .get_trial_balance(pb::GetTrialBalanceRequest::default())
        .await
        .unwrap()
        .into_inner()
        .totals;
    assert!(
        totals
            .iter()
            .all(|t| t.sum.as_ref().is_some_and(|m| m.minor_units == 0)),
        "{totals:?}"
    );
}

#[tokio::test]
async fn a_copay_is_collected_once_and_given_back_by_reviews_and_reversals() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let mut ledger = LedgerServiceClient::new(server.channel(None).await);
    let mut query = QueryServiceClient::new(server.channel(None).await);
    common::setup_household(&mut ledger).await;
    // Visit (100%) + 2 iron/folate at 350 KES, 80% covered: the copay is 2 x 70 = 140 KES.
    let claim = ledger
        .submit_claim(visit_claim("c-1", "V-1", 10))
        .await
        .unwrap()
        .into_inner()
        .claim_id;
    assert_eq!(copay_of(&mut query, &claim).await, (14_000, 0, 14_000));

    // 100 paid, 40 outstanding; 50 more is refused with what is outstanding; 40 settles it.
    let wallet = common::wallet(&mut query, "HH-1").await;
    ledger
        .record_copayment(copay("cp-1", &claim, 10_000))
        .await
        .unwrap();
    assert_eq!(copay_of(&mut query, &claim).await, (14_000, 10_000, 4_000));
    let over = ledger
        .record_copayment(copay("cp-2", &claim, 5_000))
        .await
        .unwrap_err();
    assert_eq!(over.code(), Code::FailedPrecondition, "{over:?}");
    assert_eq!(
        (reason(&over).as_str(), field(&over).as_str()),
        ("OVERPAYMENT", "amount")
    );
    assert!(over.message().contains("40.00 KES outstanding"), "{over:?}");
    ledger
        .record_copayment(copay("cp-3", &claim, 4_000))
        .await
        .unwrap();
    assert_eq!(copay_of(&mut query, &claim).await, (14_000, 14_000, 0));
    // The copay again, under a fresh receipt: refused, the wallet debited once.
    let again = ledger
        .record_copayment(copay("cp-4", &claim, 14_000))
        .await
        .unwrap_err();
    assert_eq!(reason(&again), "OVERPAYMENT");
    assert_eq!(common::wallet(&mut query, "HH-1").await, wallet - 14_000);

    // A review approves one iron/folate: the copay is 70, and the 70 paid beyond it goes
    // back to the wallet.
    ledger
        .review_claim(pb::ReviewClaimRequest {
            request_id: "rv-1".into(),
            claim_id: claim.clone(),
            reviewer: "medical officer".into(),
            reviewed_on: date(2026, 3, 13),
            changes: vec![pb::LineReview {
                line_no: 2,
                approved_quantity: Some(1),
                unit_price: None,
                reject: false,
            }],
            comment: "one pack dispensed".into(),
        })
        .await
        .unwrap();
    assert_eq!(copay_of(&mut query, &claim).await, (7_000, 7_000, 0));
    assert_eq!(common::wallet(&mut query, "HH-1").await, wallet - 7_000);

    // A reversal gives back everything paid: the wallet is where it was before the copays.
    ledger
        .reverse_claim(pb::ReverseClaimRequest {
            request_id: "rev-1".into(),
            claim_id: claim.clone(),
            reason: "billed in error".into(),
            reversed_on: date(2026, 3, 14),
        })
        .await
        .unwrap();
    assert_eq!(copay_of(&mut query, &claim).await, (0, 0, 0));
    assert_eq!(common::wallet(&mut query, "HH-1").await, wallet);
    trial_balance_is_zero(&mut query).await;
    drop((ledger, query));
    server.stop();
}

fn stock_visit(
    request: &str,
    month: i32,
    found: u64,
    delivered: u64,
) -> pb::RecordStockVisitRequest {
    pb::RecordStockVisitRequest {
        request_id: request.into(),
        facility_id: "SN-PS-THIAROYE".into(),
        product_code: "DMPA-SC".into(),
        visited_on: date(2026, month, 5),
        stock_found: found,
        losses: 0,
        delivered,
        unit_price: None,
    }
}

fn xof(minor: i64) -> Option<pb::Money> {
    Some(pb::Money {
        minor_units: minor,
        currency_code: "XOF".into(),
    })
}

#[tokio::test]
async fn ipm_top_ups_use_the_schemes_months_of_stock_and_its_price_list() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let mut ledger = LedgerServiceClient::new(server.channel(None).await);
    let mut query = QueryServiceClient::new(server.channel(None).await);
    ledger
        .publish_scheme(publish(
            "ipm",
            adjudicator::examples::IPM_SN.into(),
            2026,
            1,
            1,
        ))
        .await
        .unwrap();
    // January: 100 on the shelf after the delivery (none found, 100 delivered).
    let first = ledger
        .record_stock_visit(stock_visit("v-1", 1, 0, 100))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first.consumed, first.amount_owed), (None, None));
    // February: 40 found after 60 consumed: 3 months x 60 - 40 = 140 to top up; the 60 are
    // owed at the price list's 250 XOF: 15,000 XOF.
    let feb = ledger
        .record_stock_visit(stock_visit("v-2", 2, 40, 140))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (feb.consumed, feb.suggested_top_up, feb.amount_owed),
        (Some(60), 140, xof(15_000))
    );
    // March: 180 on the shelf, 100 found after 80 consumed; average (60 + 80) / 2 = 70:
    // 3 x 70 - 100 = 110.
    let mar = ledger
        .record_stock_visit(stock_visit("v-3", 3, 100, 110))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (mar.consumed, mar.suggested_top_up, mar.amount_owed),
        (Some(80), 110, xof(20_000))
    );
    let stock = query
        .get_stock(pb::GetStockRequest {
            facility_id: "SN-PS-THIAROYE".into(),
            product_code: "DMPA-SC".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            stock.on_hand,
            stock.average_monthly_consumption,
            stock.months_of_stock,
            stock.suggested_top_up,
            stock.visits
        ),
        (210, Some(70), 3, 110, 3)
    );
    assert_eq!(
        (stock.last_visit, stock.unit_price),
        (date(2026, 3, 5), xof(250))
    );

    // A price other than the list's is refused, naming the field; so is a product the price
    // list does not have.
    let wrong_price = ledger
        .record_stock_visit(pb::RecordStockVisitRequest {
            unit_price: xof(300),
            ..stock_visit("v-4", 4, 50, 0)
        })
        .await
        .unwrap_err();
    assert_eq!(
        (wrong_price.code(), field(&wrong_price).as_str()),
        (Code::InvalidArgument, "unit_price")
    );
    let unknown = ledger
        .record_stock_visit(pb::RecordStockVisitRequest {
            product_code: "CONDOM-M".into(),
            ..stock_visit("v-5", 4, 50, 0)
        })
        .await
        .unwrap_err();
    assert_eq!(
        (unknown.code(), field(&unknown).as_str()),
        (Code::InvalidArgument, "product_code")
    );
    drop((ledger, query));
    server.stop();
}

/// (account, balance, debits, credits) in minor units.
fn row(a: &pb::AccountBalance) -> (String, i64, i64, i64) {
    let minor = |m: &Option<pb::Money>| m.as_ref().unwrap().minor_units;
    (
        a.account.clone(),
        minor(&a.balance),
        minor(&a.debits),
        minor(&a.credits),
    )
}

#[tokio::test]
async fn every_account_is_queryable_and_the_trial_balance_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let mut ledger = LedgerServiceClient::new(server.channel(None).await);
    let mut query = QueryServiceClient::new(server.channel(None).await);
    // 10,000 KES saved on 1 February: the county matches 100% up to 3,000 a year, the donor
    // 50% (5,000): 18,000 in the wallet; the 6,000 premium from the wallet on 10 February.
    common::setup_household(&mut ledger).await;

    // The sponsors' funding, per sponsor (debits: what each gave).
    let sponsors = query
        .list_accounts(pb::ListAccountsRequest {
            kind: "sponsor-funding".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        sponsors.accounts.iter().map(row).collect::<Vec<_>>(),
        vec![
            (
                "sponsor-funding/kisumu-county".to_owned(),
                300_000,
                300_000,
                0
            ),
            ("sponsor-funding/phi-donor".to_owned(), 500_000, 500_000, 0),
        ]
    );
    // Premium income (a credit), and the wallet now and before the premium.
    let account = |name: &str, as_of: Option<pb::Date>| pb::GetAccountBalanceRequest {
        account: name.into(),
        currency_code: String::new(),
        as_of_date: as_of,
    };
    let income = query
        .get_account_balance(account("premium-income/NHIF-SUPA", None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        row(&income),
        ("premium-income/NHIF-SUPA".into(), -600_000, 0, 600_000)
    );
    let wallet = query
        .get_account_balance(account("wallet/HH-1", None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        row(&wallet),
        ("wallet/HH-1".into(), -1_200_000, 600_000, 1_800_000)
    );
    let before = query
        .get_account_balance(account("wallet/HH-1", date(2026, 2, 5)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(row(&before).1, -1_800_000);

    // The trial balance, two accounts a page: clearing 10,000 + sponsors 8,000 - premium
    // income 6,000 - wallet 12,000 = 0, in name order, and its sum as Money.
    let mut rows = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = query
            .get_trial_balance(pb::GetTrialBalanceRequest {
                page_size: 2,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert_eq!(page.totals[0].sum.as_ref().unwrap().minor_units, 0);
        rows.extend(page.accounts.iter().map(row));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3);
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "clearing/MobileMoney",
            "premium-income/NHIF-SUPA",
            "sponsor-funding/kisumu-county",
            "sponsor-funding/phi-donor",
            "wallet/HH-1"
        ]
    );
    assert_eq!(rows.iter().map(|r| r.1).sum::<i64>(), 0);
    assert_eq!(rows.iter().map(|r| r.2 - r.3).sum::<i64>(), 0);

    // Refused by field: an unknown kind, an account name that is not one, a bogus token.
    let kind = query
        .list_accounts(pb::ListAccountsRequest {
            kind: "bogus".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (kind.code(), field(&kind).as_str()),
        (Code::InvalidArgument, "kind")
    );
    let name = query
        .get_account_balance(account("nope", None))
        .await
        .unwrap_err();
    assert_eq!(
        (name.code(), field(&name).as_str()),
        (Code::InvalidArgument, "account")
    );
    let token = query
        .list_accounts(pb::ListAccountsRequest {
            page_token: "wallet/HH-404 KES".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (token.code(), field(&token).as_str()),
        (Code::InvalidArgument, "page_token")
    );
    drop((ledger, query));
    server.stop();
}

/// iPUSH with the county matching 1:1 up to 250 KES a household a month (and 3,000 a year),
/// the donor 0.5:1 within a budget of 400 KES a year.
fn ipush_sponsors() -> String {
    adjudicator::examples::IPUSH_KE
        .replace(
            "cap_per_household_per_year = \"3000 KES\"",
            "cap_per_household_per_year = \"3000 KES\"\ncap_per_household_per_month = \"250 KES\"",
        )
        .replace(
            "match_percent = 50",
            "match_ratio = 0.5\nbudget_per_year = \"400 KES\"",
        )
}

fn saving(request: &str, minor: i64, month: i32, day: i32) -> pb::RecordContributionRequest {
    pb::RecordContributionRequest {
        request_id: request.into(),
        receipt_id: format!("MPESA-{request}"),
        household_id: "HH-1".into(),
        member_id: "M-1".into(),
        amount: kes(minor),
        channel: pb::PaymentChannel::MobileMoney as i32,
        received_on: date(2026, month, day),
    }
}

/// (county, donor) matches of a saving, and whether the donor's budget ran out.
fn matched(r: &pb::RecordContributionResponse) -> (i64, i64, bool) {
    let share = |id: &str| r.sponsors.iter().find(|s| s.sponsor_id == id).unwrap();
    let county = share("kisumu-county");
    let donor = share("phi-donor");
    (
        county.amount.as_ref().unwrap().minor_units,
        donor.amount.as_ref().unwrap().minor_units,
        donor.budget_exhausted,
    )
}

#[tokio::test]
async fn sponsors_cap_per_month_match_by_ratio_and_stop_when_their_budget_runs_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let mut ledger = LedgerServiceClient::new(server.channel(None).await);
    let mut query = QueryServiceClient::new(server.channel(None).await);
    ledger
        .publish_scheme(publish("s", ipush_sponsors(), 2026, 1, 1))
        .await
        .unwrap();
    common::household_with_member(&mut ledger).await;
    let mut save = async |request: &str, minor: i64, month: i32, day: i32| {
        let r = ledger
            .record_contribution(saving(request, minor, month, day))
            .await
            .unwrap()
            .into_inner();
        matched(&r)
    };
    // 1 March, 200 saved: the county 200 (of its 250 for March), the donor 100 (300 of its
    // budget left).
    assert_eq!(save("s1", 20_000, 3, 1).await, (20_000, 10_000, false));
    // 10 March, 200 more: the county has 50 left for March; the donor 100 (200 left).
    assert_eq!(save("s2", 20_000, 3, 10).await, (5_000, 10_000, false));
    // 2 April: a new month, matched again in full; the donor 100 (100 left).
    assert_eq!(save("s3", 20_000, 4, 2).await, (20_000, 10_000, false));
    // 3 April, 400: the county 50 (April's rest); the donor's 200 cut to its last 100, and
    // the receipt says the budget ran out.
    assert_eq!(save("s4", 40_000, 4, 3).await, (5_000, 10_000, true));
    // 4 April: nothing left of either.
    assert_eq!(save("s5", 10_000, 4, 4).await, (0, 0, true));

    // Savings 1,100 + county 500 + donor 400 = 2,000 KES in the wallet.
    assert_eq!(common::wallet(&mut query, "HH-1").await, 200_000);
    let sponsor = |id: &str| pb::GetSponsorRequest {
        scheme_id: "ipush-ke".into(),
        sponsor_id: id.into(),
        year: 2026,
    };
    let donor = query
        .get_sponsor(sponsor("phi-donor"))
        .await
        .unwrap()
        .into_inner();
    let minor = |m: &Option<pb::Money>| m.as_ref().map(|m| m.minor_units);
    assert_eq!(
        (
            minor(&donor.given),
            minor(&donor.budget),
            minor(&donor.remaining)
        ),
        (Some(40_000), Some(40_000), Some(0))
    );
    assert_eq!(donor.match_percent, "50");
    let county = query
        .get_sponsor(sponsor("kisumu-county"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (minor(&county.given), minor(&county.budget)),
        (Some(50_000), None)
    );
    trial_balance_is_zero(&mut query).await;
    drop((ledger, query));
    server.stop();
}

/// Pesinet's child subscription as a calendar month product with no grace days.
fn pesinet_monthly() -> String {
    adjudicator::examples::PESINET_ML.replace(
        "grace_period_days = 5",
        "grace_period_days = 0\ncycle = \"calendar_month\"",
    )
}

fn monthly_premium(
    request: &str,
    minor: i64,
    paid_on: (i32, i32),
    period_start: Option<pb::Date>,
) -> pb::PayPremiumRequest {
    pb::PayPremiumRequest {
        request_id: request.into(),
        receipt_id: format!("OM-{request}"),
        household_id: "ML-HH-1".into(),
        product_id: "PESINET-CHILD".into(),
        amount: xof(minor),
        source: pb::PremiumSource::Direct as i32,
        paid_on: date(2026, paid_on.0, paid_on.1),
        period_start,
    }
}

/// (period start, effective from, expires on, outstanding) of a premium's answer.
fn period(
    r: &pb::PayPremiumResponse,
) -> (Option<pb::Date>, Option<pb::Date>, Option<pb::Date>, i64) {
    (
        r.period_start,
        r.effective_from,
        r.expires_on,
        r.outstanding.as_ref().unwrap().minor_units,
    )
}

#[tokio::test]
async fn a_monthly_premium_pays_the_calendar_month_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let mut ledger = LedgerServiceClient::new(server.channel(None).await);
    ledger
        .publish_scheme(publish("p", pesinet_monthly(), 2026, 1, 1))
        .await
        .unwrap();
    ledger
        .register_household(pb::RegisterHouseholdRequest {
            request_id: "h".into(),
            household_id: "ML-HH-1".into(),
            scheme_id: "pesinet-ml".into(),
            location_code: "BKO".into(),
            socio_economic_category: String::new(),
            registered_on: date(2026, 1, 1),
        })
        .await
        .unwrap();
    ledger
        .enroll_member(pb::EnrollMemberRequest {
            request_id: "m".into(),
            member_id: "ML-C-1".into(),
            household_id: "ML-HH-1".into(),
            gender: pb::Gender::Female as i32,
            birth_date: date(2024, 5, 1),
            is_head: false,
            facility_id: String::new(),
            enrolled_on: date(2026, 1, 1),
        })
        .await
        .unwrap();
    // 500 XOF on 2 January pays January: cover from the payment to the end of the month.
    let jan = ledger
        .pay_premium(monthly_premium("jan", 500, (1, 2), None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        period(&jan),
        (date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 31), 0)
    );
    // A second payment in January does not silently buy February: January is paid.
    let again = ledger
        .pay_premium(monthly_premium("jan-2", 500, (1, 20), None))
        .await
        .unwrap_err();
    assert_eq!(
        (again.code(), reason(&again).as_str()),
        (Code::FailedPrecondition, "POLICY_NOT_PAYABLE")
    );
    // Prepaying February names it: cover for the whole of February.
    let feb = ledger
        .pay_premium(monthly_premium("feb", 500, (1, 20), date(2026, 2, 1)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        period(&feb),
        (date(2026, 2, 1), date(2026, 2, 1), date(2026, 2, 28), 0)
    );
    // A period must start the cycle: 15 February does not.
    let mid = ledger
        .pay_premium(monthly_premium("mid", 500, (1, 20), date(2026, 2, 15)))
        .await
        .unwrap_err();
    assert_eq!(
        (mid.code(), field(&mid).as_str()),
        (Code::InvalidArgument, "period_start")
    );
    // March in two instalments: 200 on 3 March leaves 300 due; 300 on 5 March completes it,
    // and cover starts on the completing payment.
    let part = ledger
        .pay_premium(monthly_premium("mar-1", 200, (3, 3), None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        period(&part),
        (date(2026, 3, 1), None, date(2026, 3, 31), 300)
    );
    let rest = ledger
        .pay_premium(monthly_premium("mar-2", 300, (3, 5), None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        period(&rest),
        (date(2026, 3, 1), date(2026, 3, 5), date(2026, 3, 31), 0)
    );
    assert_eq!(part.policy_id, rest.policy_id);
    drop(ledger);
    server.stop();
}
