//! The fold: what each event does to the read models, one function per event kind, applied
//! in log order by [`Projections::apply`].

use std::sync::Arc;

use adjudicator::Scheme;
use ledger::Amount;
use ledger::event::{
    ClaimAdjudicated, ClaimReversed, ClaimReviewed, ContributionReceived, CopayRecorded, Event,
    FacilityPaid, FacilityStatementIssued, HouseholdRegistered, MemberEnrolled, PaymentMethod,
    PaymentPeriodClosed, PremiumPaid, PremiumSource, SchemePublished, SponsorContributionReceived,
    StockVisitRecorded,
};
use ledger::ids::ClaimId;

use super::balances::{Account, Entry};
use super::claims::{ClaimRecord, Claims};
use super::registry::{Household, MemberRecord, Published};
use super::{Owed, Projections};

impl Projections {
    pub(crate) fn apply_event(&mut self, position: u64, event: &Event) -> Result<(), String> {
        match event {
            Event::SchemePublished(e) => self.scheme_published(e)?,
            Event::HouseholdRegistered(e) => self.household_registered(e)?,
            Event::MemberEnrolled(e) => self.member_enrolled(e)?,
            Event::ContributionReceived(e) => self.contribution_received(position, e)?,
            Event::SponsorContributionReceived(e) => {
                self.sponsor_contribution_received(position, e)?
            }
            Event::PremiumPaid(e) => self.premium_paid(position, e)?,
            Event::CoverageChanged(e) => self.coverage.changed(position, e),
            Event::ClaimSubmitted(e) => self.claims.submitted(position, e),
            Event::ClaimAdjudicated(e) => self.claim_adjudicated(position, e)?,
            Event::ClaimReviewed(e) => self.claim_reviewed(position, e)?,
            Event::ClaimReversed(e) => self.claim_reversed(position, e)?,
            Event::CopayRecorded(e) => self.copay_recorded(position, e)?,
            Event::StockVisitRecorded(e) => self.stock_visit_recorded(position, e)?,
            Event::PaymentPeriodClosed(e) => self.payment_period_closed(position, e)?,
            Event::FacilityStatementIssued(e) => self.facility_statement_issued(position, e)?,
            Event::FacilityPaid(e) => self.facility_paid(position, e)?,
        }
        Ok(())
    }

    fn scheme_published(&mut self, e: &SchemePublished) -> Result<(), String> {
        let scheme = Scheme::parse(&e.document).map_err(|err| err.to_string())?;
        self.registry
            .schemes
            .entry(e.scheme_id.clone())
            .or_default()
            .push(Published {
                version: e.version,
                content_sha256: e.content_sha256,
                effective_from: e.effective_from,
                document: e.document.clone(),
                scheme: Arc::new(scheme),
            });
        Ok(())
    }

    fn household_registered(&mut self, e: &HouseholdRegistered) -> Result<(), String> {
        self.registry.households.insert(
            e.household_id.clone(),
            Household {
                scheme_id: e.scheme_id.clone(),
                location_code: e.location_code.clone(),
                socio_economic_category: e.socio_economic_category.clone(),
                registered_on: e.registered_on,
                members: Default::default(),
            },
        );
        Ok(())
    }

    fn member_enrolled(&mut self, e: &MemberEnrolled) -> Result<(), String> {
        if let Some(h) = self.registry.households.get_mut(&e.household_id) {
            h.members.insert(e.member_id.clone());
        }
        self.registry.members.insert(
            e.member_id.clone(),
            MemberRecord {
                household_id: e.household_id.clone(),
                gender: e.gender,
                birth_date: e.birth_date,
                is_head: e.is_head,
                facility_id: e.facility_id.clone(),
                enrolled_on: e.enrolled_on,
            },
        );
        Ok(())
    }

    fn contribution_received(
        &mut self,
        position: u64,
        e: &ContributionReceived,
    ) -> Result<(), String> {
        self.post(Entry::transfer(
            position,
            e.received_on,
            Account::Clearing(e.channel),
            Account::Wallet(e.household_id.clone()),
            e.amount,
        ))?;
        Ok(())
    }

