//! Policies and the usage counters the adjudicator needs.

use std::collections::{BTreeMap, BTreeSet};

use adjudicator::context::{BySetting, CategoryCounts, Member, PriorClaim};
use adjudicator::{MemberContext, Policy, PolicyContext, Usage};
use ledger::event::{
    ClaimCategory, CoverageChanged, DecisionStatus, LineDecision, PolicyStatus, PremiumPaid,
};
use ledger::ids::{Code, HouseholdId, MemberId, PolicyId, ProductId};
use ledger::{Amount, Currency, Date, MoneyError};

use crate::keyed::Keyed;

/// One recorded change of a policy's status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    pub position: u64,
    pub changed_on: Date,
    pub status: PolicyStatus,
    pub effective_from: Date,
    pub expires_on: Date,
}

/// A household's policy for one product and period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyRecord {
    pub household_id: HouseholdId,
    pub product_id: ProductId,
    pub period_start: Date,
    pub renewal: bool,
    pub price: Amount,
    pub paid: Amount,
    pub changes: Vec<Change>,
}

impl PolicyRecord {
    /// The current state (the last change).
    pub fn current(&self) -> &Change {
        // A record is created by its first change, so there is always one.
        &self.changes[self.changes.len() - 1]
    }

    /// The state as of the end of a business date (None: the policy did not exist yet).
    pub fn as_of(&self, date: Date) -> Option<&Change> {
        self.changes.iter().rev().find(|c| c.changed_on <= date)
    }

    /// The state after the events below `position`.
    pub fn as_of_position(&self, position: u64) -> Option<&Change> {
        self.changes.iter().rev().find(|c| c.position < position)
    }

    pub fn outstanding(&self) -> Amount {
        let rest = self
            .price
            .minor_units()
            .saturating_sub(self.paid.minor_units())
            .max(0);
        Amount::new(rest, self.price.currency())
    }
}

/// The policies that passed (were not rejected on) at least one of `lines`, each once.
/// Claims have a handful of lines: found by scanning, without a set.
fn passing_policies(lines: &[LineDecision]) -> impl Iterator<Item = &PolicyId> {
    fn passing(l: &LineDecision) -> Option<&PolicyId> {
        l.policy_id
            .as_ref()
            .filter(|_| l.status != DecisionStatus::Rejected)
    }
    lines.iter().enumerate().filter_map(move |(i, l)| {
        let policy = passing(l)?;
        (!lines[..i].iter().any(|m| passing(m) == Some(policy))).then_some(policy)
    })
}

/// What one member has used of one policy period. `[outpatient, inpatient]` amounts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberUsage {
    pub counts: [u32; 6],
    pub quantities: BTreeMap<Code, u32>,
    /// Consumed, in minor units, outpatient and inpatient: `i128`, like account balances, so
    /// that no history overflows them (see `balances::Ledger`).
    pub deductible: [i128; 2],
    pub ceiling: [i128; 2],
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HouseholdUsage {
    pub deductible: [i128; 2],
    pub ceiling: [i128; 2],
}

