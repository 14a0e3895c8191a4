//! The wallet: savings and their sponsors' matches, sponsor contributions, premiums.

use super::*;

/// Decides [`Command::RecordSponsorContribution`].
pub(super) fn record_sponsor_contribution(
    p: &Projections,
    receipt_id: &ReceiptId,
    sponsor_id: &SponsorId,
    household_id: &HouseholdId,
    amount: &Amount,
    received_on: &Date,
) -> Result<Decided, Rejection> {
    since_registration(p, household_id, "received_on", *received_on)?;
    let published = scheme_of(p, household_id, "received_on", *received_on)?;
    check_amount(&published.scheme, *amount)?;
    if !published.scheme.sponsors.contains_key(sponsor_id) {
        return Err(Rejection::UnknownSponsor(sponsor_id.clone()));
    }
    sponsored_on(p, *received_on)?;
    Ok(decided(single(
        StreamId::household(household_id),
        Event::SponsorContributionReceived(SponsorContributionReceived {
            receipt_id: receipt_id.clone(),
            sponsor_id: sponsor_id.clone(),
            household_id: household_id.clone(),
            amount: *amount,
            matched_receipt_id: None,
            received_on: *received_on,
            member_id: None,
        }),
    )))
}

/// A household's own saving, and what each sponsor of its scheme adds ("crowding in").
/// `budgets_left`: what the ledger reserved of each listed sponsor's yearly budget for this
/// saving (across partitions); a sponsor not listed is held to its budget less what this
/// partition's projections say it gave (all of it, in a ledger of one partition).
pub(super) fn contribution(
    p: &Projections,
    command: &Command,
    budgets_left: &[(SponsorId, Amount)],
) -> Result<Decided, Rejection> {
    let Command::RecordContribution {
        receipt_id,
        household_id,
        member_id,
        amount,
        channel,
        received_on,
    } = command
    else {
        return Err(Rejection::Invalid(FieldError::new(
            "command",
            "not a contribution",
        )));
    };
    since_registration(p, household_id, "received_on", *received_on)?;
    let published = scheme_of(p, household_id, "received_on", *received_on)?;
    let scheme = &published.scheme;
    check_amount(scheme, *amount)?;
    if !scheme.sponsors.is_empty() {
        sponsored_on(p, *received_on)?;
    }
    if let Some(m) = member_id {
        match p.registry.members.get(m) {
            None => return Err(Rejection::UnknownMember(m.clone())),
            Some(r) if &r.household_id != household_id => {
                return Err(Rejection::MemberOfAnotherHousehold {
                    member: m.clone(),
                    household: r.household_id.clone(),
                });
            }
            Some(_) => {}
        }
    }
    let s = StreamId::household(household_id);
    let mut events = single(
        s.clone(),
        Event::ContributionReceived(ContributionReceived {
            receipt_id: receipt_id.clone(),
            household_id: household_id.clone(),
            member_id: member_id.clone(),
            amount: *amount,
            channel: *channel,
            received_on: *received_on,
        }),
    );
    // Sponsors match the household's savings under their rule, caps and budget.
    let mut sponsors: Vec<_> = scheme.sponsors.values().collect();
    sponsors.sort_by(|a, b| a.id.cmp(&b.id));
    for sponsor in sponsors {
        let given = sponsor_given(
            p,
            &sponsor.id,
            household_id,
            member_id.as_ref(),
            *received_on,
            scheme.currency,
        );
        let share = match budgets_left.iter().find(|(id, _)| id == &sponsor.id) {
            // The ledger's reservation: the budget is what this partition gave plus it.
            Some((_, left)) => {
                let mut held = sponsor.clone();
                held.budget_per_year = Some(given.all_year.checked_add(*left)?);
                sponsor_match(scheme, &held, *amount, &given)?.amount
            }
            None => sponsor_match(scheme, sponsor, *amount, &given)?.amount,
        };
        if share.is_positive() {
            events.push(NewEvent {
                stream: s.clone(),
                event: Event::SponsorContributionReceived(SponsorContributionReceived {
                    receipt_id: derived_id(format!("{receipt_id}.{}", sponsor.id)),
                    sponsor_id: sponsor.id.clone(),
                    household_id: household_id.clone(),
                    amount: share,
                    matched_receipt_id: Some(receipt_id.clone()),
                    received_on: *received_on,
                    member_id: member_id.clone(),
                }),
            });
        }
    }
    Ok(decided(events))
}

