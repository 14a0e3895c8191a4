//! Claims: submission (adjudicated), review, reversal, and the copays members pay.

use super::*;

/// Decides [`Command::SubmitClaim`].
pub(super) fn submit_claim(p: &Projections, command: &Command) -> Result<Decided, Rejection> {
    let Command::SubmitClaim {
        claim_code,
        facility_id,
        member_id,
        date_from,
        date_to,
        claim_date,
        diagnosis_codes,
        lines,
        today,
        today_given,
    } = command
    else {
        return Err(not_the_command("SubmitClaim"));
    };
    if let Some(existing) = p.claims.by_code(facility_id, claim_code) {
        return Ok(Decided {
            events: Vec::new(),
            subject: Subject::Claim(existing.clone()),
            resubmission: true,
        });
    }
    let member = p.registry.members.get(member_id);
    let household_id = member
        .map(|m| m.household_id.clone())
        .ok_or_else(|| Rejection::UnknownMember(member_id.clone()))?;
    // The version in force on the service date (the last day of care).
    let service_date = date_to.unwrap_or(*date_from);
    let field = if date_to.is_some() {
        "date_to"
    } else {
        "date_from"
    };
    let published = scheme_of(p, &household_id, field, service_date)?;
    let scheme = &published.scheme;
    if p.claims
        .is_past(&scheme.id, service_date, scheme.claims_open_days)
    {
        return Err(Rejection::Invalid(FieldError::new(
            field,
            format!(
                "service date {service_date} is more than {} days before the period close \
                 of {}: claims for care that long ago are closed (scheme.claims_open_days)",
                scheme.claims_open_days,
                p.claims
                    .closed_through(&scheme.id)
                    .map_or_else(String::new, |d| d.to_string()),
            ),
        )));
    }
    for (i, line) in lines.iter().enumerate() {
        if let Some(price) = line.asked_unit_price
            && price.currency() != scheme.currency
        {
            return Err(Rejection::Invalid(FieldError::new(
                format!("lines[{i}].asked_unit_price"),
                format!("{price} is not in the scheme currency {}", scheme.currency),
            )));
        }
    }
    let claim_id: ClaimId = derived_id(p.claims.next_id(&household_id));
    let claim = ClaimSubmitted {
        claim_id: claim_id.clone(),
        claim_code: claim_code.clone(),
        facility_id: facility_id.clone(),
        member_id: member_id.clone(),
        household_id: household_id.clone(),
        date_from: *date_from,
        date_to: *date_to,
        claim_date: *claim_date,
        diagnosis_codes: diagnosis_codes.to_vec(),
        lines: lines.to_vec(),
    };
    Event::ClaimSubmitted(claim.clone())
        .validate_fields()
        .map_err(Rejection::Invalid)?;
    let household_members = p
        .registry
        .households
        .get(&household_id)
        .map_or(0, |h| h.members.len() as u32);
    // Earlier claims the duplicate and frequency checks can concern: those sharing a
    // code with this one, within the longest frequency among its codes.
    let window = lines
        .iter()
        .filter_map(|l| scheme.medical.get(&l.code))
        .map(|m| u64::from(m.frequency_days))
        .max()
        .unwrap_or(0);
    let prior = p.claims.prior_claims(
        member_id,
        lines.iter().map(|l| &l.code),
        service_date
            .checked_sub_days(chrono::Days::new(window))
            .unwrap_or(Date::MIN),
        service_date
            .checked_add_days(chrono::Days::new(window))
            .unwrap_or(Date::MAX),
    );
    let ctx = p.coverage.member_context(
        member_id,
        member,
        household_members,
        scheme.currency,
        prior,
        lines.iter().map(|l| &l.code),
    );
    let decision = adjudicate(&claim, &ctx, scheme, *today);
    let s = StreamId::claim(&claim_id);
    Ok(Decided {
        events: vec![
            NewEvent {
                stream: s.clone(),
                event: Event::ClaimSubmitted(claim),
            },
            NewEvent {
                stream: s,
                event: Event::ClaimAdjudicated(ClaimAdjudicated {
                    decided_on_given: *today_given,
                    ..decision.to_event(scheme)
                }),
            },
        ],
        subject: Subject::Claim(claim_id),
        resubmission: false,
    })
}