fn category_index(c: ClaimCategory) -> usize {
    match c {
        ClaimCategory::Visit => 0,
        ClaimCategory::Consultation => 1,
        ClaimCategory::Surgery => 2,
        ClaimCategory::Delivery => 3,
        ClaimCategory::Antenatal => 4,
        ClaimCategory::Hospitalization => 5,
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Coverage {
    pub policies: Keyed<PolicyId, PolicyRecord>,
    pub by_household: Keyed<HouseholdId, BTreeSet<PolicyId>>,
    pub member_usage: Keyed<(PolicyId, MemberId), MemberUsage>,
    pub household_usage: Keyed<PolicyId, HouseholdUsage>,
}

impl Coverage {
    /// Coverage as lines without positions ([`crate::canonical`]): each policy and its
    /// usage live in their household's partition.
    pub(crate) fn canonical(&self, out: &mut crate::canonical::Canonical) {
        for (id, policy) in self.policies.iter() {
            let changes: Vec<_> = policy
                .changes
                .iter()
                .map(|c| (c.changed_on, c.status, c.effective_from, c.expires_on))
                .collect();
            let PolicyRecord {
                household_id,
                product_id,
                period_start,
                renewal,
                price,
                paid,
                changes: _,
            } = policy;
            out.owned((
                "policy",
                id,
                (household_id, product_id, period_start, renewal, price, paid),
                changes,
            ));
        }
        for (key, usage) in self.member_usage.iter() {
            out.owned(("member usage", key, usage));
        }
        for (key, usage) in self.household_usage.iter() {
            out.owned(("household usage", key, usage));
        }
    }

    pub(crate) fn changed(&mut self, position: u64, e: &CoverageChanged) {
        let change = Change {
            position,
            changed_on: e.changed_on,
            status: e.status,
            effective_from: e.effective_from,
            expires_on: e.expires_on,
        };
        match self.policies.get_mut(&e.policy_id) {
            Some(p) => {
                p.price = e.price;
                p.changes.push(change);
            }
            None => {
                self.policies.insert(
                    e.policy_id.clone(),
                    PolicyRecord {
                        household_id: e.household_id.clone(),
                        product_id: e.product_id.clone(),
                        period_start: e.period_start,
                        renewal: e.renewal,
                        price: e.price,
                        paid: Amount::zero(e.price.currency()),
                        changes: vec![change],
                    },
                );
                self.by_household
                    .entry(e.household_id.clone())
                    .or_default()
                    .insert(e.policy_id.clone());
            }
        }
    }

    pub(crate) fn premium_paid(&mut self, e: &PremiumPaid) -> Result<(), String> {
        let policy = self
            .policies
            .get_mut(&e.policy_id)
            .ok_or_else(|| format!("premium for unknown policy {}", e.policy_id))?;
        policy.paid = policy
            .paid
            .checked_add(e.amount)
            .map_err(|err| err.to_string())?;
        Ok(())
    }

    /// Moves usage from the `before` lines of a claim to its `after` lines (a decision has no
    /// before; a review replaces lines; a reversal has no after).
    pub(crate) fn record_lines(
        &mut self,
        claim: &crate::claims::ClaimRecord,
        category: &ClaimCategory,
        before: &[LineDecision],
        after: &[LineDecision],
    ) -> Result<(), MoneyError> {
        let inpatient = usize::from(claim.inpatient());
        for (lines, sign) in [(before, -1i64), (after, 1i64)] {
            for l in lines
                .iter()
                .filter(|l| l.status != DecisionStatus::Rejected)
            {
                let Some(policy) = &l.policy_id else { continue };
                let code = claim
                    .lines
                    .iter()
                    .find(|c| c.line_no == l.line_no)
                    .map(|c| c.code.clone());
                let usage = self
                    .member_usage
                    .entry((policy.clone(), claim.member_id.clone()))
                    .or_default();
                if let Some(code) = code {
                    let q = usage.quantities.entry(code).or_insert(0);
                    *q = if sign > 0 {
                        q.saturating_add(l.approved_quantity)
                    } else {
                        q.saturating_sub(l.approved_quantity)
                    };
                }
                let sign = i128::from(sign);
                let deductible = i128::from(l.deductible.minor_units()) * sign;
                let ceiling = if l.ceiling_excluded {
                    0
                } else {
                    i128::from(l.payer.minor_units()) * sign
                };
                let add = |slot: &mut i128, v: i128| -> Result<(), MoneyError> {
                    *slot = slot.checked_add(v).ok_or(MoneyError::Overflow)?;
                    Ok(())
                };
                add(&mut usage.deductible[inpatient], deductible)?;
                add(&mut usage.ceiling[inpatient], ceiling)?;
                let household = self.household_usage.entry(policy.clone()).or_default();
                add(&mut household.deductible[inpatient], deductible)?;
                add(&mut household.ceiling[inpatient], ceiling)?;
            }
        }
        // A claim counts once per policy that passes at least one of its lines: up for a
        // policy passing only after, down for one that passed only before.
        let index = category_index(*category);
        for (passing_in, not_in, up) in [(after, before, true), (before, after, false)] {
            let passing =
                passing_policies(passing_in).filter(|p| !passing_policies(not_in).any(|q| q == *p));
            for policy in passing {
                let u = self
                    .member_usage
                    .entry((policy.clone(), claim.member_id.clone()))
                    .or_default();
                u.counts[index] = if up {
                    u.counts[index].saturating_add(1)
                } else {
                    u.counts[index].saturating_sub(1)
                };
            }
        }
        Ok(())
    }

    /// The household's policies.
    pub fn household_policies(
        &self,
        household: &HouseholdId,
    ) -> impl Iterator<Item = (&PolicyId, &PolicyRecord)> {
        self.by_household
            .get(household)
            .into_iter()
            .flatten()
            .filter_map(|id| self.policies.get(id).map(|p| (id, p)))
    }

    /// What the adjudicator needs to know about a member: the household's policies with
    /// their usage, and the member's earlier claims. Of the quantities used, only those of
    /// `codes` (the claim's or the eligibility check's items and services) are copied: the
    /// adjudicator reads no others, and a member's full history of items grows with time.
    pub fn member_context<'c>(
        &self,
        member_id: &MemberId,
        member: Option<&crate::registry::MemberRecord>,
        household_members: u32,
        currency: Currency,
        prior_claims: Vec<PriorClaim>,
        codes: impl Iterator<Item = &'c Code> + Clone,
    ) -> MemberContext {
        let Some(m) = member else {
            return MemberContext::default();
        };
        // Saturated: consumption beyond `i64::MAX` is past any deductible or ceiling a scheme
        // can set (they are at most `AMOUNT_MAX`), which is all the adjudicator compares.
        let amounts = |v: [i128; 2]| {
            BySetting(v.map(|minor| Amount::new(crate::balances::saturated(minor), currency)))
        };
        let policies = self
            .household_policies(&m.household_id)
            .map(|(id, p)| {
                let c = p.current();
                let mu = self.member_usage.get(&(id.clone(), member_id.clone()));
                let hu = self.household_usage.get(id);
                let counts = mu.map(|u| u.counts).unwrap_or_default();
                let mut usage = Usage::empty(currency);
                usage.counts = CategoryCounts {
                    visits: counts[0],
                    consultations: counts[1],
                    surgeries: counts[2],
                    deliveries: counts[3],
                    antenatal: counts[4],
                    hospital_admissions: counts[5],
                };
                if let Some(mu) = mu {
                    usage.quantities = codes
                        .clone()
                        .filter_map(|c| mu.quantities.get(c).map(|q| (c.clone(), *q)))
                        .collect();
                    usage.member_deductible = amounts(mu.deductible);
                    usage.member_ceiling = amounts(mu.ceiling);
                }
                if let Some(hu) = hu {
                    usage.household_deductible = amounts(hu.deductible);
                    usage.household_ceiling = amounts(hu.ceiling);
                }
                PolicyContext {
                    policy: Policy {
                        id: id.clone(),
                        product_id: p.product_id.clone(),
                        status: c.status,
                        start_date: p.period_start,
                        effective_from: c.effective_from,
                        expires_on: c.expires_on,
                        renewal: p.renewal,
                        household_members,
                    },
                    usage,
                }
            })
            .collect();
        MemberContext {
            member: Some(Member {
                id: member_id.clone(),
                household_id: m.household_id.clone(),
                gender: m.gender,
                birth_date: m.birth_date,
                enrolled_on: m.enrolled_on,
            }),
            policies,
            prior_claims,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use ledger::event::{ClaimLine, ClaimSubmitted, LineKind};

    use super::*;

    fn id<T: std::str::FromStr>(s: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        s.parse().unwrap()
    }

    fn date() -> Date {
        Date::from_ymd_opt(2026, 3, 1).unwrap()
    }

    fn claim(codes: &[&str]) -> ClaimSubmitted {
        ClaimSubmitted {
            claim_id: id("c-1"),
            claim_code: id("F-1"),
            facility_id: id("fac-1"),
            member_id: id("m-1"),
            household_id: id("h-1"),
            date_from: date(),
            date_to: None,
            claim_date: date(),
            diagnosis_codes: vec![],
            lines: codes
                .iter()
                .zip(1..)
                .map(|(code, line_no)| ClaimLine {
                    line_no,
                    kind: LineKind::Item,
                    code: id(code),
                    quantity: 2,
                    asked_unit_price: None,
                })
                .collect(),
        }
    }

    fn line(line_no: u32, policy: &str, status: DecisionStatus) -> LineDecision {
        let zero = Amount::zero(Currency::KES);
        LineDecision {
            line_no,
            status,
            reason_code: 0,
            approved_quantity: if status == DecisionStatus::Rejected {
                0
            } else {
                2
            },
            unit_price: zero,
            allowed: zero,
            payer: Amount::new(100, Currency::KES),
            copay: zero,
            deductible: zero,
            ceiling_excess: zero,
            product_id: None,
            findings: vec![],
            policy_id: Some(id(policy)),
            ceiling_excluded: false,
        }
    }

    fn visits(c: &Coverage, policy: &str) -> u32 {
        c.member_usage
            .get(&(id::<PolicyId>(policy), id::<MemberId>("m-1")))
            .map_or(0, |u| u.counts[category_index(ClaimCategory::Visit)])
    }

    /// A claim counts once for each policy that passed at least one of its lines, however
    /// many lines that policy paid, and stops counting when a review rejects them all.
    #[test]
    fn a_claim_counts_once_per_policy_that_passed_a_line() {
        use DecisionStatus::{Accepted, Rejected};
        let claim = crate::claims::ClaimRecord::new(0, &claim(&["A", "B", "C"]));
        let visit = ClaimCategory::Visit;
        let mut c = Coverage::default();
        let decided = [
            line(1, "p", Accepted),
            line(2, "p", Accepted),
            line(3, "q", Rejected),
        ];
        c.record_lines(&claim, &visit, &[], &decided).unwrap();
        assert_eq!((visits(&c, "p"), visits(&c, "q")), (1, 0));

        // A review rejects one of p's lines and accepts q's: p still counts once, q now too.
        let reviewed = [
            line(1, "p", Rejected),
            line(2, "p", Accepted),
            line(3, "q", Accepted),
        ];
        c.record_lines(&claim, &visit, &decided, &reviewed).unwrap();
        assert_eq!((visits(&c, "p"), visits(&c, "q")), (1, 1));

        // Then every line is rejected: neither counts.
        let rejected = [
            line(1, "p", Rejected),
            line(2, "p", Rejected),
            line(3, "q", Rejected),
        ];
        c.record_lines(&claim, &visit, &reviewed, &rejected)
            .unwrap();
        assert_eq!((visits(&c, "p"), visits(&c, "q")), (0, 0));
    }
}
