//! What the adjudicator knows about a member when it decides: who they are, the household's
//! policies that could cover them, what they have already used in each policy period, and
//! their earlier claims (for frequency and duplicates). The projections build this from the
//! log; the adjudicator only reads it.

use crate::Map as HashMap;

use ledger::event::{ClaimCategory, Gender, PolicyStatus};
use ledger::ids::{
    ClaimCode, ClaimId, Code, FacilityId, HouseholdId, MemberId, PolicyId, ProductId,
};
use ledger::{Amount, Currency, Date};

/// Age from which a member is an adult (on the service date).
pub const ADULT_AGE_YEARS: u32 = 18;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: MemberId,
    pub household_id: HouseholdId,
    pub gender: Gender,
    pub birth_date: Date,
    pub enrolled_on: Date,
}

impl Member {
    /// Whole years of age on `date`.
    pub fn age_on(&self, date: Date) -> u32 {
        date.years_since(self.birth_date).unwrap_or(0)
    }

    pub fn is_adult_on(&self, date: Date) -> bool {
        self.age_on(date) >= ADULT_AGE_YEARS
    }
}

/// One period of a household policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub id: PolicyId,
    pub product_id: ProductId,
    pub status: PolicyStatus,
    /// Start of the policy period.
    pub start_date: Date,
    /// First day of cover (after payment).
    pub effective_from: Date,
    pub expires_on: Date,
    /// A renewal of an earlier period: members covered before have no waiting period.
    pub renewal: bool,
    /// Members of the household on the policy (for household ceilings).
    pub household_members: u32,
}

impl Policy {
    /// The end of a member's waiting period of `months` under this policy, or None when none
    /// applies (no months; or a renewal, for a member covered before it). It counts from the
    /// member's effective date in the policy (openIMIS R17): the later of the policy's first
    /// day of cover (the completing payment) and the member's enrolment; not from the first
    /// instalment.
    pub fn waiting_until(&self, member_enrolled_on: Date, months: u32) -> Option<Date> {
        let added_later = member_enrolled_on > self.start_date;
        if months == 0 || (self.renewal && !added_later) {
            return None;
        }
        Some(
            self.effective_from
                .max(member_enrolled_on)
                .checked_add_months(chrono::Months::new(months))
                .unwrap_or(Date::MAX),
        )
    }

    /// Does this policy pay for care given on `date`? Active policies and expired ones (for care
    /// inside their window) do; idle and suspended ones do not.
    pub fn covers(&self, date: Date) -> bool {
        matches!(self.status, PolicyStatus::Active | PolicyStatus::Expired)
            && self.effective_from <= date
            && date <= self.expires_on
    }
}

/// Uses counted per member per policy period, by claim category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CategoryCounts {
    pub visits: u32,
    pub consultations: u32,
    pub surgeries: u32,
    pub deliveries: u32,
    pub antenatal: u32,
    pub hospital_admissions: u32,
}

impl CategoryCounts {
    pub fn get(&self, category: ClaimCategory) -> u32 {
        match category {
            ClaimCategory::Visit => self.visits,
            ClaimCategory::Consultation => self.consultations,
            ClaimCategory::Surgery => self.surgeries,
            ClaimCategory::Delivery => self.deliveries,
            ClaimCategory::Antenatal => self.antenatal,
            ClaimCategory::Hospitalization => self.hospital_admissions,
        }
    }

    pub fn add(&mut self, category: ClaimCategory, n: u32) {
        let slot = match category {
            ClaimCategory::Visit => &mut self.visits,
            ClaimCategory::Consultation => &mut self.consultations,
            ClaimCategory::Surgery => &mut self.surgeries,
            ClaimCategory::Delivery => &mut self.deliveries,
            ClaimCategory::Antenatal => &mut self.antenatal,
            ClaimCategory::Hospitalization => &mut self.hospital_admissions,
        };
        *slot = slot.saturating_add(n);
    }
}

/// An amount per care setting: `[outpatient, inpatient]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BySetting(pub [Amount; 2]);

impl BySetting {
    pub fn zero(currency: Currency) -> Self {
        BySetting([Amount::zero(currency); 2])
    }

    pub fn get(&self, inpatient: bool) -> Amount {
        self.0[usize::from(inpatient)]
    }

    pub fn slot(&mut self, inpatient: bool) -> &mut Amount {
        &mut self.0[usize::from(inpatient)]
    }
}

/// What has been consumed in one policy period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// The member's uses by claim category.
    pub counts: CategoryCounts,
    /// The member's approved quantities by item/service.
    pub quantities: HashMap<Code, u32>,
    pub member_deductible: BySetting,
    pub member_ceiling: BySetting,
    pub household_deductible: BySetting,
    pub household_ceiling: BySetting,
}

impl Usage {
    pub fn empty(currency: Currency) -> Self {
        Usage {
            counts: CategoryCounts::default(),
            quantities: HashMap::default(),
            member_deductible: BySetting::zero(currency),
            member_ceiling: BySetting::zero(currency),
            household_deductible: BySetting::zero(currency),
            household_ceiling: BySetting::zero(currency),
        }
    }
}

/// A policy and what has been used of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyContext {
    pub policy: Policy,
    pub usage: Usage,
}

/// A line of an earlier claim of the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorLine {
    pub code: Code,
    pub quantity: u32,
    /// Approved (accepted or partially accepted) by the adjudicator or a reviewer.
    pub passed: bool,
}

/// An earlier claim of the member that counts: decided, not reversed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorClaim {
    pub claim_id: ClaimId,
    pub facility_id: FacilityId,
    pub claim_code: ClaimCode,
    pub service_date: Date,
    pub lines: Vec<PriorLine>,
}

/// Everything the adjudicator needs to know about the claimant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberContext {
    /// `None` when the member is unknown to the scheme.
    pub member: Option<Member>,
    /// The household's policies (every product, every period that could matter).
    pub policies: Vec<PolicyContext>,
    pub prior_claims: Vec<PriorClaim>,
}
