//! Paying facilities: what accrues to each facility (claims under fee-for-service, copays paid
//! from wallets, consumption under the Informed Push Model), period statements, payouts, and
//! stock levels with the suggested top-up.
//!
//! A period's close is the cut: when a partition records `PaymentPeriodClosed`, every open
//! accrual of the scheme's facilities dated up to the period's end is assigned to that
//! period (`assigned`); what accrues after it, in log order, waits for the next close. The
//! facility's statement lists what every partition assigned to the period, so it does not
//! depend on when the statement is issued, and replays to the same lines. A statement that
//! would owe less than nothing (more reversed than accrued) lists its accruals and a line
//! carrying the difference to the facility's next statement ([`CARRY_OUT`], [`CARRY_IN`]).

use std::collections::BTreeMap;

use ledger::event::{
    FacilityPaid, FacilityStatementIssued, PaymentMethod, PaymentPeriodClosed, StockVisitRecorded,
};
use ledger::ids::{Code, FacilityId, PeriodId, SchemeId};
use ledger::{Amount, Date, MoneyError};

/// The reference of a statement line carrying what a statement owes below zero to the
/// facility's next statement (a positive amount: the statement then owes nothing).
pub const CARRY_OUT: &str = "carried-to-next-statement";
/// The reference of the line that brings it into the next statement (a negative amount).
pub const CARRY_IN: &str = "carried-from-last-statement";

/// Visits averaged for the monthly consumption.
pub const CONSUMPTION_VISITS_AVERAGED: usize = 3;

/// Something owed to a facility, not yet on a statement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Accrual {
    pub date: Date,
    pub reference: String,
    pub description: String,
    pub quantity: u64,
    pub amount: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Period {
    pub scheme_id: SchemeId,
    pub starts_on: Date,
    pub ends_on: Date,
    pub closed_on: Date,
    /// Where this partition recorded the close: its cut (accruals before it are the
    /// period's).
    pub closed_at: u64,
}

/// One part of a statement: where its event is in the facility's partition, and how many
/// lines it has (the lines themselves are in the event, read back by queries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatementPart {
    pub position: u64,
    pub lines: u32,
}

/// A facility's statement for a period: due = paid + outstanding. Its lines are history:
/// they stay in the log, in its parts' events.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Statement {
    pub method: PaymentMethod,
    /// The parts issued so far, in order.
    pub parts: Vec<StatementPart>,
    pub due: Amount,
    pub paid: Amount,
    /// More parts are to come: the period's close has not reached the statement's end.
    pub more: bool,
    /// What its [`CARRY_OUT`] lines carry to the facility's next statement.
    carried_out: Amount,
    /// Its lines rendered and hashed, summed ([`crate::canonical`]): what the ledger's digest
    /// covers of them without keeping them.
    lines: crate::canonical::LineSum,
}

impl Statement {
    /// Adds the part `e`, at `position`.
    fn part_issued(
        &mut self,
        position: u64,
        e: &FacilityStatementIssued,
    ) -> Result<(), MoneyError> {
        self.due = self.due.checked_add(e.amount_due)?;
        for line in &e.lines {
            if line.reference == CARRY_OUT {
                self.carried_out = self.carried_out.checked_add(line.amount)?;
            }
            self.lines.add(line);
        }
        self.parts.push(StatementPart {
            position,
            lines: u32::try_from(e.lines.len()).unwrap_or(u32::MAX),
        });
        self.more = e.more;
        Ok(())
    }

    /// How many parts are issued: the number the next one has.
    pub fn parts_issued(&self) -> u32 {
        u32::try_from(self.parts.len()).unwrap_or(u32::MAX)
    }

    /// Lines over every part.
    pub fn line_count(&self) -> u64 {
        self.parts.iter().map(|p| u64::from(p.lines)).sum()
    }