    fn sponsor_contribution_received(
        &mut self,
        position: u64,
        e: &SponsorContributionReceived,
    ) -> Result<(), String> {
        self.registry.count_sponsored(
            &e.sponsor_id,
            &e.household_id,
            e.member_id.as_ref(),
            e.received_on,
            e.amount.minor_units(),
        )?;
        self.post(Entry::transfer(
            position,
            e.received_on,
            Account::SponsorFunding(e.sponsor_id.clone()),
            Account::Wallet(e.household_id.clone()),
            e.amount,
        ))?;
        Ok(())
    }

    fn premium_paid(&mut self, position: u64, e: &PremiumPaid) -> Result<(), String> {
        let debit = match e.source {
            PremiumSource::Wallet => Account::Wallet(e.household_id.clone()),
            PremiumSource::Direct => Account::Clearing(ledger::event::PaymentChannel::MobileMoney),
        };
        self.post(Entry::transfer(
            position,
            e.paid_on,
            debit,
            Account::PremiumIncome(e.product_id.clone()),
            e.amount,
        ))?;
        self.coverage
            .premium_paid(e)
            .map_err(|err| err.to_string())?;
        Ok(())
    }

    fn claim_adjudicated(&mut self, position: u64, e: &ClaimAdjudicated) -> Result<(), String> {
        let claim = submitted_claim(&self.claims, &e.claim_id)?;
        self.coverage
            .record_lines(claim, &e.category, &[], &e.lines)
            .map_err(|err| err.to_string())?;
        let facility = claim.facility_id.clone();
        self.claims.adjudicated(position, e);
        self.owe_for_claim(
            position,
            e.decided_on,
            &e.scheme_id,
            (&facility, &e.claim_id),
            format!("claim {}", e.claim_id),
            e.total_payer,
        )?;
        Ok(())
    }

    fn claim_reviewed(&mut self, position: u64, e: &ClaimReviewed) -> Result<(), String> {
        let claim = submitted_claim(&self.claims, &e.claim_id)?.clone();
        let payer_before = claim
            .total_payer
            .unwrap_or(Amount::zero(e.total_payer.currency()));
        let scheme_id = claim
            .scheme_id
            .clone()
            .ok_or_else(|| format!("claim {} was never adjudicated", e.claim_id))?;
        self.coverage
            .record_lines(&claim, &claim.category, claim.lines_in_force(), &e.lines)
            .map_err(|err| err.to_string())?;
        self.claims.reviewed(position, e);
        let delta = e
            .total_payer
            .checked_sub(payer_before)
            .map_err(|err| err.to_string())?;
        self.owe_for_claim(
            position,
            e.reviewed_on,
            &scheme_id,
            (&claim.facility_id, &claim.claim_id),
            format!("review of claim {}", e.claim_id),
            delta,
        )?;
        if let Some(refund) = e.copay_refunded {
            self.refund_copay(position, e.reviewed_on, &claim, refund)?;
        }
        Ok(())
    }

    fn claim_reversed(&mut self, position: u64, e: &ClaimReversed) -> Result<(), String> {
        let claim = submitted_claim(&self.claims, &e.claim_id)?.clone();
        let payer = claim.total_payer;
        let scheme_id = claim.scheme_id.clone();
        self.coverage
            .record_lines(&claim, &claim.category, claim.lines_in_force(), &[])
            .map_err(|err| err.to_string())?;
        self.claims.reversed(position, e);
        if let Some(refund) = e.copay_refunded {
            self.refund_copay(position, e.reversed_on, &claim, refund)?;
        }
        if let (Some(scheme_id), Some(payer)) = (scheme_id, payer) {
            let negative = payer.checked_neg().map_err(|err| err.to_string())?;
            self.owe_for_claim(
                position,
                e.reversed_on,
                &scheme_id,
                (&claim.facility_id, &claim.claim_id),
                format!("reversal of claim {}", e.claim_id),
                negative,
            )?;
        }
        Ok(())
    }

