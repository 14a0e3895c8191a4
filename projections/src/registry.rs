//! Who and what exists: published schemes, households, members, what sponsors gave.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use adjudicator::Scheme;
use ledger::Date;
use ledger::chain::Hash;
use ledger::event::Gender;
use ledger::ids::{FacilityId, HouseholdId, MemberId, SchemeId, SponsorId};

use crate::keyed::Keyed;

/// A published version of a scheme. Serialized as its document (re-parsed when loaded).
#[derive(Clone)]
pub struct Published {
    pub version: u32,
    pub content_sha256: Hash,
    pub effective_from: Date,
    pub document: String,
    pub scheme: Arc<Scheme>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PublishedDocument {
    version: u32,
    content_sha256: Hash,
    effective_from: Date,
    document: String,
}

impl serde::Serialize for Published {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        PublishedDocument {
            version: self.version,
            content_sha256: self.content_sha256,
            effective_from: self.effective_from,
            document: self.document.clone(),
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Published {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let doc = PublishedDocument::deserialize(d)?;
        let scheme = Scheme::parse(&doc.document).map_err(serde::de::Error::custom)?;
        Ok(Published {
            version: doc.version,
            content_sha256: doc.content_sha256,
            effective_from: doc.effective_from,
            document: doc.document,
            scheme: Arc::new(scheme),
        })
    }
}

impl fmt::Debug for Published {
    // Canonical and short: the version and the hash identify the document.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Published {{ version: {}, sha256: {}, effective_from: {} }}",
            self.version,
            ledger::chain::hex(&self.content_sha256),
            self.effective_from
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Household {
    pub scheme_id: SchemeId,
    pub location_code: String,
    pub socio_economic_category: String,
    pub registered_on: Date,
    pub members: BTreeSet<MemberId>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberRecord {
    pub household_id: HouseholdId,
    pub gender: Gender,
    pub birth_date: Date,
    pub is_head: bool,
    pub facility_id: Option<FacilityId>,
    pub enrolled_on: Date,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Registry {
    pub schemes: BTreeMap<SchemeId, Vec<Published>>,
    pub households: Keyed<HouseholdId, Household>,
    pub members: Keyed<MemberId, MemberRecord>,
    /// What each sponsor gave, to whom, per calendar year and month (minor units): for its
    /// caps and its budget. A household's and a member's tallies are kept from
    /// `sponsored_from` on ([`Registry::close_sponsored_before`]); a sponsor's totals to
    /// everyone for ever.
    pub sponsored: Keyed<(SponsorId, Recipient, Span), i128>,
    /// The first calendar year whose household and member tallies are kept: gifts and
    /// matched savings dated before it are refused (their caps can no longer be checked).
    pub sponsored_from: Option<i32>,
}

/// Who a sponsor's gift is counted for.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Recipient {
    Household(HouseholdId),
    Member(MemberId),
    /// Everyone: the sponsor's total, for its budget.
    All,
}

/// A calendar year or month.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Span {
    Year(i32),
    Month(i32, u32),
}

impl Span {
    pub fn year_of(date: Date) -> Span {
        Span::Year(chrono::Datelike::year(&date))
    }

    pub fn month_of(date: Date) -> Span {
        Span::Month(
            chrono::Datelike::year(&date),
            chrono::Datelike::month(&date),
        )
    }
}

impl Registry {
    /// What `sponsor` gave `to` in `span`, exactly.
    pub fn sponsored(&self, sponsor: &SponsorId, to: Recipient, span: Span) -> i128 {
        self.sponsored
            .get(&(sponsor.clone(), to, span))
            .copied()
            .unwrap_or(0)
    }

    /// Counts a gift of `amount` minor units on `date` against every tally it belongs to.
    pub(crate) fn count_sponsored(
        &mut self,
        sponsor: &SponsorId,
        household: &HouseholdId,
        member: Option<&MemberId>,
        date: Date,
        amount: i64,
    ) -> Result<(), String> {
        let mut recipients = vec![Recipient::Household(household.clone()), Recipient::All];
        recipients.extend(member.map(|m| Recipient::Member(m.clone())));
        for to in recipients {
            for span in [Span::year_of(date), Span::month_of(date)] {
                let given = self
                    .sponsored
                    .entry((sponsor.clone(), to.clone(), span))
                    .or_insert(0);
                *given = given
                    .checked_add(i128::from(amount))
                    .ok_or_else(|| "sponsor total overflows".to_string())?;
            }
        }
        Ok(())
    }

