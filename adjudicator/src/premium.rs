//! Money in: what a policy costs, how payments activate it, and what a sponsor adds.
//!
//! Activation rules (domain.md, openIMIS): a payment that completes the price activates the
//! policy; partial payments accumulate; a policy paid in full within the grace period after its
//! start is covered from its start; paid later, cover starts on the day of the payment (it is
//! not back-dated). The period ends on start + insurance period - 1 day either way.

use chrono::Months;
use ledger::{Amount, Date, MoneyError};
use thiserror::Error;

use crate::scheme::{Premium, Product, Scheme, Sponsor};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PremiumError {
    #[error("members: a policy needs at least one member")]
    NoMembers,
    #[error("socio_economic_category: {0:?} has no price in this product")]
    UnknownCategory(String),
    #[error("socio_economic_category: this product prices by category, none was given")]
    MissingCategory,
    #[error("amount: {0}")]
    Money(#[from] MoneyError),
}

/// The price of one policy period for a household of `members`, including the registration
/// fee when the policy is new.
pub fn policy_price(
    product: &Product,
    members: u32,
    socio_economic_category: Option<&str>,
    new_policy: bool,
) -> Result<Amount, PremiumError> {
    if members == 0 {
        return Err(PremiumError::NoMembers);
    }
    let n = i64::from(members);
    let price = match &product.premium {
        Premium::PerMember(amount) => amount.checked_mul(n)?,
        Premium::Household {
            lump_sum,
            threshold_members,
            per_extra_member,
        } => {
            let extra = i64::from(members.saturating_sub(*threshold_members));
            lump_sum.checked_add(per_extra_member.checked_mul(extra)?)?
        }
        Premium::ByCategory(by) => {
            let category = socio_economic_category.ok_or(PremiumError::MissingCategory)?;
            by.get(category)
                .ok_or_else(|| PremiumError::UnknownCategory(category.to_owned()))?
                .checked_mul(n)?
        }
    };
    if new_policy {
        Ok(price.checked_add(product.registration_fee)?)
    } else {
        Ok(price)
    }
}

/// The last day of a period that starts on `start`.
pub fn expiry(start: Date, insurance_period_months: u32) -> Date {
    start
        .checked_add_months(Months::new(insurance_period_months))
        .and_then(|d| d.pred_opt())
        .unwrap_or(Date::MAX)
}

/// What a policy period costs and when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub price: Amount,
    pub start_date: Date,
    pub grace_period_days: u32,
    pub insurance_period_months: u32,
}

/// The cover a completed payment starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activation {
    pub effective_from: Date,
    pub expires_on: Date,
}

/// The policy after a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentOutcome {
    /// Everything paid towards the period, this payment included.
    pub paid: Amount,
    /// What is still due (zero once paid in full).
    pub outstanding: Amount,
    /// Set when this payment completed the price.
    pub activation: Option<Activation>,
}

/// Applies a payment of `amount` on `pay_date` to a period of which `paid_before` was paid.
pub fn apply_payment(
    terms: &Terms,
    paid_before: Amount,
    amount: Amount,
    pay_date: Date,
) -> Result<PaymentOutcome, MoneyError> {
    let paid = paid_before.checked_add(amount)?;
    let outstanding = terms.price.checked_sub(paid)?;
    let was_complete = !terms.price.checked_sub(paid_before)?.is_positive();
    let complete = !outstanding.is_positive();
    let activation = (complete && !was_complete).then(|| {
        let grace_end = terms
            .start_date
            .checked_add_days(chrono::Days::new(u64::from(terms.grace_period_days)))
            .unwrap_or(Date::MAX);
        let effective_from = if pay_date <= grace_end {
            terms.start_date
        } else {
            pay_date
        };
        Activation {
            effective_from,
            expires_on: expiry(terms.start_date, terms.insurance_period_months),
        }
    });
    Ok(PaymentOutcome {
        paid,
        outstanding: if outstanding.is_negative() {
            Amount::zero(outstanding.currency())
        } else {
            outstanding
        },
        activation,
    })
}

/// What a sponsor has already given, in the calendar year and month of a new saving: to its
/// household, to its member (when the saving names one), and to everyone (for the budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SponsorGiven {
    pub household_year: Amount,
    pub household_month: Amount,
    pub member_year: Option<Amount>,
    pub member_month: Option<Amount>,
    pub all_year: Amount,
}

/// What stopped a match short of the sponsor's ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchLimit {
    HouseholdYearCap,
    HouseholdMonthCap,
    MemberYearCap,
    MemberMonthCap,
    Budget,
}

/// A sponsor's match of one saving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SponsorMatch {
    pub amount: Amount,
    /// The cap or budget that cut the match, if one did.
    pub limited_by: Option<MatchLimit>,
}

/// What a sponsor adds to a household's own saving: the saving times the sponsor's ratio
/// (rounded once, with the scheme's rounding), cut to what is left of each of its caps and of
/// its yearly budget, given what it already gave. Member caps count only savings that name
/// their member.
pub fn sponsor_match(
    scheme: &Scheme,
    sponsor: &Sponsor,
    contribution: Amount,
    given: &SponsorGiven,
) -> Result<SponsorMatch, MoneyError> {
    let mut m = SponsorMatch {
        amount: scheme.apply_percent(contribution, sponsor.match_percent),
        limited_by: None,
    };
    let caps = &sponsor.caps;
    let limits = [
        (
            caps.per_household_per_year,
            Some(given.household_year),
            MatchLimit::HouseholdYearCap,
        ),
        (
            caps.per_household_per_month,
            Some(given.household_month),
            MatchLimit::HouseholdMonthCap,
        ),
        (
            caps.per_member_per_year,
            given.member_year,
            MatchLimit::MemberYearCap,
        ),
        (
            caps.per_member_per_month,
            given.member_month,
            MatchLimit::MemberMonthCap,
        ),
        (
            sponsor.budget_per_year,
            Some(given.all_year),
            MatchLimit::Budget,
        ),
    ];
    for (limit, given, why) in limits {
        let (Some(limit), Some(given)) = (limit, given) else {
            continue;
        };
        let left = limit.checked_sub(given)?;
        let left = Amount::new(left.minor_units().max(0), left.currency());
        if left.minor_units() < m.amount.minor_units() {
            m = SponsorMatch {
                amount: left,
                limited_by: Some(why),
            };
        }
    }
    Ok(m)
}