/// Refuses a sponsor's gift (or a saving sponsors match) dated in a year whose household and
/// member tallies a period close has let go (`Registry::close_sponsored_before`).
fn sponsored_on(p: &Projections, on: Date) -> Result<(), Rejection> {
    if p.registry.sponsored_on(on) {
        return Ok(());
    }
    Err(Rejection::Invalid(FieldError::new(
        "received_on",
        format!(
            "{on} is before {}-01-01: sponsors' caps are kept for the year of the latest \
             period close and the year before, so a gift or a matched saving dated earlier \
             cannot be checked against them",
            p.registry.sponsored_from.unwrap_or_default()
        ),
    )))
}

/// What a sponsor has given, in the year and month of `on`, to the household, to the member
/// (if the saving names one) and to everyone: matches and direct subsidies alike count.
pub(super) fn sponsor_given(
    p: &Projections,
    sponsor: &SponsorId,
    household: &HouseholdId,
    member: Option<&MemberId>,
    on: Date,
    currency: ledger::Currency,
) -> SponsorGiven {
    use projections::registry::{Recipient, Span};
    let given = |to: Recipient, span: Span| {
        Amount::new(
            projections::balances::saturated(p.registry.sponsored(sponsor, to, span)),
            currency,
        )
    };
    let (year, month) = (Span::year_of(on), Span::month_of(on));
    SponsorGiven {
        household_year: given(Recipient::Household(household.clone()), year),
        household_month: given(Recipient::Household(household.clone()), month),
        member_year: member.map(|m| given(Recipient::Member(m.clone()), year)),
        member_month: member.map(|m| given(Recipient::Member(m.clone()), month)),
        all_year: given(Recipient::All, year),
    }
}

/// A premium payment, as the command gives it.
pub(super) struct Premium<'a> {
    pub(super) receipt_id: &'a ReceiptId,
    pub(super) household_id: &'a HouseholdId,
    pub(super) product_id: &'a ProductId,
    pub(super) amount: Amount,
    pub(super) source: PremiumSource,
    pub(super) paid_on: Date,
    pub(super) period_start: Option<Date>,
}

/// The start of the period a payment is for: the one named (a start of the product's cycle),
/// or the cycle period containing the pay date; for a product whose periods start with
/// payment, the period being paid or covering the pay date, else the pay date.
pub(super) fn target_period(
    product: &adjudicator::scheme::Product,
    periods: &[(&PolicyId, &projections::coverage::PolicyRecord)],
    paid_on: Date,
    period_start: Option<Date>,
) -> Result<Date, Rejection> {
    if let Some(start) = period_start {
        if let Some(cycle_start) = product.cycle.period_containing(start)
            && cycle_start != start
        {
            return Err(Rejection::Invalid(FieldError::new(
                "period_start",
                format!(
                    "{start} does not start a period of the product's cycle ({cycle_start} does)"
                ),
            )));
        }
        return Ok(start);
    }
    if let Some(start) = product.cycle.period_containing(paid_on) {
        return Ok(start);
    }
    Ok(periods
        .iter()
        .filter(|(_, r)| {
            r.current().status == PolicyStatus::Idle
                || (r.period_start <= paid_on && paid_on <= r.current().expires_on)
        })
        .map(|(_, r)| r.period_start)
        .max()
        .unwrap_or(paid_on.max(product.valid_from)))
}

