//! The partitioned ledger: P partitions, each its own log and its own command processor.
//!
//! A command goes to the partition that owns its key ([`route`]): a household's commands and
//! its members' claims to the household's partition, a facility's stock visits and payouts to
//! the facility's. Each partition's processor decides against that partition's projections
//! and commits its batches with one fsync, in parallel with the others. What every
//! partition must know is recorded in each of them, decided in partition 0 first: a scheme
//! version ([`broadcast`]), a period close ([`close`]). A sponsor's budget is shared by
//! every partition ([`budgets`]). Positions are (partition, offset); each partition has its
//! own gapless offsets and chain.
//!
//! With one partition this is exactly the single processor of before: every command goes to
//! it, in the same order.

pub mod broadcast;
pub mod budgets;
pub mod close;
pub mod consistency;
pub mod directory;
pub mod layout;
pub mod route;
pub mod unique;

use ledger::RequestId;
use ledger::ids::{ClaimId, FacilityId, HouseholdId, MemberId};
use ledger::log::EventLog;
use ledger::partition::{Partition, Partitions};
use tokio::sync::{RwLockReadGuard, watch};

use crate::command::{Command, Rejection};
use crate::processor::checkpoint::{CheckpointError, CheckpointStore};
use crate::processor::{CommandError, Executed, Fault, Receipt, Service, StartError, State};
use route::Route;
use unique::Directories;

/// The ledger over its partitions.
pub struct Ledger<L: EventLog> {
    partitions: Partitions,
    services: std::sync::Arc<[Service<L>]>,
    directories: Directories,
    diverged: watch::Receiver<Option<Fault>>,
    /// Held while a command is recorded in every partition ([`broadcast`]).
    broadcasts: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Sponsors' budgets reserved for savings being decided ([`budgets`]).
    budgets: std::sync::Arc<budgets::Budgets>,
}

/// A request id derived from `source` (`<prefix>-<the first hex digits of its SHA-256>`),
/// for what the ledger records itself on a caller's behalf, so a retry finds it again.
pub(crate) fn derived_request(
    prefix: &str,
    source: &str,
    hex_digits: usize,
) -> Result<RequestId, ledger::ids::IdError> {
    let hex = ledger::chain::hex(&ledger::chain::sha256(source.as_bytes()));
    RequestId::new(format!("{prefix}-{}", &hex[..hex_digits.min(hex.len())]))
}

impl<L: EventLog> Clone for Ledger<L> {
    fn clone(&self) -> Self {
        Ledger {
            partitions: self.partitions,
            services: self.services.clone(),
            directories: self.directories.clone(),
            diverged: self.diverged.clone(),
            broadcasts: self.broadcasts.clone(),
            budgets: self.budgets.clone(),
        }
    }
}

impl<L: EventLog> Ledger<L> {
    /// Starts one processor per log (partition i on the i-th), each from its checkpoint,
    /// all at once; then builds the directories of unique ids and records in every
    /// partition the scheme versions partition 0 holds and it lacks (a publication cut
    /// short by a crash).
    pub async fn start(logs: Vec<(L, Option<CheckpointStore>)>) -> Result<Self, StartError> {
        let partitions = Partitions::new(logs.len() as u64)
            .map_err(|e| StartError::Log(ledger::LogError::Storage(e.to_string())))?;
        let starts = logs.into_iter().map(|(log, checkpoints)| {
            tokio::spawn(async move { Service::start_with(log, checkpoints).await })
        });
        let mut services = Vec::with_capacity(partitions.count() as usize);
        for start in starts {
            let service = start.await.map_err(|e| {
                StartError::Log(ledger::LogError::Storage(format!(
                    "starting a partition: {e}"
                )))
            })??;
            services.push(service);
        }
        let ledger = Ledger::over(partitions, services).await;
        broadcast::complete(&ledger).await?;
        Ok(ledger)
    }

    /// A one-partition ledger over a started processor.
    pub async fn single(service: Service<L>) -> Self {
        Ledger::over(Partitions::ONE, vec![service]).await
    }

    async fn over(partitions: Partitions, services: Vec<Service<L>>) -> Self {
        Ledger::over_with(partitions, services, Directories::default()).await
    }

