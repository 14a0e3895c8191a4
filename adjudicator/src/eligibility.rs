//! Eligibility: is a member covered on a date, and what is LEFT of every benefit.
//!
//! openIMIS answers with the maximums; facilities asked for the remainder, so this returns
//! remaining deductibles, ceilings, counts per claim category and quantities per item. A limit
//! of 0 means "never covered", here as in adjudication.

use ledger::event::{ClaimCategory, PolicyStatus};
use ledger::ids::{Code, PolicyId, ProductId};
use ledger::{Amount, Date};

use crate::adjudicate::reason;
use crate::context::{BySetting, Member, MemberContext, PolicyContext};
use crate::scheme::{Levels, Product, Scheme};

/// A policy's standing on the asked date, for this member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoverageStatus {
    /// Pays for care on the date.
    Active,
    /// Covers the date, but the member's waiting period runs until the given day.
    Waiting {
        until: Date,
    },
    /// Not (fully) paid.
    Idle,
    Suspended,
    /// Paid, but cover starts later.
    NotYetEffective {
        from: Date,
    },
    /// The period ended before the date.
    Expired {
        on: Date,
    },
}

/// What is left of a deductible or a ceiling (None: the scheme sets no such level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Left {
    pub per_member: Option<Amount>,
    pub per_household: Option<Amount>,
}

