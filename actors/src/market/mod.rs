//! Marketplace use cases as typed commands. Each command is one message struct with a typed
//! result; [`Market`] routes it to the worker actor of the aggregate it changes, so commands
//! on one aggregate never interleave in this process (compare-and-set on the version keeps
//! them correct across processes). A command decides with the engine, writes durably, then
//! publishes its domain events on the [`Bus`]; subscribers do the rest (notifications,
//! search, aggregates). Multi-step commands (accept, booking confirm) record an intent
//! first; [`sweeper`] completes or undoes whatever a crash leaves.
//!
//! To add a use case: an engine rule with a table test, a command struct here implementing
//! [`Command`], a storage method if it needs one, a thin route, an event if others care.

pub mod availability;
pub mod bookings;
pub mod catalog;
pub mod charges;
pub mod contracts;
pub mod jobs;
pub mod milestones;
pub mod payouts;
pub mod reviews;
pub mod sweeper;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use agora_engine::{BookingId, ContractId, JobId, ProposalId, ReviewId, Role, ServiceId, UserId};
use agora_storage::Store;
use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use crate::bus::Bus;
use crate::ActorError;

/// Who runs a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub id: UserId,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role.is_admin()
    }
}

/// The aggregate whose writes a command must not interleave with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Aggregate {
    Job(JobId),
    Proposal(ProposalId),
    Contract(ContractId),
    Booking(BookingId),
    Review(ReviewId),
    /// A user's wallet (payouts).
    Wallet(UserId),
    Service(ServiceId),
    /// A catalog row identified by its table and key (categories, skills, companies, ...).
    Catalog(&'static str, String),
    /// A new aggregate: nothing to serialize with.
    New,
}

/// A step at which tests may make the process abort (`AGORA_FAULT_AT=<step>`), to prove
/// that multi-step commands survive a crash between any two writes. Unset in production.
#[derive(Debug, Clone, Default)]
pub struct Faults(Option<Arc<str>>);

impl Faults {
    pub fn new(at: Option<String>) -> Faults {
        Faults(at.filter(|s| !s.is_empty()).map(Arc::from))
    }

    /// Aborts the process (no cleanup, like `kill -9`) when `step` is the configured one.
    pub fn hit(&self, step: &str) {
        if self.0.as_deref() == Some(step) {
            tracing::error!(step, "fault injection: aborting");
            std::process::abort();
        }
    }
}

/// What a command runs with.
#[derive(Clone)]
pub struct Cx {
    pub store: Store,
    pub bus: Bus,
    pub faults: Faults,
    /// How long a requested booking holds its slot (providers with working hours).
    pub booking_hold: std::time::Duration,
    /// The payment gateway (the sandbox unless an adapter is configured).
    pub gateway: Arc<dyn crate::gateway::PaymentGateway>,
    pub payments: PaymentSettings,
    /// Signs and verifies the gateway's webhooks.
    pub webhook_secret: crate::Secret,
    pub analytics: crate::analytics::AnalyticsSettings,
}

/// Payment tunables (from the server settings).
#[derive(Debug, Clone, Copy)]
pub struct PaymentSettings {
    /// The platform fee on released escrow, in basis points (1000 = 10 %).
    pub fee_bps: u32,
    /// How long a client has to answer a submitted milestone before it is released.
    pub review_period: time::Duration,
}

/// A marketplace use case.
pub trait Command: Message<Result = Result<<Self as Command>::Output, ActorError>> + Send + 'static {
    type Output: Send + 'static;
    /// The aggregate it serializes on.
    fn aggregate(&self) -> Aggregate;
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Self::Output, ActorError>>;
}

/// Routes commands to per-aggregate workers, starting them on demand; idle ones retire.
pub struct Market {
    cx: Cx,
    idle_after: Duration,
    workers: HashMap<Aggregate, Addr<Worker>>,
}

impl Market {
    pub fn new(cx: Cx, idle_after: Duration) -> Market {
        Market { cx, idle_after, workers: HashMap::new() }
    }
}

impl Actor for Market {
    type Context = Context<Self>;
}

impl<C: Command> Handler<C> for Market
where
    C: Message<Result = Result<<C as Command>::Output, ActorError>>,
{
    type Result = ResponseFuture<Result<C::Output, ActorError>>;

    fn handle(&mut self, cmd: C, ctx: &mut Context<Self>) -> Self::Result {
        let key = cmd.aggregate();
        let cx = self.cx.clone();
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            Box::pin(async move {
                // The caller may have gone away; the command still ran to completion.
                let _ = tx.send(cmd.run(cx).await);
            })
        });
        if key == Aggregate::New {
            actix::spawn(job());
        } else {
            let addr = match self.workers.get(&key).filter(|a| a.connected()) {
                Some(a) => a.clone(),
                None => {
                    let a = Worker {
                        key: key.clone(),
                        market: ctx.address(),
                        idle_after: self.idle_after,
                        last_used: Instant::now(),
                        retiring: false,
                    }
                    .start();
                    self.workers.insert(key, a.clone());
                    metrics::gauge!("agora_market_workers").set(self.workers.len() as f64);
                    a
                }
            };
            addr.do_send(Exec(job));
        }
        Box::pin(async move { rx.await.map_err(|_| ActorError::Unavailable)? })
    }
}

type Job = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// Runs one command to completion before the next (in order of arrival).
struct Exec(Job);

impl Message for Exec {
    type Result = ();
}

#[derive(Message)]
#[rtype(result = "()")]
struct Retire {
    key: Aggregate,
    addr: Addr<Worker>,
}

impl Handler<Retire> for Market {
    type Result = ();

    fn handle(&mut self, msg: Retire, _: &mut Context<Self>) {
        if self.workers.get(&msg.key).is_some_and(|a| *a == msg.addr) {
            self.workers.remove(&msg.key);
            metrics::gauge!("agora_market_workers").set(self.workers.len() as f64);
        }
        // Commands already in its mailbox still run: Stop is queued behind them.
        msg.addr.do_send(Stop);
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Stop;

/// The worker of one aggregate.
struct Worker {
    key: Aggregate,
    market: Addr<Market>,
    idle_after: Duration,
    last_used: Instant,
    retiring: bool,
}

impl Actor for Worker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = (self.idle_after / 2).max(Duration::from_millis(50));
        ctx.run_interval(every, |w, ctx| {
            if !w.retiring && w.last_used.elapsed() >= w.idle_after {
                w.retiring = true;
                w.market.do_send(Retire { key: w.key.clone(), addr: ctx.address() });
            }
        });
    }
}

impl Handler<Exec> for Worker {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, Exec(job): Exec, _: &mut Context<Self>) -> Self::Result {
        self.last_used = Instant::now();
        AtomicResponse::new(Box::pin(job().into_actor(self)))
    }
}

impl Handler<Stop> for Worker {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// `NotFound` unless `visible`.
pub(crate) fn visible<T>(v: Option<T>, visible: impl FnOnce(&T) -> bool) -> Result<T, ActorError> {
    v.filter(|t| visible(t)).ok_or(ActorError::NotFound)
}

/// A new UUID v7 as a typed id.
pub(crate) fn new_id<T>(f: fn(uuid::Uuid) -> T) -> T {
    f(uuid::Uuid::now_v7())
}