/// The open claim a review, reversal or copay concerns: refused as unknown, or as closed
/// once a period close of its scheme came more than the scheme's `claims_open_days` after
/// its service date (`projections::claims` has the rule).
fn open_claim<'a>(p: &'a Projections, claim_id: &ClaimId) -> Result<&'a ClaimRecord, Rejection> {
    let Some(record) = p.claims.open(claim_id) else {
        return Err(if p.claims.was_closed(claim_id) {
            Rejection::ClaimClosed(claim_id.clone())
        } else {
            Rejection::UnknownClaim(claim_id.clone())
        });
    };
    let past = record.scheme_id.as_ref().is_some_and(|scheme_id| {
        p.registry.scheme(scheme_id).is_some_and(|published| {
            p.claims.is_past(
                scheme_id,
                record.service_date(),
                published.scheme.claims_open_days,
            )
        })
    });
    if past {
        return Err(Rejection::ClaimClosed(claim_id.clone()));
    }
    Ok(record)
}

/// Decides [`Command::ReverseClaim`].
pub(super) fn reverse_claim(
    p: &Projections,
    claim_id: &ClaimId,
    reason: &str,
    reversed_on: &Date,
) -> Result<Decided, Rejection> {
    let record = open_claim(p, claim_id)?;
    not_before(
        "reversed_on",
        *reversed_on,
        record.claim_date,
        "the claim's date",
    )?;
    if matches!(
        record.status,
        ClaimStatus::Reversed | ClaimStatus::Submitted
    ) {
        return Err(Rejection::ClaimState {
            claim: claim_id.clone(),
            action: "reversed",
            status: record.status,
        });
    }
    Ok(Decided {
        events: single(
            StreamId::claim(claim_id),
            Event::ClaimReversed(ClaimReversed {
                claim_id: claim_id.clone(),
                reason: reason.to_owned(),
                reversed_on: *reversed_on,
                // Everything the member paid towards the claim goes back.
                copay_refunded: record.copay_paid.filter(|paid| paid.is_positive()),
            }),
        ),
        subject: Subject::Claim(claim_id.clone()),
        resubmission: false,
    })
}

/// Decides [`Command::RecordCopay`].
pub(super) fn record_copay(
    p: &Projections,
    receipt_id: &ReceiptId,
    claim_id: &ClaimId,
    amount: &Amount,
    collected_on: &Date,
) -> Result<Decided, Rejection> {
    let record = open_claim(p, claim_id)?;
    let member = &record.member_id;
    let household = &record.household_id;
    let service_date = record.service_date();
    let published = scheme_of(p, household, "claim_id", service_date)?;
    check_amount(&published.scheme, *amount)?;
    not_before(
        "collected_on",
        *collected_on,
        record.date_from,
        "the claim's service date",
    )?;
    // What is still owed: the copay as decided or reviewed, less what was paid.
    let outstanding = record
        .copay_outstanding()
        .unwrap_or(Amount::zero(published.scheme.currency));
    if amount.minor_units() > outstanding.minor_units() {
        return Err(Rejection::Overpayment {
            amount: *amount,
            outstanding,
        });
    }
    let balance = p.balances.wallet(household, published.scheme.currency);
    if balance.minor_units() < amount.minor_units() {
        return Err(Rejection::InsufficientWallet {
            household: household.clone(),
            balance,
            needed: *amount,
        });
    }
    Ok(decided(single(
        StreamId::household(household),
        Event::CopayRecorded(CopayRecorded {
            receipt_id: receipt_id.clone(),
            claim_id: claim_id.clone(),
            facility_id: record.facility_id.clone(),
            member_id: member.clone(),
            amount: *amount,
            collected_on: *collected_on,
        }),
    )))
}