    /// A period close in `year`: the household and member tallies of the years before the
    /// one before it leave memory (a household has one per sponsor, year and month: they
    /// would grow with history). The cut only moves forward, and every partition sees every
    /// close, so replays and partition counts agree.
    pub(crate) fn close_sponsored_before(&mut self, year: i32) {
        let from = year.saturating_sub(1);
        if self.sponsored_from.is_some_and(|kept| kept >= from) {
            return;
        }
        self.sponsored_from = Some(from);
        let kept = |(_, to, span): &(SponsorId, Recipient, Span)| {
            let year = match span {
                Span::Year(y) | Span::Month(y, _) => *y,
            };
            *to == Recipient::All || year >= from
        };
        self.sponsored.retain(|key, _| kept(key));
    }

    /// Whether a sponsor's gift dated `date` can be checked against its caps: its year's
    /// household and member tallies are still kept.
    pub fn sponsored_on(&self, date: Date) -> bool {
        self.sponsored_from
            .is_none_or(|from| chrono::Datelike::year(&date) >= from)
    }

    /// The latest published version of a scheme: for what every version shares (its
    /// currency) and for what is current (its facilities). What a version decides (prices,
    /// rules, premiums, matches) comes from [`Registry::scheme_on`].
    pub fn scheme(&self, id: &SchemeId) -> Option<&Published> {
        self.schemes.get(id).and_then(|v| v.last())
    }

    /// The version of a scheme in force on `date`: the latest with `effective_from` on or
    /// before it (versions are published in order of `effective_from`). None before the
    /// first version takes effect.
    pub fn scheme_on(&self, id: &SchemeId, date: Date) -> Option<&Published> {
        self.schemes
            .get(id)
            .and_then(|v| v.iter().rev().find(|p| p.effective_from <= date))
    }

    /// The latest version of a household's scheme.
    pub fn household_scheme(&self, household: &HouseholdId) -> Option<&Published> {
        self.households
            .get(household)
            .and_then(|h| self.scheme(&h.scheme_id))
    }

    /// The version of a household's scheme in force on `date`.
    pub fn household_scheme_on(&self, household: &HouseholdId, date: Date) -> Option<&Published> {
        self.households
            .get(household)
            .and_then(|h| self.scheme_on(&h.scheme_id, date))
    }

    /// Members registered with a facility (for capitation).
    pub fn registered_with(&self, facility: &FacilityId) -> usize {
        self.members
            .values()
            .filter(|m| m.facility_id.as_ref() == Some(facility))
            .count()
    }
}

impl Registry {
    /// The registry as lines without positions ([`crate::canonical`]): schemes are in every
    /// partition alike, households, members and used ids in one each, a sponsor's gifts to
    /// everyone in parts.
    pub(crate) fn canonical(&self, out: &mut crate::canonical::Canonical) {
        for (id, versions) in &self.schemes {
            for p in versions {
                out.shared(("scheme", id, p.version, p.effective_from, &p.document));
            }
        }
        for (id, household) in self.households.iter() {
            out.owned(("household", id, household));
        }
        for (id, member) in self.members.iter() {
            out.owned(("member", id, member));
        }
        for (key, given) in self.sponsored.iter() {
            out.sum(("sponsored", key), *given);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A close lets go of the household and member tallies of the years before the one
    /// before it, keeps every sponsor's totals, and never moves back.
    #[test]
    fn a_close_lets_old_household_tallies_go() {
        let mut registry = Registry::default();
        let sponsor: SponsorId = "S".parse().unwrap();
        let (household, member) = ("HH-1".parse().unwrap(), "M-1".parse().unwrap());
        for year in [2026, 2027, 2028] {
            let on = Date::from_ymd_opt(year, 3, 5).unwrap();
            registry
                .count_sponsored(&sponsor, &household, Some(&member), on, 100)
                .unwrap();
        }
        let given = |r: &Registry, to: Recipient, year| r.sponsored(&sponsor, to, Span::Year(year));
        let of_household = || Recipient::Household("HH-1".parse().unwrap());
        assert!(registry.sponsored_on(Date::from_ymd_opt(2020, 1, 1).unwrap()));
        registry.close_sponsored_before(2028);
        assert_eq!(registry.sponsored_from, Some(2027));
        assert_eq!(given(&registry, of_household(), 2026), 0);
        assert_eq!(
            registry.sponsored(&sponsor, of_household(), Span::Month(2026, 3)),
            0
        );
        assert_eq!(given(&registry, of_household(), 2027), 100);
        assert_eq!(given(&registry, Recipient::All, 2026), 100, "totals stay");
        assert!(!registry.sponsored_on(Date::from_ymd_opt(2026, 12, 31).unwrap()));
        assert!(registry.sponsored_on(Date::from_ymd_opt(2027, 1, 1).unwrap()));
        registry.close_sponsored_before(2027);
        assert_eq!(registry.sponsored_from, Some(2027), "never back");
        // Two kept years x (year + month) x (household, member), and three years' totals.
        assert_eq!(registry.sponsored.len(), 2 * 2 * 2 + 3 * 2);
    }
}