    /// [`Ledger::over`], with `directories` (filled from the services' projections here).
    async fn over_with(
        partitions: Partitions,
        services: Vec<Service<L>>,
        directories: Directories,
    ) -> Self {
        // One partition checks its own ids: no directory to keep.
        let several = partitions != Partitions::ONE;
        for (partition, service) in partitions.all().zip(&services).filter(|_| several) {
            directories.extend(partition, &service.state().await.projections);
        }
        let diverged = first_fault(&services);
        Ledger {
            partitions,
            services: services.into(),
            directories,
            diverged,
            broadcasts: Default::default(),
            budgets: Default::default(),
        }
    }

    pub fn partitions(&self) -> Partitions {
        self.partitions
    }

    pub fn service(&self, partition: Partition) -> &Service<L> {
        &self.services[partition.index()]
    }

    /// Every partition's processor, in partition order.
    pub fn services(&self) -> &[Service<L>] {
        &self.services
    }

    /// Where each id unique across the ledger is held.
    pub fn directories(&self) -> &Directories {
        &self.directories
    }

    pub fn household_partition(&self, household: &HouseholdId) -> Partition {
        self.partitions.of(household.as_str())
    }

    pub fn facility_partition(&self, facility: &FacilityId) -> Partition {
        self.partitions.of(facility.as_str())
    }

    /// The partition of `member`'s household; None if the member is not enrolled. (With one
    /// partition, always partition 0: it answers for unknown members itself.)
    pub fn member_partition(&self, member: &MemberId) -> Option<Partition> {
        if self.partitions == Partitions::ONE {
            return Some(Partition::FIRST);
        }
        self.directories.members.owner(member)
    }

    /// The partition holding `claim`: the one its id names, else (an id of another form,
    /// imported from elsewhere) the one whose projections hold it.
    pub async fn claim_partition(&self, claim: &ClaimId) -> Option<Partition> {
        if self.partitions == Partitions::ONE {
            return Some(Partition::FIRST);
        }
        if let Some(hash) = projections::claims::partition_hash_of(claim) {
            return Some(self.partitions.of_hash(hash));
        }
        for partition in self.partitions.all() {
            if self
                .service(partition)
                .state()
                .await
                .claim(claim)
                .is_ok_and(|found| found.is_some())
            {
                return Some(partition);
            }
        }
        None
    }

    /// Decides and appends one command in its partition; answers once its events are
    /// durable, with the partition in the receipt.
    pub async fn execute_with_events(
        &self,
        request_id: RequestId,
        command: Command,
    ) -> Result<Executed, CommandError> {
        if self.partitions == Partitions::ONE {
            // One partition decides everything, in the order commands arrive, as before.
            return match route::route(&command) {
                Route::Every => broadcast::execute(self, request_id, command).await,
                _ => self.execute_in(Partition::FIRST, request_id, command).await,
            };
        }
        let mut code_held = None;
        let partition = match route::route(&command) {
            Route::Every => return broadcast::execute(self, request_id, command).await,
            Route::Household(household) => self.household_partition(household),
            Route::Facility(facility) => self.facility_partition(facility),
            Route::Member(member) => {
                let members = self.member_partition(member);
                let code = match &command {
                    Command::SubmitClaim {
                        facility_id,
                        claim_code,
                        ..
                    } => Some((facility_id.clone(), claim_code.clone())),
                    _ => None,
                };
                // A claim code used before is answered where it was (a resubmission).
                match code
                    .and_then(|c| self.directories.claim_codes.reserve_with_holder(c, members))
                {
                    Some((partition, held)) => {
                        code_held = Some(held);
                        partition
                    }
                    None => members.ok_or_else(|| Rejection::UnknownMember(member.clone()))?,
                }
            }
            Route::Claim(claim) => self
                .claim_partition(claim)
                .await
                .ok_or_else(|| Rejection::UnknownClaim(claim.clone()))?,
        };
        let _ids_held = self.directories.reserve(partition, &command)?;
        unique::recorded_elsewhere(self, partition, &command).await?;
        let (command, _budget_held) = budgets::reserve(self, partition, command).await?;
        let executed = self.execute_in(partition, request_id, command).await?;
        self.directories.recorded(partition, &executed.events);
        drop(code_held);
        Ok(executed)
    }

