//! Sponsors over gRPC: what each sponsor added to a saving (with what is left of its budget),
//! and a sponsor's giving in a year.

use ledger::codec::money_to_pb;
use ledger::event::Event;
use ledger::ids::{HouseholdId, SchemeId, SponsorId};
use ledger::{Amount, Date};
use projections::Projections;
use projections::balances::saturated;
use projections::registry::{Recipient, Span};
use proto::v1 as pb;

/// What each sponsor of the household's scheme added to the saving of `received_on`, from the
/// events the saving appended, and what is left of each budget for that year in the whole
/// ledger (`partitions`: every partition's projections; `p`: the household's).
pub fn shares(
    p: &Projections,
    partitions: &[&Projections],
    household: &HouseholdId,
    received_on: Date,
    events: &[Event],
) -> Vec<pb::SponsorShare> {
    let Some(published) = p.registry.household_scheme_on(household, received_on) else {
        return Vec::new();
    };
    let scheme = &published.scheme;
    let mut sponsors: Vec<_> = scheme.sponsors.values().collect();
    sponsors.sort_by(|a, b| a.id.cmp(&b.id));
    sponsors
        .into_iter()
        .map(|sponsor| {
            let amount = events
                .iter()
                .filter_map(|e| match e {
                    Event::SponsorContributionReceived(s) if s.sponsor_id == sponsor.id => {
                        Some(s.amount.minor_units())
                    }
                    _ => None,
                })
                .sum();
            let left = budget_left(
                partitions,
                &sponsor.id,
                sponsor.budget_per_year,
                Span::year_of(received_on),
            );
            pb::SponsorShare {
                sponsor_id: sponsor.id.to_string(),
                amount: Some(money_to_pb(Amount::new(amount, scheme.currency))),
                budget_left: left.map(money_to_pb),
                budget_exhausted: left.is_some_and(|l| !l.is_positive()),
            }
        })
        .collect()
}

/// What every partition records `sponsor` gave in `year`.
fn given_in(partitions: &[&Projections], sponsor: &SponsorId, year: Span) -> i128 {
    partitions.iter().fold(0i128, |sum, part| {
        sum.saturating_add(part.registry.sponsored(sponsor, Recipient::All, year))
    })
}

/// What is left of a yearly `budget` in `year` over every partition (None: no budget).
fn budget_left(
    partitions: &[&Projections],
    sponsor: &SponsorId,
    budget: Option<Amount>,
    year: Span,
) -> Option<Amount> {
    let budget = budget?;
    let left = i128::from(budget.minor_units()).saturating_sub(given_in(partitions, sponsor, year));
    Some(Amount::new(saturated(left.max(0)), budget.currency()))
}

/// A sponsor's giving in `year` over every partition's projections, or None if the scheme
/// has no such sponsor.
pub fn sponsor_pb(
    partitions: &[&Projections],
    scheme_id: &SchemeId,
    sponsor_id: &SponsorId,
    year: i32,
) -> Option<pb::GetSponsorResponse> {
    let p = partitions.first()?;
    let published = p.registry.scheme(scheme_id)?;
    let sponsor = published.scheme.sponsors.get(sponsor_id)?;
    let currency = published.scheme.currency;
    let given = given_in(partitions, sponsor_id, Span::Year(year));
    let remaining = budget_left(
        partitions,
        sponsor_id,
        sponsor.budget_per_year,
        Span::Year(year),
    );
    Some(pb::GetSponsorResponse {
        sponsor_id: sponsor_id.to_string(),
        name: sponsor.name.clone(),
        year,
        given: Some(money_to_pb(Amount::new(saturated(given), currency))),
        budget: sponsor.budget_per_year.map(money_to_pb),
        remaining: remaining.map(money_to_pb),
        match_percent: sponsor.match_percent.normalize().to_string(),
    })
}