    fn copay_recorded(&mut self, position: u64, e: &CopayRecorded) -> Result<(), String> {
        self.claims.copay_paid(&e.claim_id, e.amount)?;
        let household = self
            .registry
            .members
            .get(&e.member_id)
            .map(|m| m.household_id.clone())
            .ok_or_else(|| format!("member {} is not enrolled", e.member_id))?;
        self.owe_facility(
            position,
            e.collected_on,
            Account::Wallet(household),
            Owed {
                facility: &e.facility_id,
                reference: e.claim_id.as_str(),
                description: format!("copay for claim {} paid from the wallet", e.claim_id),
                quantity: 1,
                amount: e.amount,
            },
        )?;
        Ok(())
    }

    fn stock_visit_recorded(
        &mut self,
        position: u64,
        e: &StockVisitRecorded,
    ) -> Result<(), String> {
        let consumed_value = self
            .payments
            .stock_visit(e)
            .map_err(|err| err.to_string())?;
        if let Some((consumed, value)) = consumed_value
            && value.is_positive()
        {
            self.owe_facility(
                position,
                e.visited_on,
                Account::ConsumptionExpense(e.facility_id.clone()),
                Owed {
                    facility: &e.facility_id,
                    reference: e.product_code.as_str(),
                    description: format!("{} consumed", e.product_code),
                    quantity: consumed,
                    amount: value,
                },
            )?;
        }
        Ok(())
    }

    fn payment_period_closed(
        &mut self,
        position: u64,
        e: &PaymentPeriodClosed,
    ) -> Result<(), String> {
        // The scheme's facilities (the latest version's, as for every facility rule).
        let facilities = self
            .registry
            .scheme(&e.scheme_id)
            .map(|published| published.scheme.clone());
        let facilities = facilities.iter().flat_map(|s| s.facilities.keys());
        self.payments.period_closed(position, e, facilities);
        let year = chrono::Datelike::year(&e.ends_on);
        self.registry.close_sponsored_before(year);
        if let Some(from) = ledger::Date::from_ymd_opt(year.saturating_sub(1), 1, 1) {
            self.balances.close_wallet_days_before(position, from);
        }
        // Claims leave memory by the longest window any version of the scheme keeps them.
        let kept_days = self
            .registry
            .schemes
            .get(&e.scheme_id)
            .and_then(|versions| versions.iter().map(|p| p.scheme.claims_kept_days()).max())
            .unwrap_or(u32::MAX);
        self.claims
            .period_closed(position, &e.scheme_id, e.ends_on, kept_days);
        Ok(())
    }

    fn facility_statement_issued(
        &mut self,
        position: u64,
        e: &FacilityStatementIssued,
    ) -> Result<(), String> {
        if e.method == PaymentMethod::Capitation && e.amount_due.is_positive() {
            let scheme_id = self
                .payments
                .period_scheme(&e.period_id)
                .ok_or_else(|| format!("period {} was never closed", e.period_id))?;
            self.post(Entry::transfer(
                position,
                self.payments
                    .period_end(&e.period_id)
                    .unwrap_or(ledger::Date::MIN),
                Account::CapitationExpense(scheme_id),
                Account::FacilityPayable(e.facility_id.clone()),
                e.amount_due,
            ))?;
        }
        self.payments
            .statement_issued(position, e)
            .map_err(|err| err.to_string())?;
        Ok(())
    }

    fn facility_paid(&mut self, position: u64, e: &FacilityPaid) -> Result<(), String> {
        self.post(Entry::transfer(
            position,
            e.paid_on,
            Account::FacilityPayable(e.facility_id.clone()),
            Account::Payouts(e.channel),
            e.amount,
        ))?;
        self.payments.paid(e).map_err(|err| err.to_string())?;
        Ok(())
    }
}

/// The record of a claim an event names, which must have been submitted before it and still
/// be open.
fn submitted_claim<'a>(claims: &'a Claims, id: &ClaimId) -> Result<&'a ClaimRecord, String> {
    claims
        .open(id)
        .ok_or_else(|| format!("claim {id} was never submitted or is closed"))
}