/// What is left of one item or service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemLeft {
    pub code: Code,
    /// openIMIS reason it would be rejected under this product, 0 if covered.
    pub reason_code: i32,
    /// Units left this period; None = no quantity limit.
    pub quantity_left: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductEligibility {
    pub policy_id: PolicyId,
    pub product_id: ProductId,
    pub status: CoverageStatus,
    pub expires_on: Date,
    pub deductible_left_outpatient: Left,
    pub deductible_left_inpatient: Left,
    pub ceiling_left_outpatient: Left,
    pub ceiling_left_inpatient: Left,
    /// Uses left this period, for the categories that have a maximum.
    pub counts_left: Vec<(ClaimCategory, u32)>,
    pub items: Vec<ItemLeft>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eligibility {
    pub date: Date,
    /// The member is enrolled.
    pub member_known: bool,
    /// At least one policy is `Active` for the member on the date.
    pub covered: bool,
    pub products: Vec<ProductEligibility>,
}

fn left(limit: Option<Amount>, used: Amount) -> Option<Amount> {
    limit.map(|l| {
        let rest = l.minor_units().saturating_sub(used.minor_units()).max(0);
        Amount::new(rest, l.currency())
    })
}

fn levels_left(
    levels: &Levels,
    household_limit: Option<Amount>,
    member_used: &BySetting,
    household_used: &BySetting,
    inpatient: bool,
) -> Left {
    Left {
        per_member: left(levels.per_member, member_used.get(inpatient)),
        per_household: left(household_limit, household_used.get(inpatient)),
    }
}

fn household_ceiling(product: &Product, levels: &Levels, members: u32) -> Option<Amount> {
    match (levels.per_household, product.ceiling_growth) {
        (Some(base), Some(g)) => {
            let extra = i64::from(members.saturating_sub(g.threshold_members));
            let grown = base
                .minor_units()
                .saturating_add(g.per_extra_member.minor_units().saturating_mul(extra));
            let grown = g.max.map_or(grown, |m| grown.min(m.minor_units()));
            Some(Amount::new(grown, base.currency()))
        }
        (limit, _) => limit,
    }
}

fn status(pc: &PolicyContext, product: &Product, member: &Member, date: Date) -> CoverageStatus {
    let p = &pc.policy;
    match p.status {
        PolicyStatus::Idle => return CoverageStatus::Idle,
        PolicyStatus::Suspended => return CoverageStatus::Suspended,
        PolicyStatus::Active | PolicyStatus::Expired => {}
    }
    if date < p.effective_from {
        return CoverageStatus::NotYetEffective {
            from: p.effective_from,
        };
    }
    if date > p.expires_on {
        return CoverageStatus::Expired { on: p.expires_on };
    }
    let months = if member.is_adult_on(date) {
        product.waiting_months_adult
    } else {
        product.waiting_months_child
    };
    match p.waiting_until(member.enrolled_on, months) {
        Some(until) if date < until => CoverageStatus::Waiting { until },
        _ => CoverageStatus::Active,
    }
}

/// The member's coverage on `date` and what is left of each benefit, with the remaining
/// quantities of `codes` (the items and services the facility is about to give).
pub fn eligibility(
    ctx: &MemberContext,
    scheme: &Scheme,
    date: Date,
    codes: &[Code],
) -> Eligibility {
    let Some(member) = &ctx.member else {
        return Eligibility {
            date,
            member_known: false,
            covered: false,
            products: Vec::new(),
        };
    };
    let mut products = Vec::new();
    for pc in &ctx.policies {
        let p = &pc.policy;
        // Only the periods that matter on the date: the one around it, or a coming one.
        if p.expires_on < date && p.status != PolicyStatus::Expired {
            continue;
        }
        let Some(product) = scheme.product(&p.product_id) else {
            continue;
        };
        let status = status(pc, product, member, date);
        let u = &pc.usage;
        let counts_left = [
            ClaimCategory::Visit,
            ClaimCategory::Consultation,
            ClaimCategory::Surgery,
            ClaimCategory::Delivery,
            ClaimCategory::Antenatal,
            ClaimCategory::Hospitalization,
        ]
        .into_iter()
        .filter_map(|c| {
            product
                .max_counts
                .for_category(c)
                .0
                .map(|max| (c, max.saturating_sub(u.counts.get(c))))
        })
        .collect();
        let items = codes
            .iter()
            .map(|code| {
                let used = u.quantities.get(code).copied().unwrap_or(0);
                match (scheme.medical.get(code), product.covers.get(code)) {
                    (None, _) => ItemLeft {
                        code: code.clone(),
                        reason_code: reason::UNKNOWN_ITEM,
                        quantity_left: Some(0),
                    },
                    (Some(_), None) => ItemLeft {
                        code: code.clone(),
                        reason_code: reason::NO_COVERING_PRODUCT,
                        quantity_left: Some(0),
                    },
                    (Some(_), Some(cover)) => {
                        let quantity_left = cover.max_quantity.map(|m| m.saturating_sub(used));
                        let reason_code = match (status, quantity_left) {
                            (CoverageStatus::Waiting { .. }, _) => reason::WAITING_PERIOD,
                            (CoverageStatus::Active, Some(0)) => reason::QUANTITY,
                            (CoverageStatus::Active, _) => reason::ACCEPTED,
                            _ => reason::NO_COVERAGE,
                        };
                        ItemLeft {
                            code: code.clone(),
                            reason_code,
                            quantity_left,
                        }
                    }
                }
            })
            .collect();
        let members = p.household_members;
        let d = &product.deductible;
        let c = &product.ceiling;
        products.push(ProductEligibility {
            policy_id: p.id.clone(),
            product_id: p.product_id.clone(),
            status,
            expires_on: p.expires_on,
            deductible_left_outpatient: levels_left(
                &d.outpatient,
                d.outpatient.per_household,
                &u.member_deductible,
                &u.household_deductible,
                false,
            ),
            deductible_left_inpatient: levels_left(
                &d.inpatient,
                d.inpatient.per_household,
                &u.member_deductible,
                &u.household_deductible,
                true,
            ),
            ceiling_left_outpatient: levels_left(
                &c.outpatient,
                household_ceiling(product, &c.outpatient, members),
                &u.member_ceiling,
                &u.household_ceiling,
                false,
            ),
            ceiling_left_inpatient: levels_left(
                &c.inpatient,
                household_ceiling(product, &c.inpatient, members),
                &u.member_ceiling,
                &u.household_ceiling,
                true,
            ),
            counts_left,
            items,
        });
    }
    Eligibility {
        date,
        member_known: true,
        covered: products.iter().any(|p| p.status == CoverageStatus::Active),
        products,
    }
}