pub(super) fn pay_premium(p: &Projections, pay: &Premium<'_>) -> Result<Decided, Rejection> {
    let (receipt_id, household_id, product_id) = (pay.receipt_id, pay.household_id, pay.product_id);
    let (amount, source, paid_on) = (pay.amount, pay.source, pay.paid_on);
    since_registration(p, household_id, "paid_on", paid_on)?;
    let published = scheme_of(p, household_id, "paid_on", paid_on)?;
    let scheme = &published.scheme;
    check_amount(scheme, amount)?;
    let product = scheme
        .product(product_id)
        .ok_or_else(|| Rejection::UnknownProduct(product_id.clone()))?;
    if paid_on > product.valid_to {
        return Err(Rejection::PolicyNotPayable(format!(
            "the product is sold until {}",
            product.valid_to
        )));
    }
    let household = p
        .registry
        .households
        .get(household_id)
        .ok_or_else(|| Rejection::UnknownHousehold(household_id.clone()))?;
    if household.members.is_empty() {
        return Err(Rejection::PolicyNotPayable(
            "the household has no members".into(),
        ));
    }
    let periods: Vec<_> = p
        .coverage
        .household_policies(household_id)
        .filter(|(_, r)| &r.product_id == product_id)
        .collect();
    let target = target_period(product, &periods, paid_on, pay.period_start)?;
    let s = StreamId::household(household_id);
    let mut events = Vec::new();
    let existing = periods.iter().find(|(_, r)| r.period_start == target);
    let (policy_id, price, paid_before, start, renewal) = match existing {
        // A period still being paid: the payment adds to it.
        Some((id, r)) if r.current().status == PolicyStatus::Idle => {
            ((*id).clone(), r.price, r.paid, r.period_start, r.renewal)
        }
        Some((_, r)) => {
            return Err(Rejection::PolicyNotPayable(format!(
                "the period from {target} to {} is paid; name period_start to pay another",
                r.current().expires_on
            )));
        }
        None => {
            let expires_on = expiry(target, product.insurance_period_months);
            if let Some((_, r)) = periods
                .iter()
                .find(|(_, r)| r.period_start <= expires_on && target <= r.current().expires_on)
            {
                return Err(Rejection::PolicyNotPayable(format!(
                    "a period from {target} overlaps the one from {} to {}",
                    r.period_start,
                    r.current().expires_on
                )));
            }
            // A renewal follows a period that was paid: its original members wait no more.
            let renewal = periods
                .iter()
                .any(|(_, r)| r.period_start < target && r.current().status != PolicyStatus::Idle);
            let price = policy_price(
                product,
                household.members.len() as u32,
                Some(household.socio_economic_category.as_str()).filter(|c| !c.is_empty()),
                !renewal,
            )
            .map_err(|e| Rejection::PolicyNotPayable(e.to_string()))?;
            let policy_id: PolicyId = derived_id(format!(
                "POL.{household_id}.{product_id}.{}",
                periods.len() + 1
            ));
            events.push(NewEvent {
                stream: s.clone(),
                event: Event::CoverageChanged(CoverageChanged {
                    policy_id: policy_id.clone(),
                    household_id: household_id.clone(),
                    product_id: product_id.clone(),
                    status: PolicyStatus::Idle,
                    effective_from: target,
                    expires_on,
                    changed_on: paid_on,
                    period_start: target,
                    renewal,
                    price,
                }),
            });
            (
                policy_id,
                price,
                Amount::zero(scheme.currency),
                target,
                renewal,
            )
        }
    };
    let terms = Terms {
        price,
        start_date: start,
        grace_period_days: product.grace_period_days,
        insurance_period_months: product.insurance_period_months,
    };
    let outstanding = price.checked_sub(paid_before)?;
    if amount.minor_units() > outstanding.minor_units() {
        return Err(Rejection::Overpayment {
            amount,
            outstanding,
        });
    }
    if source == PremiumSource::Wallet {
        let balance = p.balances.wallet(household_id, scheme.currency);
        if balance.minor_units() < amount.minor_units() {
            return Err(Rejection::InsufficientWallet {
                household: household_id.clone(),
                balance,
                needed: amount,
            });
        }
    }
    let outcome = apply_payment(&terms, paid_before, amount, paid_on)?;
    events.push(NewEvent {
        stream: s.clone(),
        event: Event::PremiumPaid(PremiumPaid {
            receipt_id: receipt_id.clone(),
            policy_id: policy_id.clone(),
            household_id: household_id.clone(),
            product_id: product_id.clone(),
            amount,
            source,
            paid_on,
        }),
    });
    if let Some(activation) = outcome.activation {
        events.push(NewEvent {
            stream: s,
            event: Event::CoverageChanged(CoverageChanged {
                policy_id: policy_id.clone(),
                household_id: household_id.clone(),
                product_id: product_id.clone(),
                status: PolicyStatus::Active,
                effective_from: activation.effective_from,
                expires_on: activation.expires_on,
                changed_on: paid_on,
                period_start: start,
                renewal,
                price,
            }),
        });
    }
    Ok(Decided {
        events,
        subject: Subject::Policy(policy_id),
        resubmission: false,
    })
}