    pub fn outstanding(&self) -> Amount {
        Amount::new(
            self.due
                .minor_units()
                .saturating_sub(self.paid.minor_units()),
            self.due.currency(),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StockVisit {
    pub date: Date,
    pub found: u64,
    pub losses: u64,
    pub delivered: u64,
    /// Consumed since the previous visit (None at the first visit).
    pub consumed: Option<u64>,
}

/// Stock of one product at one facility.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StockRecord {
    pub unit_price: Amount,
    pub visits: Vec<StockVisit>,
}

impl StockRecord {
    /// Stock on the shelf after the last visit's delivery.
    pub fn after_delivery(&self) -> Option<u64> {
        self.visits
            .last()
            .map(|v| v.found.saturating_add(v.delivered))
    }

    /// Average consumption per visit interval (monthly visits) over the last
    /// `CONSUMPTION_VISITS_AVERAGED` intervals, ignoring intervals that ended in a stockout
    /// (nothing found: consumption was limited by supply, not demand).
    pub fn average_consumption(&self) -> Option<u64> {
        let recent: Vec<u64> = self
            .visits
            .iter()
            .rev()
            .filter(|v| v.found > 0)
            .filter_map(|v| v.consumed)
            .take(CONSUMPTION_VISITS_AVERAGED)
            .collect();
        if recent.is_empty() {
            None
        } else {
            Some(recent.iter().sum::<u64>() / recent.len() as u64)
        }
    }

    /// max(0, `months` of stock x average consumption - stock found at the last visit).
    pub fn suggested_top_up(&self, months: u32) -> u64 {
        let found = self.visits.last().map_or(0, |v| v.found);
        self.average_consumption().map_or(0, |avg| {
            u64::from(months).saturating_mul(avg).saturating_sub(found)
        })
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Payments {
    /// Accruals no close has reached yet.
    pub accruals: BTreeMap<FacilityId, Vec<Accrual>>,
    /// Accruals a close assigned to its period, until the facility's statement for it is
    /// complete (in the facility's partition).
    pub assigned: BTreeMap<(FacilityId, PeriodId), Vec<Accrual>>,
    /// What a facility's last complete statement carried to its next (negative: owed back).
    pub carry: BTreeMap<FacilityId, Amount>,
    pub periods: BTreeMap<PeriodId, Period>,
    pub statements: BTreeMap<(FacilityId, PeriodId), Statement>,
    pub stock: BTreeMap<(FacilityId, Code), StockRecord>,
}

impl Payments {
    pub(crate) fn accrue_quantity(
        &mut self,
        facility: &FacilityId,
        date: Date,
        reference: &str,
        description: String,
        quantity: u64,
        amount: Amount,
    ) {
        self.accruals
            .entry(facility.clone())
            .or_default()
            .push(Accrual {
                date,
                reference: reference.to_owned(),
                description,
                quantity,
                amount,
            });
    }

    /// Records a stock visit; returns the quantity consumed since the previous visit and its
    /// value (consumed = stock after the previous delivery - losses - stock found).
    pub(crate) fn stock_visit(
        &mut self,
        e: &StockVisitRecorded,
    ) -> Result<Option<(u64, Amount)>, MoneyError> {
        let record = self
            .stock
            .entry((e.facility_id.clone(), e.product_code.clone()))
            .or_insert_with(|| StockRecord {
                unit_price: e.unit_price,
                visits: Vec::new(),
            });
        let consumed = record.after_delivery().map(|before| {
            before
                .saturating_sub(e.losses)
                .saturating_sub(e.stock_found)
        });
        record.unit_price = e.unit_price;
        record.visits.push(StockVisit {
            date: e.visited_on,
            found: e.stock_found,
            losses: e.losses,
            delivered: e.delivered,
            consumed,
        });
        consumed
            .map(|c| {
                let units = i64::try_from(c).map_err(|_| MoneyError::Overflow)?;
                Ok((c, e.unit_price.checked_mul(units)?))
            })
            .transpose()
    }

    /// Records the close at `position` and assigns to the period every open accrual of
    /// `facilities` (the scheme's) dated up to its end.
    pub(crate) fn period_closed<'a>(
        &mut self,
        position: u64,
        e: &PaymentPeriodClosed,
        facilities: impl IntoIterator<Item = &'a FacilityId>,
    ) {
        self.periods.insert(
            e.period_id.clone(),
            Period {
                scheme_id: e.scheme_id.clone(),
                starts_on: e.starts_on,
                ends_on: e.ends_on,
                closed_on: e.closed_on,
                closed_at: position,
            },
        );
        for facility in facilities {
            let Some(open) = self.accruals.get_mut(facility) else {
                continue;
            };
            let (due, later): (Vec<Accrual>, Vec<Accrual>) =
                open.drain(..).partition(|a| a.date <= e.ends_on);
            *open = later;
            if open.is_empty() {
                self.accruals.remove(facility);
            }
            if !due.is_empty() {
                self.assigned
                    .entry((facility.clone(), e.period_id.clone()))
                    .or_default()
                    .extend(due);
            }
        }
    }

    /// Payments as lines without positions ([`crate::canonical`]): accruals are parts, in
    /// whichever partition the claim or copay was; a period's close is in every partition
    /// alike; statements (their lines as a sum), carries and stock live in the facility's.
    pub(crate) fn canonical(&self, out: &mut crate::canonical::Canonical) {
        for (facility, open) in &self.accruals {
            for accrual in open {
                out.owned(("open accrual", facility, accrual));
            }
        }
        for (key, assigned) in &self.assigned {
            for accrual in assigned {
                out.owned(("assigned accrual", key, accrual));
            }
        }
        for (facility, carried) in &self.carry {
            out.owned(("carry", facility, carried));
        }
        for (id, p) in &self.periods {
            out.shared((
                "period",
                id,
                &p.scheme_id,
                p.starts_on,
                p.ends_on,
                p.closed_on,
            ));
        }
        for (key, s) in &self.statements {
            let parts: Vec<u32> = s.parts.iter().map(|p| p.lines).collect();
            out.owned((
                "statement",
                key,
                (s.method, s.due, s.paid, s.more),
                parts,
                s.lines,
            ));
        }
        for (key, stock) in &self.stock {
            out.owned(("stock", key, stock));
        }
    }

    pub fn period_scheme(&self, period: &PeriodId) -> Option<SchemeId> {
        self.periods.get(period).map(|p| p.scheme_id.clone())
    }

    pub fn period_end(&self, period: &PeriodId) -> Option<Date> {
        self.periods.get(period).map(|p| p.ends_on)
    }

    /// What this partition assigned to `facility`'s statement for `period`, in log order.
    pub fn assigned_to(&self, facility: &FacilityId, period: &PeriodId) -> &[Accrual] {
        self.assigned
            .get(&(facility.clone(), period.clone()))
            .map_or(&[], Vec::as_slice)
    }

    /// What has accrued to a facility and no close has reached yet.
    pub fn open_accruals(&self, facility: &FacilityId) -> &[Accrual] {
        self.accruals.get(facility).map_or(&[], Vec::as_slice)
    }

    /// The period of `facility`'s statement still being issued, if one is.
    pub fn statement_in_progress(&self, facility: &FacilityId) -> Option<&PeriodId> {
        self.statements_of(facility)
            .find(|(_, s)| s.more)
            .map(|(period, _)| period)
    }

    pub(crate) fn statement_issued(
        &mut self,
        position: u64,
        e: &FacilityStatementIssued,
    ) -> Result<(), String> {
        if !self.periods.contains_key(&e.period_id) {
            return Err(format!("period {} was never closed", e.period_id));
        }
        let key = (e.facility_id.clone(), e.period_id.clone());
        let follows = match self.statements.get(&key) {
            None => e.part == 0,
            Some(s) => s.more && e.part == s.parts_issued() && e.method == s.method,
        };
        if !follows {
            return Err(format!(
                "part {} of the statement of {} for {} does not follow the parts issued",
                e.part, e.facility_id, e.period_id
            ));
        }
        let zero = Amount::zero(e.amount_due.currency());
        let s = self.statements.entry(key.clone()).or_insert(Statement {
            method: e.method,
            parts: Vec::new(),
            due: zero,
            paid: zero,
            more: true,
            carried_out: zero,
            lines: crate::canonical::LineSum::default(),
        });
        s.part_issued(position, e).map_err(|err| err.to_string())?;
        if !e.more {
            self.statement_completed(&key)?;
        }
        Ok(())
    }

    /// A complete statement settles what this partition assigned to it and sets what the
    /// facility's next statement brings in.
    fn statement_completed(&mut self, key: &(FacilityId, PeriodId)) -> Result<(), String> {
        self.assigned.remove(key);
        let Some(statement) = self.statements.get(key) else {
            return Ok(());
        };
        let carried = statement.carried_out;
        if carried.is_positive() {
            self.carry.insert(
                key.0.clone(),
                carried.checked_neg().map_err(|e| e.to_string())?,
            );
        } else {
            self.carry.remove(&key.0);
        }
        Ok(())
    }

    pub(crate) fn paid(&mut self, e: &FacilityPaid) -> Result<(), String> {
        let statement = self
            .statements
            .get_mut(&(e.facility_id.clone(), e.period_id.clone()))
            .ok_or_else(|| format!("no statement for {} in {}", e.facility_id, e.period_id))?;
        statement.paid = statement
            .paid
            .checked_add(e.amount)
            .map_err(|err| err.to_string())?;
        Ok(())
    }

    /// Whether `facility` has a complete statement for `period` (every part issued).
    pub fn statement_complete(&self, facility: &FacilityId, period: &PeriodId) -> bool {
        self.statements
            .get(&(facility.clone(), period.clone()))
            .is_some_and(|s| !s.more)
    }

    /// Statements of a facility, by period.
    pub fn statements_of(
        &self,
        facility: &FacilityId,
    ) -> impl Iterator<Item = (&PeriodId, &Statement)> {
        self.statements
            .iter()
            .filter(move |((f, _), _)| f == facility)
            .map(|((_, p), s)| (p, s))
    }
}
