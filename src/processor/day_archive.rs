//! Closed wallet days on disk: the days a period close took out of a wallet's history in
//! memory (`projections::balances` has the rule), where as-of balances and totals before the
//! cut find them.
//!
//! One sled tree in the partition's checkpoint database, `wallet-days-closed`: the wallet's
//! currency code and household id -> its closed blocks, `(block number, days)` in block
//! order, rewritten when a close adds one (one key per wallet: sled keeps a few hundred bytes
//! resident per key, `archive.rs`). A block is written only once the close that made it is
//! durable in the log, and again under the same number when a replay makes it again; readers
//! take a block still in memory instead of the archived one of the same number.

use std::collections::BTreeMap;

use ledger::Currency;
use ledger::ids::HouseholdId;
use projections::balances::{Day, DayBlock};

use crate::processor::archive::{merge_into, read};

/// The closed wallet days of one partition.
#[derive(Clone)]
pub struct DayArchive {
    blocks: sled::Tree,
}

impl std::fmt::Debug for DayArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DayArchive").finish_non_exhaustive()
    }
}

fn key(household: &HouseholdId, currency: Currency) -> Vec<u8> {
    [currency.code().as_bytes(), household.as_str().as_bytes()].concat()
}

impl DayArchive {
    pub fn open(db: &sled::Db) -> Result<DayArchive, sled::Error> {
        Ok(DayArchive {
            blocks: db.open_tree("wallet-days-closed")?,
        })
    }

    /// Stores `blocks` (again, if a replay makes them a second time: the same numbers).
    pub fn put(&self, blocks: &[DayBlock]) -> Result<usize, String> {
        let mut by_wallet: BTreeMap<Vec<u8>, Vec<(u64, Vec<Day>)>> = BTreeMap::new();
        for block in blocks {
            by_wallet
                .entry(key(&block.household, block.currency))
                .or_default()
                .push((block.number, block.days.clone()));
        }
        merge_into(&self.blocks, by_wallet)?;
        Ok(blocks.len())
    }

    /// A wallet's archived blocks, `(block number, days)` in block order.
    pub fn blocks(
        &self,
        household: &HouseholdId,
        currency: Currency,
    ) -> Result<Vec<(u64, Vec<Day>)>, String> {
        read(&self.blocks, &key(household, currency))
    }
}