pub(super) fn review(
    p: &Projections,
    claim_id: &ClaimId,
    reviewer: &str,
    reviewed_on: Date,
    changes: &[LineReview],
    comment: &str,
) -> Result<Decided, Rejection> {
    let record = open_claim(p, claim_id)?;
    not_before(
        "reviewed_on",
        reviewed_on,
        record.claim_date,
        "the claim's date",
    )?;
    if matches!(
        record.status,
        ClaimStatus::Reversed | ClaimStatus::Submitted | ClaimStatus::Rejected
    ) {
        return Err(Rejection::ClaimState {
            claim: claim_id.clone(),
            action: "reviewed",
            status: record.status,
        });
    }
    // The lines in force, without their findings: a review records the findings it adds.
    let mut lines = record.lines_in_force().to_vec();
    let mut changed = Vec::new();
    for (index, change) in changes.iter().enumerate() {
        let bad = |reason: String| Rejection::InvalidReview { index, reason };
        let line = lines
            .iter_mut()
            .find(|l| l.line_no == change.line_no)
            .ok_or_else(|| bad(format!("line {} is not on the claim", change.line_no)))?;
        if line.status == DecisionStatus::Rejected {
            return Err(bad(format!("line {} is already rejected", change.line_no)));
        }
        let zero = Amount::zero(line.allowed.currency());
        if change.reject {
            line.status = DecisionStatus::Rejected;
            line.reason_code = adjudicator::reason::REJECTED_BY_REVIEWER;
            line.approved_quantity = 0;
            line.allowed = zero;
            line.payer = zero;
            line.copay = zero;
            line.deductible = zero;
            line.ceiling_excess = zero;
        } else {
            let quantity = change.approved_quantity.unwrap_or(line.approved_quantity);
            let price = change.unit_price.unwrap_or(line.unit_price);
            if quantity > line.approved_quantity || quantity == 0 {
                return Err(bad(format!(
                    "approved_quantity {quantity} must be between 1 and {}",
                    line.approved_quantity
                )));
            }
            if price.currency() != line.unit_price.currency()
                || price.minor_units() > line.unit_price.minor_units()
                || price.is_negative()
            {
                return Err(bad(format!(
                    "unit_price {price} must be between 0 and {}",
                    line.unit_price
                )));
            }
            let allowed = price.checked_mul(i64::from(quantity))?;
            // The payer keeps its share of the allowed amount, rounded down (in the member's
            // favour only through the copay, which takes the remainder).
            let share = |a: Amount| -> Result<Amount, MoneyError> {
                if line.allowed.is_zero() {
                    return Ok(zero);
                }
                let v = i128::from(a.minor_units()) * i128::from(allowed.minor_units())
                    / i128::from(line.allowed.minor_units());
                Ok(Amount::new(
                    i64::try_from(v).map_err(|_| MoneyError::Overflow)?,
                    a.currency(),
                ))
            };
            let payer = share(line.payer)?;
            line.deductible = line.deductible.checked_min(allowed)?;
            line.status = DecisionStatus::Partial;
            line.approved_quantity = quantity;
            line.unit_price = price;
            line.allowed = allowed;
            line.payer = payer;
            line.copay = allowed.checked_sub(payer)?;
        }
        line.findings.push(format!("reviewed by {reviewer}"));
        changed.push(line.clone());
    }
    // Every version of a scheme has the same currency (publishing checks it).
    let currency = p
        .registry
        .household_scheme(&record.household_id)
        .map(|s| s.scheme.currency)
        .ok_or_else(|| Rejection::UnknownHousehold(record.household_id.clone()))?;
    let total_payer = Amount::checked_sum(currency, lines.iter().map(|l| l.payer))?;
    let total_copay = Amount::checked_sum(currency, lines.iter().map(|l| l.copay))?;
    Ok(Decided {
        events: single(
            StreamId::claim(claim_id),
            Event::ClaimReviewed(ClaimReviewed {
                claim_id: claim_id.clone(),
                reviewer: reviewer.to_owned(),
                reviewed_on,
                lines: changed,
                comment: comment.to_owned(),
                total_payer,
                total_copay,
                copay_refunded: copay_beyond(record.copay_paid, total_copay)?,
            }),
        ),
        subject: Subject::Claim(claim_id.clone()),
        resubmission: false,
    })
}
