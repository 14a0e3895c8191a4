//! The scheme document: a TOML file a scheme operator reads and edits, and its validated form.
//!
//! [`Scheme::parse`] checks everything and reports every problem with its path, e.g.
//! `products[2].items["AMOX-500"].coinsurance_percent: 140 is above 100`. The example schemes
//! of the seed programmes are in `adjudicator/schemes/`. The published scheme's version and
//! SHA-256 content hash are recorded in every decision made under it.

use std::collections::BTreeMap;

use crate::Map as HashMap;
use std::fmt;

use ledger::chain::{Hash, sha256};
use ledger::event::{ClaimCategory, LineKind, PaymentMethod};
use ledger::ids::{Code, FacilityId, ProductId, SchemeId, SponsorId};
use ledger::{Amount, Currency, Date};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use thiserror::Error;

/// Where a service or item may be given: outpatient, inpatient, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CareType {
    Outpatient,
    Inpatient,
    Both,
}

/// Kind of care a service is, for claim categories and maximum counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceCategory {
    Consultation,
    Surgery,
    Delivery,
    Antenatal,
    Hospitalization,
    Other,
}

/// Patient categories an item or service is for (openIMIS mask): male/other 1, female 2,
/// adult 4, minor 8. A patient must match a gender bit and an age bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PatientMask(pub u8);

impl PatientMask {
    pub const MALE: u8 = 1;
    pub const FEMALE: u8 = 2;
    pub const ADULT: u8 = 4;
    pub const MINOR: u8 = 8;
    pub const ALL: PatientMask = PatientMask(15);

    pub fn allows(self, gender_bit: u8, age_bit: u8) -> bool {
        self.0 & gender_bit != 0 && self.0 & age_bit != 0
    }
}

/// A medical item or service of the scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Medical {
    pub code: Code,
    pub kind: LineKind,
    pub name: String,
    pub care_type: CareType,
    pub patients: PatientMask,
    /// Minimum days between two passed uses by one member; 0 = no limit.
    pub frequency_days: u32,
    pub category: ServiceCategory,
    /// Informed Push Model: months of average consumption a facility's stock of the item is
    /// topped up to (`months_of_stock`, [`MONTHS_OF_STOCK_DEFAULT`] unless the scheme says).
    pub months_of_stock: u32,
}

/// Months of stock a top-up aims for when the scheme does not say (IPM practice: two).
pub const MONTHS_OF_STOCK_DEFAULT: u32 = 2;
/// Most months of stock a scheme may ask for.
pub const MONTHS_OF_STOCK_MAX: u32 = 24;

/// How a product shares the cost of a covered item or service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limitation {
    /// The scheme pays this percentage of the allowed amount (openIMIS co-insurance: 100 =
    /// covered in full, 50 = the member pays half).
    Coinsurance(Decimal),
    /// The scheme pays at most this amount per unit; the member pays the rest.
    Fixed(Amount),
}

/// A product's cover of one item or service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cover {
    pub limitation: Limitation,
    /// Most units per member per policy period; `Some(0)` = never covered.
    pub max_quantity: Option<u32>,
    /// Not counted against, nor limited by, ceilings.
    pub ceiling_excluded: bool,
}

/// Deductible or ceiling amounts (absent = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Levels {
    pub per_claim: Option<Amount>,
    pub per_member: Option<Amount>,
    pub per_household: Option<Amount>,
}

/// Levels for outpatient and inpatient claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CostSharing {
    pub outpatient: Levels,
    pub inpatient: Levels,
}

impl CostSharing {
    pub fn for_claim(&self, inpatient: bool) -> &Levels {
        if inpatient {
            &self.inpatient
        } else {
            &self.outpatient
        }
    }
}

/// The household ceiling grows by `per_extra_member` for each member above
/// `threshold_members`, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CeilingGrowth {
    pub threshold_members: u32,
    pub per_extra_member: Amount,
    pub max: Option<Amount>,
}

/// Most uses per member per policy period, by claim category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MaxCounts {
    pub visits: Option<u32>,
    pub consultations: Option<u32>,
    pub surgeries: Option<u32>,
    pub deliveries: Option<u32>,
    pub antenatal: Option<u32>,
    pub hospital_admissions: Option<u32>,
}

impl MaxCounts {
    /// The maximum for a claim category, and the reason code that rejects a claim over it.
    pub fn for_category(&self, category: ClaimCategory) -> (Option<u32>, i32) {
        match category {
            ClaimCategory::Hospitalization => (self.hospital_admissions, 11),
            ClaimCategory::Visit => (self.visits, 12),
            ClaimCategory::Consultation => (self.consultations, 13),
            ClaimCategory::Surgery => (self.surgeries, 14),
            ClaimCategory::Delivery => (self.deliveries, 15),
            ClaimCategory::Antenatal => (self.antenatal, 19),
        }
    }
}

/// Most facilities one scheme lists. A period close issues one statement per facility in one
/// append (with the period's own event), so this keeps every close within the log's
/// `Limits::batch_events_max` (4,096).
pub const FACILITIES_MAX: usize = 4_000;

