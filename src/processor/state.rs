//! What a partition's writer decides commands against, and what its checkpoints hold: the
//! projections (its own module, so the processor and the checkpoints both use it without
//! depending on each other), and the archives of the claims and wallet days a period close
//! took out of them.

use ledger::event::Event;
use ledger::ids::ClaimId;
use ledger::log::RecordedEvent;
use ledger::{Currency, Date};
use projections::balances::{Account, totals_through};
use projections::claims::{ClaimFilter, ClaimRecord, merge_by_seq};
use projections::{ProjectionError, Projections};

use crate::processor::archive::ClaimArchive;
use crate::processor::day_archive::DayArchive;

/// What the writer decides commands against: the projections. (A retried request id is
/// answered from the log's request index, `EventLog::request_positions`, not from memory.)
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub projections: Projections,
    /// Where closed claims go once their close is durable; without one (a rebuild for a
    /// tool or a test) they stay in memory.
    #[serde(skip)]
    pub archive: Option<ClaimArchive>,
    /// Where closed wallet days go, likewise.
    #[serde(skip)]
    pub days: Option<DayArchive>,
}

impl State {
    /// The same state, archiving its closed claims in `claims` and its closed wallet days in
    /// `days`.
    pub fn with_archive(mut self, claims: ClaimArchive, days: DayArchive) -> State {
        self.archive = Some(claims);
        self.days = Some(days);
        self
    }

    /// Applies `events`, the first at `position`, the others after it (decided, not yet
    /// durable: their closed claims stay in memory, [`State::archive_closed`]).
    pub(crate) fn apply<'a>(
        &mut self,
        position: u64,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<(), ProjectionError> {
        for (position, event) in (position..).zip(events) {
            self.projections.apply(position, event)?;
        }
        Ok(())
    }

    /// Applies events read from the log (durable), in order, from the projections' position
    /// on.
    pub fn apply_recorded(&mut self, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        for e in events {
            self.projections.apply(e.position, &e.event)?;
        }
        self.archive_closed(self.projections.position());
        Ok(())
    }

    /// Moves the claims and wallet days closed by closes before position `durable` to the
    /// archives. What an archive cannot take stays in memory (served from there) and is tried
    /// again.
    pub(crate) fn archive_closed(&mut self, durable: u64) {
        self.archive_closed_days(durable);
        let Some(archive) = &self.archive else {
            return;
        };
        let claims = &mut self.projections.claims;
        if !claims.has_closed() {
            return;
        }
        let ready = claims.closed_before(durable);
        match archive.put(ready) {
            Ok(count) => {
                metrics::counter!("claims_archived_total").increment(count as u64);
                claims.take_closed(durable);
            }
            Err(error) => {
                tracing::warn!(%error, "closed claims stay in memory");
                metrics::counter!("claims_archive_failures_total").increment(1);
            }
        }
    }

    fn archive_closed_days(&mut self, durable: u64) {
        let Some(archive) = &self.days else {
            return;
        };
        let balances = &mut self.projections.balances;
        let ready = balances.closed_days_before(durable);
        if ready == 0 {
            return;
        }
        match archive.put(&balances.closed_days()[..ready]) {
            Ok(count) => {
                metrics::counter!("wallet_day_blocks_archived_total").increment(count as u64);
                balances.take_closed_days(ready);
            }
            Err(error) => {
                tracing::warn!(%error, "closed wallet days stay in memory");
                metrics::counter!("wallet_days_archive_failures_total").increment(1);
            }
        }
    }

    /// An account's debit and credit totals in this partition (credits as a positive sum),
    /// exactly, up to the end of `as_of` if given: from memory, and for a wallet before the
    /// cut of closed days, from its closed blocks too (in memory first, then archived).
    pub fn totals(
        &self,
        account: &Account,
        currency: Currency,
        as_of: Option<Date>,
    ) -> Result<(i128, i128), String> {
        let balances = &self.projections.balances;
        let kept = balances.totals(account, currency, as_of);
        let (Account::Wallet(household), true) =
            (account, balances.needs_closed_days(account, as_of))
        else {
            return Ok(kept);
        };
        let pending: Vec<_> = balances
            .closed_days()
            .iter()
            .filter(|b| &b.household == household && b.currency == currency)
            .map(|b| (b.number, b.days.as_slice()))
            .collect();
        let archived = match &self.days {
            Some(archive) => archive.blocks(household, currency)?,
            None => Vec::new(),
        };
        let archived = archived
            .iter()
            .filter(|(number, _)| pending.iter().all(|(n, _)| n != number))
            .map(|(number, days)| (*number, days.as_slice()));
        Ok(pending
            .iter()
            .copied()
            .chain(archived)
            .fold(kept, |(debits, credits), (_, days)| {
                let (d, c) = totals_through(days, as_of);
                (debits + d, credits + c)
            }))
    }

    /// A claim of this partition, open or closed.
    pub fn claim(&self, id: &ClaimId) -> Result<Option<ClaimRecord>, String> {
        if let Some(record) = self.projections.claims.get(id) {
            return Ok(Some(record.clone()));
        }
        match &self.archive {
            Some(archive) => archive.get(id),
            None => Ok(None),
        }
    }

    /// Up to `limit` claims of this partition submitted after claim `after`, in submission
    /// order, that match, open or closed. `Ok(None)` when `after` is not a claim here.
    pub fn list_claims(
        &self,
        filter: &ClaimFilter,
        after: Option<&ClaimId>,
        limit: usize,
    ) -> Result<Option<Vec<ClaimRecord>>, String> {
        let claims = &self.projections.claims;
        let from = match after {
            None => 0,
            Some(id) => {
                let seq = match (claims.seq(id), &self.archive) {
                    (Some(seq), _) => Some(seq),
                    (None, Some(archive)) => archive.seq(id)?,
                    (None, None) => None,
                };
                match seq.and_then(|s| s.checked_add(1)) {
                    Some(from) => from,
                    None => return Ok(None),
                }
            }
        };
        let cloned = |page: Vec<(u32, &ClaimRecord)>| -> Vec<(u32, ClaimRecord)> {
            page.into_iter().map(|(s, r)| (s, r.clone())).collect()
        };
        let open = cloned(claims.list_open(filter, from, limit));
        let closed = cloned(claims.list_closed(filter, from, limit));
        let mut page = merge_by_seq(open, closed, limit);
        if let Some(archive) = &self.archive {
            page = merge_by_seq(page, archive.list(filter, from, limit)?, limit);
        }
        Ok(Some(page.into_iter().map(|(_, r)| r).collect()))
    }
}