    pub async fn execute(
        &self,
        request_id: RequestId,
        command: Command,
    ) -> Result<Receipt, CommandError> {
        self.execute_with_events(request_id, command)
            .await
            .map(|e| e.receipt)
    }

    /// Executes `command` in `partition`, its receipt saying so.
    pub(crate) async fn execute_in(
        &self,
        partition: Partition,
        request_id: RequestId,
        command: Command,
    ) -> Result<Executed, CommandError> {
        let mut executed = self
            .service(partition)
            .execute_with_events(request_id, command)
            .await?;
        executed.receipt.partition = partition.number();
        Ok(executed)
    }

    /// Partition `partition`'s projections for a query, once durable (`Service::read`).
    pub async fn read(
        &self,
        partition: Partition,
    ) -> Result<RwLockReadGuard<'_, State>, CommandError> {
        self.service(partition).read().await
    }

    /// Every partition's projections, in partition order.
    pub async fn read_all(&self) -> Result<Vec<RwLockReadGuard<'_, State>>, CommandError> {
        let mut states = Vec::with_capacity(self.services.len());
        for service in self.services.iter() {
            states.push(service.read().await?);
        }
        Ok(states)
    }

    /// Saves a checkpoint of every partition; returns their total size.
    pub async fn checkpoint(&self) -> Result<Option<usize>, CheckpointError> {
        let mut total = None;
        for service in self.services.iter() {
            if let Some(bytes) = service.checkpoint().await? {
                total = Some(total.unwrap_or(0) + bytes);
            }
        }
        Ok(total)
    }

    /// Stops every partition's writer (`Service::shutdown`).
    pub async fn shutdown(&self) {
        for service in self.services.iter() {
            service.shutdown().await;
        }
    }

    /// Whether any partition's projections diverged from its log, and why.
    pub fn diverged(&self) -> watch::Receiver<Option<Fault>> {
        self.diverged.clone()
    }
}

type OpenError = Box<dyn std::error::Error + Send + Sync>;

/// Each partition's checkpoints in `layout`.
fn checkpoint_stores(layout: &layout::Layout) -> Result<Vec<CheckpointStore>, OpenError> {
    layout.create_partition_dirs()?;
    let mut stores = Vec::with_capacity(layout.partitions.count() as usize);
    for partition in layout.partitions.all() {
        stores.push(CheckpointStore::open_or_set_aside(
            layout.checkpoints_dir(partition),
        )?);
    }
    Ok(stores)
}

impl Ledger<ledger::FileLog> {
    /// Opens every partition of a data directory (segment logs, checkpoints) and starts the
    /// ledger over them.
    pub async fn open(layout: &layout::Layout) -> Result<Self, OpenError> {
        let mut logs = Vec::new();
        for (partition, checkpoints) in layout.partitions.all().zip(checkpoint_stores(layout)?) {
            let log = ledger::FileLog::open(layout.log_dir(partition))?;
            logs.push((log, Some(checkpoints)));
        }
        Ok(Ledger::start(logs).await?)
    }
}

impl Ledger<ledger::KafkaLog> {
    /// Opens every partition of the ledger on Kafka (`kafka`'s topic, made with the layout's
    /// partition count when missing), each partition's replica and checkpoints in the data
    /// directory, and starts the ledger over them. This node takes every partition over.
    pub async fn open_kafka(
        layout: &layout::Layout,
        kafka: ledger::log::kafka::KafkaConfig,
    ) -> Result<Self, OpenError> {
        let kafka = ledger::log::kafka::KafkaConfig {
            partitions: layout.partitions.count(),
            ..kafka
        };
        let mut logs = Vec::new();
        for (partition, checkpoints) in layout.partitions.all().zip(checkpoint_stores(layout)?) {
            let log = ledger::KafkaLog::open_kafka(
                layout.log_dir(partition),
                kafka.clone(),
                partition.number(),
                ledger::Limits::default(),
            )
            .await?;
            logs.push((log, Some(checkpoints)));
        }
        Ok(Ledger::start(logs).await?)
    }
}

