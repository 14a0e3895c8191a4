//! Scheme documents: the examples load; problems are reported, all of them, with paths.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use adjudicator::Scheme;
use adjudicator::examples;

#[test]
fn every_example_scheme_loads() {
    for (name, doc) in examples::ALL {
        let scheme = Scheme::parse(doc).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            !scheme.products.is_empty() || name == "ipm-sn.toml",
            "{name}"
        );
        assert!(!scheme.facilities.is_empty(), "{name}");
        assert_eq!(scheme.content_sha256, ledger::chain::sha256(doc.as_bytes()));
    }
    let pesinet = Scheme::parse(examples::PESINET_ML).unwrap();
    assert_eq!(pesinet.currency, ledger::Currency::XOF);
    let tz = Scheme::parse(examples::OPENIMIS_TZ).unwrap();
    assert_eq!(tz.products.len(), 2);
    assert_eq!(tz.version, 3);
}

fn problems(doc: &str) -> Vec<String> {
    Scheme::parse(doc)
        .unwrap_err()
        .problems
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let doc = examples::OPENIMIS_TZ
        .replace(
            "AMOX-500 = { coinsurance_percent = 90, max_quantity = 40 }",
            "AMOX-500 = { coinsurance_percent = 140, max_quantity = 40 }",
        )
        .replace("price = \"500 TZS\"", "price = \"500 KES\"")
        .replace(
            "care_type = \"I\"\npayment_method",
            "care_type = \"X\"\npayment_method",
        )
        .replace("price_list = \"TZ-DISPENSARY\"", "price_list = \"NOPE\"");
    let found = problems(&doc);
    for expected in [
        "products[0].items[\"AMOX-500\"].coinsurance_percent: 140 is above 100",
        "price_lists[0].prices[5].price: 500.00 KES is not in the scheme currency TZS",
        "facilities[2].care_type: \"X\" is not O, I or B",
        "facilities[0].price_list: \"NOPE\" is not a price list of the scheme",
    ] {
        assert!(
            found.iter().any(|p| p == expected),
            "missing {expected:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn references_and_values_are_checked() {
    let doc = examples::PESINET_ML
        .replace(
            "items.\"ORS-ZINC\" = { coinsurance_percent = 50 }",
            "items.\"ORS-ZINC\" = { coinsurance_percent = 50, fixed_amount = \"10 XOF\" }",
        )
        .replace("{ code = \"PARA-SYRUP\"", "{ code = \"UNKNOWN-DRUG\"")
        .replace("valid_to = \"2030-12-31\"", "valid_to = \"2025-12-31\"")
        .replace("rounding = \"half_even\"", "rounding = \"bankers\"");
    let found = problems(&doc);
    for expected in [
        "products[0].items[\"ORS-ZINC\"]: needs exactly one of coinsurance_percent or fixed_amount",
        "price_lists[0].prices[4].code: UNKNOWN-DRUG is not an item or service of the scheme",
        "products[0].valid_to: 2025-12-31 is before valid_from 2026-01-01",
        "scheme.rounding: \"bankers\" is not half_even, half_up or down",
    ] {
        assert!(
            found.iter().any(|p| p == expected),
            "missing {expected:?} in {found:#?}"
        );
    }
}

#[test]
fn malformed_documents_and_unknown_fields_are_refused() {
    let typo = examples::PESINET_ML.replace("grace_period_days", "grace_period_dayz");
    let err = Scheme::parse(&typo).unwrap_err();
    assert_eq!(err.problems[0].path, "document");
    assert!(
        err.problems[0].message.contains("grace_period_dayz"),
        "{err}"
    );
    assert!(Scheme::parse("not = [toml").is_err());
    let overlapping =
        examples::OPENIMIS_TZ.replace("valid_to = \"2026-06-30\"", "valid_to = \"2026-07-01\"");
    assert!(
        problems(&overlapping)
            .iter()
            .any(|p| p.contains("has another price valid on some of these dates"))
    );
}