/// How a policy's price is computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Premium {
    /// The same amount for every member.
    PerMember(Amount),
    /// A lump sum for the household up to `threshold_members`, plus an amount per extra member.
    Household {
        lump_sum: Amount,
        threshold_members: u32,
        per_extra_member: Amount,
    },
    /// An amount per member that depends on the household's socio-economic category.
    ByCategory(BTreeMap<String, Amount>),
}

/// A product (benefit package).
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    pub valid_from: Date,
    pub valid_to: Date,
    pub insurance_period_months: u32,
    pub grace_period_days: u32,
    pub waiting_months_adult: u32,
    pub waiting_months_child: u32,
    pub premium: Premium,
    pub registration_fee: Amount,
    /// Value lines at the price the facility asked instead of the price list.
    pub use_asked_price: bool,
    pub deductible: CostSharing,
    pub ceiling: CostSharing,
    pub ceiling_growth: Option<CeilingGrowth>,
    pub max_counts: MaxCounts,
    /// Most the scheme pays for one claim of a category.
    pub claim_caps: HashMap<ClaimCategory, Amount>,
    pub covers: HashMap<Code, Cover>,
    /// When the product's periods start.
    pub cycle: Cycle,
}

/// When a product's periods start (openIMIS cycle start dates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cycle {
    /// A period starts with its first payment (or the day after the period it renews).
    FirstPayment,
    /// On the first of every month.
    CalendarMonth,
    /// On fixed days of the year, (month, day), sorted: Rwanda's CBHI year starts on 1 July;
    /// a calendar year is [(1, 1)]. At most [`CYCLE_START_DATES_MAX`].
    StartDates(Vec<(u32, u32)>),
}

/// Most fixed cycle start dates a product may have (openIMIS: four).
pub const CYCLE_START_DATES_MAX: usize = 4;

impl Cycle {
    /// The start of the cycle period that contains `date` (None: periods start with payment).
    pub fn period_containing(&self, date: Date) -> Option<Date> {
        use chrono::Datelike;
        match self {
            Cycle::FirstPayment => None,
            Cycle::CalendarMonth => date.with_day(1),
            Cycle::StartDates(starts) => [date.year(), date.year() - 1]
                .into_iter()
                .flat_map(|y| {
                    starts
                        .iter()
                        .rev()
                        .filter_map(move |(m, d)| Date::from_ymd_opt(y, *m, *d))
                })
                .find(|start| *start <= date),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facility {
    pub id: FacilityId,
    pub name: String,
    pub level: String,
    pub care_type: CareType,
    pub payment_method: PaymentMethod,
    pub price_list: String,
    /// Per registered member per month, for capitation.
    pub capitation_rate: Option<Amount>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub price: Amount,
    pub valid_from: Date,
    pub valid_to: Option<Date>,
}

/// A facility price list: prices by code, each with a validity window.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PriceList {
    pub prices: HashMap<Code, Vec<Price>>,
}

impl PriceList {
    /// The price of `code` valid on `date`.
    pub fn price(&self, code: &Code, date: Date) -> Option<Amount> {
        self.prices.get(code)?.iter().find_map(|p| {
            (p.valid_from <= date && p.valid_to.is_none_or(|to| date <= to)).then_some(p.price)
        })
    }
}

/// A sponsor's rule: match a household's own savings at `match_percent` (100: 1:1; the
/// document may say `match_ratio = 2` for 2:1 or `0.5` for 0.5:1), within its caps, and
/// within its budget for the calendar year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sponsor {
    pub id: SponsorId,
    pub name: String,
    pub match_percent: Decimal,
    pub caps: SponsorCaps,
    /// What the sponsor gives at most in a calendar year, over every household.
    pub budget_per_year: Option<Amount>,
}

/// The most a sponsor gives one household or one member in a calendar year or month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SponsorCaps {
    pub per_household_per_year: Option<Amount>,
    pub per_household_per_month: Option<Amount>,
    pub per_member_per_year: Option<Amount>,
    pub per_member_per_month: Option<Amount>,
}

/// A validated scheme.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheme {
    pub id: SchemeId,
    pub name: String,
    pub version: u32,
    pub content_sha256: Hash,
    pub currency: Currency,
    /// How computed line amounts are rounded to minor units (once per amount).
    pub rounding: RoundingStrategy,
    pub medical: HashMap<Code, Medical>,
    pub products: Vec<Product>,
    /// Index of `products` by id.
    product_index: HashMap<ProductId, usize>,
    pub facilities: HashMap<FacilityId, Facility>,
    pub price_lists: HashMap<String, PriceList>,
    pub sponsors: HashMap<SponsorId, Sponsor>,
    /// Diagnosis codes the scheme accepts; empty = not checked.
    pub diagnoses: std::collections::HashSet<Code>,
    /// Days after its service date a claim stays open: submitted, reviewed, reversed or its
    /// copay paid until the first period close this many days after it
    /// (`scheme.claims_open_days`, [`CLAIMS_OPEN_DAYS_DEFAULT`] unless the scheme says).
    pub claims_open_days: u32,
}

/// Days a claim stays open after its service date when the scheme does not say: a year.
pub const CLAIMS_OPEN_DAYS_DEFAULT: u32 = 365;
/// The longest a scheme may keep its claims open: ten years.
pub const CLAIMS_OPEN_DAYS_MAX: u32 = 3_650;

/// One problem found in a scheme document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A scheme document that does not load, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct SchemeError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for SchemeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the scheme has {} problem(s):", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