impl Ledger<ledger::KafkaLog> {
    /// Opens every partition's replica in the data directory as a follower of the ledger's
    /// owner: caught up with the topic, then following it; queries are served from their
    /// projections, commands refused (the server forwards them to the owner). Returns the
    /// followers, to watch their lag and stop them.
    pub async fn follow_kafka(
        layout: &layout::Layout,
        kafka: ledger::log::kafka::KafkaConfig,
    ) -> Result<(Self, Vec<ledger::log::kafka::Following>), OpenError> {
        let kafka = ledger::log::kafka::KafkaConfig {
            partitions: layout.partitions.count(),
            ..kafka
        };
        let mut services = Vec::new();
        let mut followers = Vec::new();
        let directories = Directories::default();
        for (partition, checkpoints) in layout.partitions.all().zip(checkpoint_stores(layout)?) {
            let observer: crate::processor::follower::Observer = {
                let directories = directories.clone();
                std::sync::Arc::new(move |events: &[ledger::log::RecordedEvent]| {
                    let events: Vec<_> = events.iter().map(|e| e.event.clone()).collect();
                    directories.recorded(partition, &events);
                })
            };
            let (log, following) = ledger::KafkaLog::open_follower(
                layout.log_dir(partition),
                kafka.clone(),
                partition.number(),
                ledger::Limits::default(),
            )
            .await?;
            let stopped = follow_failures(following.status());
            services.push(Service::follow(log, Some(checkpoints), stopped, observer).await?);
            followers.push(following);
        }
        // No `broadcast::complete`: a follower records nothing; the owner completes them.
        let ledger = Ledger::over_with(layout.partitions, services, directories).await;
        Ok((ledger, followers))
    }
}

impl<S: ledger::log::Store> Ledger<ledger::log::Log<S>> {
    /// Flushes and releases every partition's log, after [`Ledger::shutdown`].
    pub async fn close_logs(&self) -> Result<(), ledger::LogError> {
        let mut first_error = Ok(());
        for service in self.services.iter() {
            if let Err(e) = service.log().shutdown().await
                && first_error.is_ok()
            {
                first_error = Err(e);
            }
        }
        first_error
    }
}

impl Ledger<ledger::KafkaLog> {
    /// Makes this follower the ledger's owner, in place (queries go on being served): each
    /// partition's log takes its partition over (fencing the previous owner, then catching
    /// up with what it committed) and its service becomes the partition's writer; then the
    /// scheme versions a crash cut short are completed, as at start.
    pub async fn promote(
        &self,
        followers: Vec<ledger::log::kafka::Following>,
    ) -> Result<(), OpenError> {
        for (service, following) in self.services.iter().zip(followers) {
            service.log().take_over(following).await?;
            service.promote().await?;
        }
        broadcast::complete(self).await?;
        Ok(())
    }
}

/// Why a follower stopped following, as it learns it.
fn follow_failures(
    mut status: watch::Receiver<ledger::log::kafka::FollowStatus>,
) -> watch::Receiver<Option<String>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        while let Ok(()) = status.changed().await {
            let failed = status.borrow_and_update().failed.clone();
            if failed.is_some() {
                let _ = tx.send(failed);
                return;
            }
        }
    });
    rx
}

/// A watch of the first fault any of `services` reports.
fn first_fault<L: EventLog>(services: &[Service<L>]) -> watch::Receiver<Option<Fault>> {
    if let [only] = services {
        return only.diverged();
    }
    let (tx, rx) = watch::channel(None);
    let tx = std::sync::Arc::new(tx);
    for (partition, service) in services.iter().enumerate() {
        let mut watch = service.diverged();
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                if let Some(mut fault) = watch.borrow_and_update().clone() {
                    let prefix = format!("partition {partition}: ");
                    fault.reason = format!("{prefix}{}", fault.reason);
                    // The first partition to fail is reported, and its later news (its
                    // projections rebuilt from the durable log).
                    tx.send_if_modified(|current: &mut Option<Fault>| {
                        let reported = current
                            .as_ref()
                            .is_none_or(|c| c.reason.starts_with(&prefix) && *c != fault);
                        if reported {
                            *current = Some(fault.clone());
                        }
                        reported
                    });
                }
                if watch.changed().await.is_err() {
                    return;
                }
            }
        });
    }
    rx
}