// ---- the document as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheme {
    scheme: RawHeader,
    #[serde(default)]
    items: BTreeMap<String, RawMedical>,
    #[serde(default)]
    services: BTreeMap<String, RawMedical>,
    #[serde(default)]
    products: Vec<RawProduct>,
    #[serde(default)]
    price_lists: Vec<RawPriceList>,
    #[serde(default)]
    facilities: Vec<RawFacility>,
    #[serde(default)]
    sponsors: Vec<RawSponsor>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    id: String,
    name: String,
    version: u32,
    currency: String,
    #[serde(default)]
    rounding: Option<String>,
    /// Diagnosis codes (e.g. ICD-10) the scheme accepts; absent = not checked.
    #[serde(default)]
    diagnoses: Vec<String>,
    #[serde(default)]
    claims_open_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMedical {
    name: String,
    care_type: String,
    #[serde(default)]
    patients: Option<Vec<String>>,
    #[serde(default)]
    frequency_days: u32,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    months_of_stock: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProduct {
    id: String,
    name: String,
    valid_from: String,
    valid_to: String,
    insurance_period_months: u32,
    #[serde(default)]
    grace_period_days: u32,
    #[serde(default)]
    waiting_months_adult: u32,
    #[serde(default)]
    waiting_months_child: u32,
    premium: RawPremium,
    #[serde(default)]
    use_asked_price: bool,
    #[serde(default)]
    deductible: RawCostSharing,
    #[serde(default)]
    ceiling: RawCostSharing,
    #[serde(default)]
    max_counts: RawCounts,
    #[serde(default)]
    claim_caps: BTreeMap<String, String>,
    #[serde(default)]
    cycle: Option<String>,
    #[serde(default)]
    cycle_start_dates: Option<Vec<String>>,
    #[serde(default)]
    items: BTreeMap<String, RawCover>,
    #[serde(default)]
    services: BTreeMap<String, RawCover>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPremium {
    per_member: Option<String>,
    lump_sum: Option<String>,
    threshold_members: Option<u32>,
    per_extra_member: Option<String>,
    #[serde(default)]
    by_category: BTreeMap<String, String>,
    registration_fee: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawLevels {
    per_claim: Option<String>,
    per_member: Option<String>,
    per_household: Option<String>,
}

/// Deductible or ceiling levels as written: general levels, optional outpatient / inpatient
/// overrides, and (ceilings only) the household growth rule.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCostSharing {
    per_claim: Option<String>,
    per_member: Option<String>,
    per_household: Option<String>,
    outpatient: Option<RawLevels>,
    inpatient: Option<RawLevels>,
    household_threshold_members: Option<u32>,
    household_per_extra_member: Option<String>,
    household_max: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCounts {
    visits: Option<u32>,
    consultations: Option<u32>,
    surgeries: Option<u32>,
    deliveries: Option<u32>,
    antenatal: Option<u32>,
    hospital_admissions: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCover {
    coinsurance_percent: Option<Decimal>,
    fixed_amount: Option<String>,
    max_quantity: Option<u32>,
    #[serde(default)]
    ceiling_excluded: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPriceList {
    id: String,
    #[serde(default)]
    prices: Vec<RawPrice>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrice {
    code: String,
    price: String,
    valid_from: String,
    valid_to: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFacility {
    id: String,
    name: String,
    #[serde(default)]
    level: String,
    care_type: String,
    payment_method: String,
    price_list: String,
    capitation_rate: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSponsor {
    id: String,
    name: String,
    #[serde(default)]
    match_percent: Option<Decimal>,
    #[serde(default)]
    match_ratio: Option<Decimal>,
    cap_per_household_per_year: Option<String>,
    #[serde(default)]
    cap_per_household_per_month: Option<String>,
    #[serde(default)]
    cap_per_member_per_year: Option<String>,
    #[serde(default)]
    cap_per_member_per_month: Option<String>,
    #[serde(default)]
    budget_per_year: Option<String>,
}

/// Collects problems while converting the raw document.
struct Checker {
    currency: Currency,
    problems: Vec<Problem>,
}

impl Checker {
    fn problem(&mut self, path: impl Into<String>, message: impl fmt::Display) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.to_string(),
        });
    }

    fn amount(&mut self, path: &str, text: &str) -> Option<Amount> {
        match text.parse::<Amount>() {
            Ok(a) if a.currency() != self.currency => {
                self.problem(
                    path,
                    format!("{a} is not in the scheme currency {}", self.currency),
                );
                None
            }
            Ok(a) if a.is_negative() => {
                self.problem(path, format!("{a} is negative"));
                None
            }
            Ok(a) => match ledger::bounds::amount(path, a) {
                Ok(()) => Some(a),
                Err(e) => {
                    self.problem(path, e.reason);
                    None
                }
            },
            Err(e) => {
                self.problem(path, e);
                None
            }
        }
    }

    /// An amount per unit (a price, a fixed amount per unit, a capitation rate): at most
    /// `ledger::bounds::UNIT_PRICE_MAX`, so that no claim line or statement overflows.
    fn unit_amount(&mut self, path: &str, text: &str) -> Option<Amount> {
        let a = self.amount(path, text)?;
        match ledger::bounds::unit_price(path, a) {
            Ok(()) => Some(a),
            Err(e) => {
                self.problem(path, e.reason);
                None
            }
        }
    }

    fn opt_amount(&mut self, path: &str, text: &Option<String>) -> Option<Amount> {
        text.as_deref().and_then(|t| self.amount(path, t))
    }

    fn date(&mut self, path: &str, text: &str) -> Option<Date> {
        match Date::parse_from_str(text, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                self.problem(path, format!("{text:?} is not a date (YYYY-MM-DD)"));
                None
            }
        }
    }

    fn id<T: std::str::FromStr<Err = ledger::ids::IdError>>(
        &mut self,
        path: &str,
        text: &str,
    ) -> Option<T> {
        match text.parse() {
            Ok(id) => Some(id),
            Err(e) => {
                self.problem(path, format!("{text:?} {e}"));
                None
            }
        }
    }

    fn care_type(&mut self, path: &str, text: &str) -> Option<CareType> {
        match text {
            "O" => Some(CareType::Outpatient),
            "I" => Some(CareType::Inpatient),
            "B" => Some(CareType::Both),
            other => {
                self.problem(path, format!("{other:?} is not O, I or B"));
                None
            }
        }
    }

    fn levels(&mut self, path: &str, raw: &RawLevels, fallback: &Levels) -> Levels {
        Levels {
            per_claim: self
                .opt_amount(&format!("{path}.per_claim"), &raw.per_claim)
                .or(fallback.per_claim),
            per_member: self
                .opt_amount(&format!("{path}.per_member"), &raw.per_member)
                .or(fallback.per_member),
            per_household: self
                .opt_amount(&format!("{path}.per_household"), &raw.per_household)
                .or(fallback.per_household),
        }
    }

    fn cost_sharing(&mut self, path: &str, raw: &RawCostSharing) -> CostSharing {
        let general = RawLevels {
            per_claim: raw.per_claim.clone(),
            per_member: raw.per_member.clone(),
            per_household: raw.per_household.clone(),
        };
        let all = self.levels(path, &general, &Levels::default());
        let outpatient = match &raw.outpatient {
            Some(op) => self.levels(&format!("{path}.outpatient"), op, &all),
            None => all,
        };
        let inpatient = match &raw.inpatient {
            Some(ip) => self.levels(&format!("{path}.inpatient"), ip, &all),
            None => all,
        };
        CostSharing {
            outpatient,
            inpatient,
        }
    }
}

fn claim_category(text: &str) -> Option<ClaimCategory> {
    Some(match text {
        "surgery" => ClaimCategory::Surgery,
        "delivery" => ClaimCategory::Delivery,
        "antenatal" => ClaimCategory::Antenatal,
        "hospitalization" => ClaimCategory::Hospitalization,
        "consultation" => ClaimCategory::Consultation,
        "visit" => ClaimCategory::Visit,
        _ => return None,
    })
}

impl Scheme {
    /// Parses and validates a scheme document, reporting every problem with its path.
    pub fn parse(document: &str) -> Result<Scheme, SchemeError> {
        let raw: RawScheme = toml::from_str(document).map_err(|e| SchemeError {
            problems: vec![Problem {
                path: "document".into(),
                message: e.to_string().trim().replace('\n', " "),
            }],
        })?;
        let currency = raw.scheme.currency.parse::<Currency>();
        let mut c = Checker {
            currency: *currency.as_ref().unwrap_or(&Currency::USD),
            problems: Vec::new(),
        };
        if let Err(e) = &currency {
            c.problem("scheme.currency", e);
        }
        let id = c.id::<SchemeId>("scheme.id", &raw.scheme.id);
        if raw.scheme.version == 0 {
            c.problem("scheme.version", "must be at least 1");
        }
        let rounding = match raw.scheme.rounding.as_deref().unwrap_or("half_even") {
            "half_even" => RoundingStrategy::MidpointNearestEven,
            "half_up" => RoundingStrategy::MidpointAwayFromZero,
            "down" => RoundingStrategy::ToZero,
            other => {
                c.problem(
                    "scheme.rounding",
                    format!("{other:?} is not half_even, half_up or down"),
                );
                RoundingStrategy::MidpointNearestEven
            }
        };

        let medical = parse_medical(&mut c, &raw);
        let products = parse_products(&mut c, &raw, &medical);
        let price_lists = parse_price_lists(&mut c, &raw, &medical);
        let facilities = parse_facilities(&mut c, &raw, &price_lists);
        let sponsors = parse_sponsors(&mut c, &raw);
        let diagnoses = parse_diagnoses(&mut c, &raw);
        let claims_open_days = raw
            .scheme
            .claims_open_days
            .unwrap_or(CLAIMS_OPEN_DAYS_DEFAULT);
        if !(1..=CLAIMS_OPEN_DAYS_MAX).contains(&claims_open_days) {
            c.problem(
                "scheme.claims_open_days",
                format!("{claims_open_days} is not between 1 and {CLAIMS_OPEN_DAYS_MAX}"),
            );
        }

        match (id, currency) {
            (Some(id), Ok(currency)) if c.problems.is_empty() => Ok(Scheme {
                id,
                name: raw.scheme.name,
                version: raw.scheme.version,
                content_sha256: sha256(document.as_bytes()),
                currency,
                rounding,
                medical,
                product_index: products
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p.id.clone(), i))
                    .collect(),
                products,
                facilities,
                price_lists,
                sponsors,
                diagnoses,
                claims_open_days,
            }),
            _ => Err(SchemeError {
                problems: c.problems,
            }),
        }
    }

    /// The longest frequency of any of the scheme's items and services, in days: how far
    /// back a new claim's frequency and duplicate checks can look.
    pub fn longest_frequency_days(&self) -> u32 {
        self.medical
            .values()
            .map(|m| m.frequency_days)
            .max()
            .unwrap_or(0)
    }

    /// Days after its service date a decided claim is kept where deciding sees it: open for
    /// review, reversal and copay, and visible to the frequency and duplicate checks of any
    /// claim still open (a claim open on day D looks back at most the longest frequency).
    pub fn claims_kept_days(&self) -> u32 {
        self.claims_open_days
            .saturating_add(self.longest_frequency_days())
    }

    pub fn product(&self, id: &ProductId) -> Option<&Product> {
        self.product_index.get(id).map(|&i| &self.products[i])
    }

    /// Applies a rate (a percentage) to an amount, rounding once with the scheme's strategy.
    /// This is the one place where decimal rates meet money.
    pub fn apply_percent(&self, amount: Amount, percent: Decimal) -> Amount {
        let exact = Decimal::from(amount.minor_units()) * percent / Decimal::ONE_HUNDRED;
        let rounded = exact.round_dp_with_strategy(0, self.rounding);
        // A percentage of at most 1000 of an i64 amount, rounded, fits back in i64 except at
        // the extremes, where the amount is clamped (such amounts are refused upstream).
        let minor = i64::try_from(rounded.mantissa()).unwrap_or(if rounded.is_sign_negative() {
            i64::MIN
        } else {
            i64::MAX
        });
        Amount::new(minor, amount.currency())
    }
}

fn product(
    c: &mut Checker,
    path: &str,
    p: &RawProduct,
    medical: &HashMap<Code, Medical>,
) -> Option<Product> {
    let id = c.id::<ProductId>(&format!("{path}.id"), &p.id);
    let valid_from = c.date(&format!("{path}.valid_from"), &p.valid_from);
    let valid_to = c.date(&format!("{path}.valid_to"), &p.valid_to);
    if let (Some(from), Some(to)) = (valid_from, valid_to)
        && to < from
    {
        c.problem(
            format!("{path}.valid_to"),
            format!("{to} is before valid_from {from}"),
        );
    }
    if p.insurance_period_months == 0 {
        c.problem(
            format!("{path}.insurance_period_months"),
            "must be at least 1",
        );
    }
    let pp = format!("{path}.premium");
    let premium = match (
        &p.premium.per_member,
        &p.premium.lump_sum,
        p.premium.by_category.is_empty(),
    ) {
        (Some(per), None, true) => c
            .amount(&format!("{pp}.per_member"), per)
            .map(Premium::PerMember),
        (None, Some(lump), true) => {
            let lump_sum = c.amount(&format!("{pp}.lump_sum"), lump);
            let threshold = p.premium.threshold_members;
            if threshold.is_none() {
                c.problem(
                    format!("{pp}.threshold_members"),
                    "is required with lump_sum",
                );
            }
            let extra = match &p.premium.per_extra_member {
                Some(t) => c.amount(&format!("{pp}.per_extra_member"), t),
                None => {
                    c.problem(
                        format!("{pp}.per_extra_member"),
                        "is required with lump_sum",
                    );
                    None
                }
            };
            match (lump_sum, threshold, extra) {
                (Some(lump_sum), Some(threshold_members), Some(per_extra_member)) => {
                    Some(Premium::Household {
                        lump_sum,
                        threshold_members,
                        per_extra_member,
                    })
                }
                _ => None,
            }
        }
        (None, None, false) => {
            let mut by = BTreeMap::new();
            for (cat, amount) in &p.premium.by_category {
                if let Some(a) = c.amount(&format!("{pp}.by_category[{cat:?}]"), amount) {
                    by.insert(cat.clone(), a);
                }
            }
            Some(Premium::ByCategory(by))
        }
        _ => {
            c.problem(
                &pp,
                "needs exactly one of per_member, lump_sum (with threshold_members and \
                 per_extra_member) or by_category",
            );
            None
        }
    };
    let registration_fee = c
        .opt_amount(
            &format!("{pp}.registration_fee"),
            &p.premium.registration_fee,
        )
        .unwrap_or(Amount::zero(c.currency));
    let deductible = c.cost_sharing(&format!("{path}.deductible"), &p.deductible);
    if p.deductible.household_threshold_members.is_some()
        || p.deductible.household_per_extra_member.is_some()
        || p.deductible.household_max.is_some()
    {
        c.problem(
            format!("{path}.deductible"),
            "household growth (household_threshold_members...) applies to ceilings only",
        );
    }
    let ceiling = c.cost_sharing(&format!("{path}.ceiling"), &p.ceiling);
    let ceiling_growth = match (
        p.ceiling.household_threshold_members,
        &p.ceiling.household_per_extra_member,
    ) {
        (Some(threshold_members), Some(extra)) => c
            .amount(&format!("{path}.ceiling.household_per_extra_member"), extra)
            .map(|per_extra_member| CeilingGrowth {
                threshold_members,
                per_extra_member,
                max: c.opt_amount(
                    &format!("{path}.ceiling.household_max"),
                    &p.ceiling.household_max,
                ),
            }),
        (None, None) => None,
        _ => {
            c.problem(
                format!("{path}.ceiling"),
                "household_threshold_members and household_per_extra_member go together",
            );
            None
        }
    };
    let mut claim_caps = HashMap::default();
    for (cat, amount) in &p.claim_caps {
        let cpath = format!("{path}.claim_caps[{cat:?}]");
        match claim_category(cat) {
            Some(category) => {
                if let Some(a) = c.amount(&cpath, amount) {
                    claim_caps.insert(category, a);
                }
            }
            None => c.problem(
                &cpath,
                "is not surgery, delivery, antenatal, hospitalization, consultation or visit",
            ),
        }
    }
    let mut covers = HashMap::default();
    for (table, kind, entries) in [
        ("items", LineKind::Item, &p.items),
        ("services", LineKind::Service, &p.services),
    ] {
        for (code, cover) in entries {
            let cpath = format!("{path}.{table}[{code:?}]");
            let Some(code) = c.id::<Code>(&cpath, code) else {
                continue;
            };
            match medical.get(&code) {
                Some(m) if m.kind == kind => {}
                Some(_) => c.problem(&cpath, format!("{code} is not in the scheme's {table}")),
                None => c.problem(&cpath, format!("{code} is not in the scheme's {table}")),
            }
            let limitation = match (cover.coinsurance_percent, &cover.fixed_amount) {
                (Some(pct), None) => {
                    if pct > Decimal::ONE_HUNDRED {
                        c.problem(
                            format!("{cpath}.coinsurance_percent"),
                            format!("{pct} is above 100"),
                        );
                    } else if pct.is_sign_negative() {
                        c.problem(
                            format!("{cpath}.coinsurance_percent"),
                            format!("{pct} is negative"),
                        );
                    }
                    Some(Limitation::Coinsurance(pct))
                }
                (None, Some(fixed)) => c
                    .unit_amount(&format!("{cpath}.fixed_amount"), fixed)
                    .map(Limitation::Fixed),
                _ => {
                    c.problem(
                        &cpath,
                        "needs exactly one of coinsurance_percent or fixed_amount",
                    );
                    None
                }
            };
            if let Some(limitation) = limitation {
                covers.insert(
                    code,
                    Cover {
                        limitation,
                        max_quantity: cover.max_quantity,
                        ceiling_excluded: cover.ceiling_excluded,
                    },
                );
            }
        }
    }
    Some(Product {
        id: id?,
        name: p.name.clone(),
        valid_from: valid_from?,
        valid_to: valid_to?,
        insurance_period_months: p.insurance_period_months,
        grace_period_days: p.grace_period_days,
        waiting_months_adult: p.waiting_months_adult,
        waiting_months_child: p.waiting_months_child,
        premium: premium?,
        registration_fee,
        use_asked_price: p.use_asked_price,
        deductible,
        ceiling,
        ceiling_growth,
        max_counts: MaxCounts {
            visits: p.max_counts.visits,
            consultations: p.max_counts.consultations,
            surgeries: p.max_counts.surgeries,
            deliveries: p.max_counts.deliveries,
            antenatal: p.max_counts.antenatal,
            hospital_admissions: p.max_counts.hospital_admissions,
        },
        claim_caps,
        covers,
        cycle: cycle(c, path, p),
    })
}

/// A product's cycle: `cycle = "first_payment" | "calendar_month" | "calendar_year"`, or
/// `cycle_start_dates = ["07-01", ...]` (MM-DD, days 1-28 so every year has them).
fn cycle(c: &mut Checker, path: &str, p: &RawProduct) -> Cycle {
    match (p.cycle.as_deref(), &p.cycle_start_dates) {
        (None | Some("first_payment"), None) => Cycle::FirstPayment,
        (Some("calendar_month"), None) => Cycle::CalendarMonth,
        (Some("calendar_year"), None) => Cycle::StartDates(vec![(1, 1)]),
        (None, Some(dates)) => {
            let mut starts = Vec::new();
            for (i, d) in dates.iter().enumerate() {
                let parsed = d
                    .split_once('-')
                    .and_then(|(m, d)| Some((m.parse::<u32>().ok()?, d.parse::<u32>().ok()?)))
                    .filter(|(m, d)| (1..=12).contains(m) && (1..=28).contains(d));
                match parsed {
                    Some(md) => starts.push(md),
                    None => c.problem(
                        format!("{path}.cycle_start_dates[{i}]"),
                        format!("{d:?} is not MM-DD with a day of 1 to 28"),
                    ),
                }
            }
            starts.sort_unstable();
            starts.dedup();
            if starts.is_empty() || starts.len() > CYCLE_START_DATES_MAX {
                c.problem(
                    format!("{path}.cycle_start_dates"),
                    format!("needs 1 to {CYCLE_START_DATES_MAX} dates"),
                );
            }
            Cycle::StartDates(starts)
        }
        (Some(other), None) => {
            c.problem(
                format!("{path}.cycle"),
                format!("{other:?} is not first_payment, calendar_month or calendar_year"),
            );
            Cycle::FirstPayment
        }
        (Some(_), Some(_)) => {
            c.problem(
                format!("{path}.cycle"),
                "give cycle or cycle_start_dates, not both",
            );
            Cycle::FirstPayment
        }
    }
}

/// The scheme document's `items` and `services` tables, by code, checked (each problem is added to `c`).
fn parse_medical(c: &mut Checker, raw: &RawScheme) -> HashMap<Code, Medical> {
    let mut medical = HashMap::default();
    for (table, kind, entries) in [
        ("items", LineKind::Item, &raw.items),
        ("services", LineKind::Service, &raw.services),
    ] {
        for (code, m) in entries {
            let path = format!("{table}[{code:?}]");
            let Some(code) = c.id::<Code>(&path, code) else {
                continue;
            };
            if medical.contains_key(&code) {
                c.problem(&path, "is both an item and a service; codes must be unique");
                continue;
            }
            let care_type = c.care_type(&format!("{path}.care_type"), &m.care_type);
            let mut mask = 0u8;
            match &m.patients {
                None => mask = PatientMask::ALL.0,
                Some(list) => {
                    for p in list {
                        mask |= match p.as_str() {
                            "male" => PatientMask::MALE,
                            "female" => PatientMask::FEMALE,
                            "adult" => PatientMask::ADULT,
                            "minor" => PatientMask::MINOR,
                            other => {
                                c.problem(
                                    format!("{path}.patients"),
                                    format!("{other:?} is not male, female, adult or minor"),
                                );
                                0
                            }
                        };
                    }
                    if mask & 3 == 0 || mask & 12 == 0 {
                        c.problem(
                            format!("{path}.patients"),
                            "needs at least one of male/female and one of adult/minor",
                        );
                    }
                }
            }
            let category = match (kind, m.category.as_deref()) {
                (_, None | Some("other")) => ServiceCategory::Other,
                (LineKind::Service, Some("consultation")) => ServiceCategory::Consultation,
                (LineKind::Service, Some("surgery")) => ServiceCategory::Surgery,
                (LineKind::Service, Some("delivery")) => ServiceCategory::Delivery,
                (LineKind::Service, Some("antenatal")) => ServiceCategory::Antenatal,
                (LineKind::Service, Some("hospitalization")) => ServiceCategory::Hospitalization,
                (_, Some(other)) => {
                    c.problem(
                        format!("{path}.category"),
                        format!(
                            "{other:?} is not consultation, surgery, delivery, antenatal, \
                             hospitalization or other (items are always other)"
                        ),
                    );
                    ServiceCategory::Other
                }
            };
            let months_of_stock = m.months_of_stock.unwrap_or(MONTHS_OF_STOCK_DEFAULT);
            if !(1..=MONTHS_OF_STOCK_MAX).contains(&months_of_stock) {
                c.problem(
                    format!("{path}.months_of_stock"),
                    format!("is {months_of_stock}, must be 1 to {MONTHS_OF_STOCK_MAX}"),
                );
            }
            if let Some(care_type) = care_type {
                medical.insert(
                    code.clone(),
                    Medical {
                        code,
                        kind,
                        name: m.name.clone(),
                        care_type,
                        patients: PatientMask(mask),
                        frequency_days: m.frequency_days,
                        category,
                        months_of_stock,
                    },
                );
            }
        }
    }
    medical
}

/// The scheme document's `products`, checked (each problem is added to `c`).
fn parse_products(
    c: &mut Checker,
    raw: &RawScheme,
    medical: &HashMap<Code, Medical>,
) -> Vec<Product> {
    let mut products = Vec::new();
    for (i, p) in raw.products.iter().enumerate() {
        let path = format!("products[{i}]");
        if let Some(product) = product(c, &path, p, medical) {
            if products.iter().any(|q: &Product| q.id == product.id) {
                c.problem(
                    format!("{path}.id"),
                    format!("{} is used twice", product.id),
                );
            }
            products.push(product);
        }
    }
    products
}

/// The scheme document's `price_lists`, by id, checked (each problem is added to `c`).
fn parse_price_lists(
    c: &mut Checker,
    raw: &RawScheme,
    medical: &HashMap<Code, Medical>,
) -> HashMap<String, PriceList> {
    let mut price_lists = HashMap::default();
    for (i, l) in raw.price_lists.iter().enumerate() {
        let path = format!("price_lists[{i}]");
        let mut list = PriceList::default();
        for (j, p) in l.prices.iter().enumerate() {
            let ppath = format!("{path}.prices[{j}]");
            let code = c.id::<Code>(&format!("{ppath}.code"), &p.code);
            if let Some(code) = &code
                && !medical.contains_key(code)
            {
                c.problem(
                    format!("{ppath}.code"),
                    format!("{code} is not an item or service of the scheme"),
                );
            }
            let price = c.unit_amount(&format!("{ppath}.price"), &p.price);
            let from = c.date(&format!("{ppath}.valid_from"), &p.valid_from);
            let to = p
                .valid_to
                .as_deref()
                .and_then(|t| c.date(&format!("{ppath}.valid_to"), t));
            if let (Some(code), Some(price), Some(valid_from)) = (code, price, from) {
                let entries = list.prices.entry(code.clone()).or_default();
                let overlaps = entries.iter().any(|e: &Price| {
                    e.valid_from <= to.unwrap_or(Date::MAX)
                        && valid_from <= e.valid_to.unwrap_or(Date::MAX)
                });
                if overlaps {
                    c.problem(
                        &ppath,
                        format!("{code} has another price valid on some of these dates"),
                    );
                }
                entries.push(Price {
                    price,
                    valid_from,
                    valid_to: to,
                });
            }
        }
        if price_lists.insert(l.id.clone(), list).is_some() {
            c.problem(format!("{path}.id"), format!("{:?} is used twice", l.id));
        }
    }
    price_lists
}

/// The scheme document's `facilities`, by id, checked (each problem is added to `c`).
fn parse_facilities(
    c: &mut Checker,
    raw: &RawScheme,
    price_lists: &HashMap<String, PriceList>,
) -> HashMap<FacilityId, Facility> {
    let mut facilities = HashMap::default();
    if raw.facilities.len() > FACILITIES_MAX {
        c.problem(
            "facilities",
            format!(
                "{} facilities, the maximum is {FACILITIES_MAX}",
                raw.facilities.len()
            ),
        );
    }
    for (i, f) in raw.facilities.iter().enumerate() {
        let path = format!("facilities[{i}]");
        let id = c.id::<FacilityId>(&format!("{path}.id"), &f.id);
        let care_type = c.care_type(&format!("{path}.care_type"), &f.care_type);
        let payment_method = match f.payment_method.as_str() {
            "fee_for_service" => Some(PaymentMethod::FeeForService),
            "capitation" => Some(PaymentMethod::Capitation),
            "consumption" => Some(PaymentMethod::Consumption),
            other => {
                c.problem(
                    format!("{path}.payment_method"),
                    format!("{other:?} is not fee_for_service, capitation or consumption"),
                );
                None
            }
        };
        if !price_lists.contains_key(&f.price_list) {
            c.problem(
                format!("{path}.price_list"),
                format!("{:?} is not a price list of the scheme", f.price_list),
            );
        }
        let capitation_rate = f
            .capitation_rate
            .as_deref()
            .and_then(|t| c.unit_amount(&format!("{path}.capitation_rate"), t));
        if payment_method == Some(PaymentMethod::Capitation) && capitation_rate.is_none() {
            c.problem(
                format!("{path}.capitation_rate"),
                "is required for capitation",
            );
        }
        if let (Some(id), Some(care_type), Some(payment_method)) = (id, care_type, payment_method) {
            let facility = Facility {
                id: id.clone(),
                name: f.name.clone(),
                level: f.level.clone(),
                care_type,
                payment_method,
                price_list: f.price_list.clone(),
                capitation_rate,
            };
            if facilities.insert(id.clone(), facility).is_some() {
                c.problem(format!("{path}.id"), format!("{id} is used twice"));
            }
        }
    }
    facilities
}

/// The scheme document's `sponsors`, by id, checked (each problem is added to `c`).
fn parse_sponsors(c: &mut Checker, raw: &RawScheme) -> HashMap<SponsorId, Sponsor> {
    let mut sponsors = HashMap::default();
    for (i, s) in raw.sponsors.iter().enumerate() {
        let path = format!("sponsors[{i}]");
        let id = c.id::<SponsorId>(&format!("{path}.id"), &s.id);
        let match_percent = match (s.match_percent, s.match_ratio) {
            (Some(percent), None) => percent,
            (None, Some(ratio)) => ratio * Decimal::ONE_HUNDRED,
            _ => {
                c.problem(
                    format!("{path}.match_percent"),
                    "give match_percent or match_ratio, one of them",
                );
                Decimal::ZERO
            }
        };
        if match_percent.is_sign_negative() || match_percent > Decimal::from(1000) {
            c.problem(
                format!("{path}.match_percent"),
                format!("{match_percent} is not between 0 and 1000 (a ratio of 0 to 10)"),
            );
        }
        let mut amount =
            |key: &str, text: &Option<String>| c.opt_amount(&format!("{path}.{key}"), text);
        let caps = SponsorCaps {
            per_household_per_year: amount(
                "cap_per_household_per_year",
                &s.cap_per_household_per_year,
            ),
            per_household_per_month: amount(
                "cap_per_household_per_month",
                &s.cap_per_household_per_month,
            ),
            per_member_per_year: amount("cap_per_member_per_year", &s.cap_per_member_per_year),
            per_member_per_month: amount("cap_per_member_per_month", &s.cap_per_member_per_month),
        };
        let budget_per_year = amount("budget_per_year", &s.budget_per_year);
        if let Some(id) = id {
            sponsors.insert(
                id.clone(),
                Sponsor {
                    id,
                    name: s.name.clone(),
                    match_percent,
                    caps,
                    budget_per_year,
                },
            );
        }
    }
    sponsors
}

/// The scheme document's `scheme.diagnoses`, checked (each problem is added to `c`).
fn parse_diagnoses(c: &mut Checker, raw: &RawScheme) -> std::collections::HashSet<Code> {
    let mut diagnoses = std::collections::HashSet::new();
    for (i, d) in raw.scheme.diagnoses.iter().enumerate() {
        if let Some(code) = c.id::<Code>(&format!("scheme.diagnoses[{i}]"), d) {
            diagnoses.insert(code);
        }
    }
    diagnoses
}
