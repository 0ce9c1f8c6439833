//! Milestones and escrow: split, fund, submit, request changes, approve. Every command runs
//! on the contract's worker (so one contract's money commands never interleave in this
//! process), decides with the engine's milestone state machine, and changes the contract's
//! milestone set by compare-and-set (so they stay correct across processes).
//!
//! Funding is a multi-step operation: intent; pending payment; charge at the gateway (keyed
//! by the payment id, so a repeat answers the same); ledger transaction (keyed by its id);
//! milestone funded; contract pending → active. Each step is idempotent, and the sweeper
//! runs [`complete_funding`] over whatever a crash interrupted. A charge whose outcome comes
//! later leaves the milestone claimed by its pending payment; the charge webhook runs
//! [`complete_funding`] on from there. A release records its ledger
//! transaction in the milestone first and posts it second; the sweeper posts what a crash
//! left unposted ([`complete_settlement`]).

use agora_engine::ledger::{self, Transaction, TxnKind};
use agora_engine::payment::{
    check_split, Milestone, MilestoneAction, MilestoneActor, MilestonePlan, MilestoneStatus, Payment, PaymentFor,
};
use agora_engine::{
    codes, Contract, ContractId, ContractStatus, DomainError, DomainEvent, LedgerTxnId, MilestoneId, PaymentId,
    PaymentMethodId,
};
use agora_storage::intents::{Intent, Step};
use agora_storage::payments::{MilestoneSet, ReleaseDue};
use agora_storage::{cas_retry, Versioned};
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use super::charges::Charged;
use super::contracts::{change, ChangeContractStatus};
use super::{new_id, Aggregate, Caller, Command, Cx};
use crate::ActorError;

/// The contract, if `by` may see it, and which side `by` is on.
async fn contract_for(cx: &Cx, by: Caller, id: ContractId) -> Result<(Contract, MilestoneActor), ActorError> {
    let c = cx.store.market().get::<Contract>(id).await?.ok_or(ActorError::NotFound)?.value;
    let actor = match c.party(by.id, by.is_admin()).ok_or(ActorError::NotFound)? {
        agora_engine::ContractActor::Client => MilestoneActor::Client,
        agora_engine::ContractActor::Provider => MilestoneActor::Provider,
        agora_engine::ContractActor::Admin => MilestoneActor::Admin,
    };
    Ok((c, actor))
}

/// The contract's milestones and their version (`None`: the default set, never saved).
pub async fn milestone_set(cx: &Cx, c: &Contract) -> Result<(MilestoneSet, Option<i64>), ActorError> {
    Ok(match cx.store.payments().milestones(c.id).await? {
        Some(Versioned { value, version }) => (value, Some(version)),
        None => (MilestoneSet::default_for(c), None),
    })
}

/// Read-decide-write of one milestone with retries: `decide` answers the next milestone,
/// or `None` when there is nothing to change (a repeat).
async fn change_milestone(
    cx: &Cx,
    c: &Contract,
    id: MilestoneId,
    mut decide: impl FnMut(&Milestone) -> Result<Option<Milestone>, ActorError>,
) -> Result<(Milestone, bool), ActorError> {
    let decide = std::sync::Mutex::new(&mut decide);
    let decide = &decide;
    cas_retry(|| async move {
        let (mut set, version) = milestone_set(cx, c).await?;
        let current = set.get(id).ok_or(ActorError::NotFound)?.clone();
        let Some(next) = (decide.lock().unwrap_or_else(|p| p.into_inner()))(&current)? else {
            return Ok(Some((current, false)));
        };
        if let Some(slot) = set.get_mut(id) {
            *slot = next.clone();
        }
        Ok::<_, ActorError>(cx.store.payments().save_milestones(&set, version).await?.map(|_| (next, true)))
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Split

/// The client replaces the default milestone with a split of the agreed amount.
#[derive(actix::Message)]
#[rtype(result = "Result<MilestoneSet, ActorError>")]
pub struct SetMilestones {
    pub by: Caller,
    pub contract_id: ContractId,
    pub plans: Vec<MilestonePlan>,
    pub at: OffsetDateTime,
}

impl Command for SetMilestones {
    type Output = MilestoneSet;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Contract(self.contract_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<MilestoneSet, ActorError>> {
        Box::pin(async move {
            let (c, actor) = contract_for(&cx, self.by, self.contract_id).await?;
            if actor != MilestoneActor::Client {
                return Err(ActorError::Forbidden("only the client splits the contract into milestones"));
            }
            check_split(c.agreed_rate, &self.plans).map_err(ActorError::from)?;
            let plans = &self.plans;
            cas_retry(|| async {
                let (set, version) = milestone_set(&cx, &c).await?;
                let contract_now = cx.store.market().get::<Contract>(c.id).await?.ok_or(ActorError::NotFound)?.value;
                if contract_now.status != ContractStatus::Pending
                    || set.milestones.iter().any(|m| m.status != MilestoneStatus::Unfunded || m.payment_id.is_some())
                {
                    return Err(ActorError::Refused(DomainError::conflict(
                        codes::MILESTONES_LOCKED,
                        "milestones can be split only while the contract is pending and nothing is funded",
                    )));
                }
                let next = MilestoneSet {
                    contract_id: c.id,
                    milestones: plans
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            Milestone::unfunded(
                                new_id(MilestoneId::from_uuid),
                                c.id,
                                u32::try_from(i + 1).unwrap_or(u32::MAX),
                                p.title.clone(),
                                p.amount,
                                p.due_date,
                                self.at,
                            )
                        })
                        .collect(),
                };
                Ok(cx.store.payments().save_milestones(&next, version).await?.map(|_| next))
            })
            .await
        })
    }
}

// ---------------------------------------------------------------------------------------
// Fund

/// The client funds a milestone (the next unfunded one when `milestone_id` is `None`) by
/// charging a saved card.
#[derive(actix::Message)]
#[rtype(result = "Result<Funded, ActorError>")]
pub struct FundMilestone {
    pub by: Caller,
    pub contract_id: ContractId,
    pub milestone_id: Option<MilestoneId>,
    pub payment_method_id: PaymentMethodId,
    pub at: OffsetDateTime,
}

/// What funding did.
#[derive(Debug, Clone)]
pub struct Funded {
    pub payment: Payment,
    pub milestone: Milestone,
    pub contract: Contract,
}

impl Command for FundMilestone {
    type Output = Funded;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Contract(self.contract_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Funded, ActorError>> {
        Box::pin(fund(cx, self))
    }
}

async fn fund(cx: Cx, msg: FundMilestone) -> Result<Funded, ActorError> {
    let (c, actor) = contract_for(&cx, msg.by, msg.contract_id).await?;
    MilestoneAction::Fund.allowed_for(actor).map_err(ActorError::Refused)?;
    let (set, _) = milestone_set(&cx, &c).await?;
    let target = match msg.milestone_id {
        Some(id) => set.get(id).ok_or(ActorError::NotFound)?.clone(),
        None => set.next_unfunded().cloned().ok_or_else(|| {
            ActorError::Refused(DomainError::conflict(codes::NOTHING_TO_FUND, "every milestone is funded or settled"))
        })?,
    };
    MilestoneAction::Fund.decide(target.status, actor, c.status).map_err(ActorError::Refused)?;
    let method = super::charges::own_card(&cx, msg.by.id, msg.payment_method_id).await?;
    let txn_id = new_id(LedgerTxnId::from_uuid);
    let payment = Payment::pending(
        new_id(PaymentId::from_uuid),
        c.client_id,
        c.provider_id,
        PaymentFor::Milestone { contract_id: c.id, milestone_id: target.id },
        target.amount,
        method.card.clone(),
        txn_id,
        msg.at,
    );
    let intent = Intent::new(
        Step::FundMilestone {
            contract_id: c.id,
            milestone_id: target.id,
            payment_id: payment.id,
            payment_method_id: method.id,
            txn_id,
            by: msg.by.id,
        },
        msg.at,
    );
    cx.store.intents().record(&intent).await?;
    // The claim: only one funding of a milestone runs at a time, in any process (the
    // milestone set's compare-and-set decides), so a card is never charged twice for it.
    let claimed = change_milestone(&cx, &c, target.id, |ms| {
        MilestoneAction::Fund.decide(ms.status, actor, c.status).map_err(ActorError::Refused)?;
        if ms.payment_id.is_some() {
            return Err(ActorError::Refused(DomainError::conflict(
                codes::CONFLICT,
                "this milestone is being funded by another request",
            )));
        }
        let mut next = ms.clone();
        next.payment_id = Some(payment.id);
        Ok(Some(next))
    })
    .await;
    if let Err(e) = claimed {
        cx.store.intents().done(intent.id).await?;
        return Err(e);
    }
    cx.faults.hit("fund:claimed");
    cx.store.market().insert(&payment).await?;
    cx.faults.hit("fund:payment");
    let funded = complete_funding(&cx, c.id, target.id, payment.id, Some(method.id), txn_id, msg.by, msg.at).await?;
    cx.store.intents().done(intent.id).await?;
    match funded {
        Some(f) => Ok(f),
        None => {
            let p = cx.store.market().get::<Payment>(payment.id).await?.map(|v| v.value);
            Err(super::charges::declined(p.as_ref()))
        }
    }
}

/// Charges (once), posts the funding (once), marks the milestone funded and activates a
/// pending contract. `None` when the gateway declined the card; a payment still pending
/// (its outcome comes by webhook) is answered with the milestone as it is. `method_id` is
/// the card to charge (`None` on the webhook path, which charges nothing). Safe to run
/// again at any point: the sweeper does after a crash, and the charge webhook does.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn complete_funding(
    cx: &Cx,
    contract_id: ContractId,
    milestone_id: MilestoneId,
    payment_id: PaymentId,
    method_id: Option<PaymentMethodId>,
    txn_id: LedgerTxnId,
    by: Caller,
    at: OffsetDateTime,
) -> Result<Option<Funded>, ActorError> {
    let m = cx.store.market();
    let Some((payment, charged)) = super::charges::charge(cx, payment_id, method_id, at).await? else {
        // Claimed, then interrupted before the payment existed: nothing was charged.
        release_claim(cx, contract_id, milestone_id, payment_id).await?;
        return Ok(None);
    };
    cx.faults.hit("fund:charged");
    match charged {
        Charged::Failed => {
            release_claim(cx, contract_id, milestone_id, payment_id).await?;
            return Ok(None);
        }
        Charged::Pending => {
            let contract = m.get::<Contract>(contract_id).await?.ok_or(ActorError::NotFound)?.value;
            let (set, _) = milestone_set(cx, &contract).await?;
            let milestone = set.get(milestone_id).ok_or(ActorError::NotFound)?.clone();
            tracing::info!(payment = %payment.id, milestone = %milestone_id, "charge pending; its outcome comes by webhook");
            return Ok(Some(Funded { payment, milestone, contract }));
        }
        Charged::Succeeded => {}
    }
    let c = m.get::<Contract>(contract_id).await?.ok_or(ActorError::NotFound)?.value;
    let txn = Transaction::new(
        txn_id,
        TxnKind::Fund,
        ledger::fund(c.id, c.provider_id, payment.amount),
        format!("milestone:{milestone_id}"),
        payment.created_at,
    )
    .map_err(ActorError::Refused)?;
    cx.store.ledger().post(&txn).await?;
    cx.faults.hit("fund:posted");
    let (milestone, changed) = change_milestone(cx, &c, milestone_id, |ms| {
        if ms.payment_id != Some(payment.id) || ms.status != MilestoneStatus::Unfunded {
            // Already funded by this payment (a repeat), or, which the claim rules out,
            // by another one: report the milestone as it is.
            if ms.payment_id != Some(payment.id) {
                tracing::error!(payment = %payment.id, milestone = %ms.id, "milestone funded by another payment");
            }
            return Ok(None);
        }
        let mut next = ms.clone();
        next.status = MilestoneStatus::Funded;
        next.updated_at = at;
        Ok(Some(next))
    })
    .await?;
    cx.faults.hit("fund:milestone");
    let contract = if c.status == ContractStatus::Pending {
        super::contracts::activate_by_funding(cx, by, c.id, at).await?
    } else {
        c
    };
    if changed {
        tracing::info!(contract = %contract.id, milestone = %milestone.id, payment = %payment.id, "milestone funded");
        cx.bus
            .publish(
                vec![DomainEvent::MilestoneChanged {
                    contract: contract.clone(),
                    milestone: milestone.clone(),
                    by: Some(by.id),
                }],
                at,
            )
            .await;
    }
    Ok(Some(Funded { payment, milestone, contract }))
}

/// Gives up a funding claim that did not charge (declined, or interrupted before the
/// payment existed), so the milestone can be funded again.
async fn release_claim(
    cx: &Cx,
    contract_id: ContractId,
    milestone_id: MilestoneId,
    payment_id: PaymentId,
) -> Result<(), ActorError> {
    let Some(c) = cx.store.market().get::<Contract>(contract_id).await?.map(|v| v.value) else { return Ok(()) };
    change_milestone(cx, &c, milestone_id, |ms| {
        if ms.status != MilestoneStatus::Unfunded || ms.payment_id != Some(payment_id) {
            return Ok(None);
        }
        let mut next = ms.clone();
        next.payment_id = None;
        Ok(Some(next))
    })
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Submit, request changes, approve

/// A change of one milestone by a party.
#[derive(actix::Message)]
#[rtype(result = "Result<Milestone, ActorError>")]
pub struct ActOnMilestone {
    pub by: Caller,
    pub contract_id: ContractId,
    pub milestone_id: MilestoneId,
    /// Submit, RequestChanges, Remove or Approve ([`RefundMilestone`] refunds).
    pub action: MilestoneAction,
    pub at: OffsetDateTime,
}

impl Command for ActOnMilestone {
    type Output = Milestone;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Contract(self.contract_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Milestone, ActorError>> {
        Box::pin(async move {
            let (c, actor) = contract_for(&cx, self.by, self.contract_id).await?;
            match self.action {
                MilestoneAction::Approve => {
                    settle(&cx, &c, self.milestone_id, self.action, actor, Some(self.by.id), None, self.at).await
                }
                MilestoneAction::Submit | MilestoneAction::RequestChanges | MilestoneAction::Remove => {
                    let action = self.action;
                    if action == MilestoneAction::Submit {
                        // Refusals answer before anything is written.
                        let (set, _) = milestone_set(&cx, &c).await?;
                        let current = set.get(self.milestone_id).ok_or(ActorError::NotFound)?;
                        action.decide(current.status, actor, c.status).map_err(ActorError::Refused)?;
                        // Scheduled first, so a crash after the submission cannot lose it; a
                        // row whose submission never happened is dropped as moot when due.
                        let due = ReleaseDue {
                            contract_id: c.id,
                            milestone_id: self.milestone_id,
                            submitted_at: self.at,
                            due: self.at + cx.payments.review_period,
                        };
                        cx.store.payments().schedule_release(&due).await?;
                    }
                    let (milestone, _) = change_milestone(&cx, &c, self.milestone_id, |ms| {
                        let to = action.decide(ms.status, actor, c.status).map_err(ActorError::Refused)?;
                        if action == MilestoneAction::Remove && ms.payment_id.is_some() {
                            return Err(ActorError::Refused(DomainError::conflict(
                                codes::CONFLICT,
                                "this milestone is being funded",
                            )));
                        }
                        let mut next = ms.clone();
                        next.status = to;
                        next.updated_at = self.at;
                        if to == MilestoneStatus::Submitted {
                            next.submitted_at = Some(self.at);
                        }
                        Ok(Some(next))
                    })
                    .await?;
                    cx.bus
                        .publish(
                            vec![DomainEvent::MilestoneChanged {
                                contract: c,
                                milestone: milestone.clone(),
                                by: Some(self.by.id),
                            }],
                            self.at,
                        )
                        .await;
                    Ok(milestone)
                }
                _ => Err(ActorError::Forbidden("that milestone action is not available here")),
            }
        })
    }
}

/// The provider gives a milestone's escrow back to the client: `amount` minor units of it,
/// or everything held when `None` (or when `amount` is all of it), which refunds the
/// milestone. A part refund leaves the milestone where it is, with less held.
#[derive(actix::Message)]
#[rtype(result = "Result<Milestone, ActorError>")]
pub struct RefundMilestone {
    pub by: Caller,
    pub contract_id: ContractId,
    pub milestone_id: MilestoneId,
    pub amount: Option<i64>,
    pub at: OffsetDateTime,
}

impl Command for RefundMilestone {
    type Output = Milestone;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Contract(self.contract_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Milestone, ActorError>> {
        Box::pin(async move {
            let (c, actor) = contract_for(&cx, self.by, self.contract_id).await?;
            let (set, _) = milestone_set(&cx, &c).await?;
            let current = set.get(self.milestone_id).ok_or(ActorError::NotFound)?;
            let whole = match self.amount {
                None => true,
                Some(minor) => minor == current.held() && current.status.in_escrow(),
            };
            if whole {
                let action = MilestoneAction::Refund;
                return settle(&cx, &c, self.milestone_id, action, actor, Some(self.by.id), None, self.at).await;
            }
            let minor = self.amount.unwrap_or_default();
            let txn_id = new_id(LedgerTxnId::from_uuid);
            let (milestone, intent) = decide_escrow_txn(&cx, &c, self.milestone_id, txn_id, self.at, |ms| {
                let mut next = ms.clone();
                next.refund_part(txn_id, minor, actor, c.status, self.at).map_err(ActorError::Refused)?;
                Ok(Some(next))
            })
            .await?;
            cx.faults.hit("refund:decided");
            let part = agora_engine::payment::PartRefund { txn: txn_id, minor };
            post_part_refund(&cx, &c, &milestone, part).await?;
            cx.store.intents().done(intent.id).await?;
            let amount = agora_engine::Money::of(minor, milestone.amount.currency()).map_err(ActorError::Refused)?;
            tracing::info!(contract = %c.id, milestone = %milestone.id, minor, "part of a milestone refunded");
            cx.bus
                .publish(
                    vec![DomainEvent::PartRefunded {
                        contract: c,
                        milestone: milestone.clone(),
                        amount,
                        by: self.by.id,
                    }],
                    self.at,
                )
                .await;
            Ok(milestone)
        })
    }
}

/// The first half of moving money out of a milestone's escrow: records the intent to post
/// `txn_id` (the sweeper's `SettleMilestone` repair), then lets `decide` change the milestone
/// to record that transaction. A refusal or failure here ends the intent: nothing was
/// decided, so nothing needs repair. The caller posts, then ends the intent.
async fn decide_escrow_txn(
    cx: &Cx,
    c: &Contract,
    milestone_id: MilestoneId,
    txn_id: LedgerTxnId,
    at: OffsetDateTime,
    decide: impl FnMut(&Milestone) -> Result<Option<Milestone>, ActorError>,
) -> Result<(Milestone, Intent), ActorError> {
    let intent = Intent::new(Step::SettleMilestone { contract_id: c.id, milestone_id, txn_id }, at);
    cx.store.intents().record(&intent).await?;
    match change_milestone(cx, c, milestone_id, decide).await {
        Ok((m, _)) => Ok((m, intent)),
        Err(e) => {
            cx.store.intents().done(intent.id).await?;
            Err(e)
        }
    }
}

/// Settles a milestone's escrow (approve, auto-release, completion, cancellation, dispute
/// resolution): the milestone records its decision and the id of its settlement
/// transaction, then the ledger posts it. `split` gives `(released, refunded)` for a split;
/// otherwise the whole amount goes one way, by the state reached.
#[allow(clippy::too_many_arguments)]
async fn settle(
    cx: &Cx,
    c: &Contract,
    milestone_id: MilestoneId,
    action: MilestoneAction,
    actor: MilestoneActor,
    by: Option<agora_engine::UserId>,
    split: Option<(i64, i64)>,
    at: OffsetDateTime,
) -> Result<Milestone, ActorError> {
    let txn_id = new_id(LedgerTxnId::from_uuid);
    let (milestone, intent) = decide_escrow_txn(cx, c, milestone_id, txn_id, at, |ms| {
        let to = action.decide(ms.status, actor, c.status).map_err(ActorError::Refused)?;
        let mut next = ms.clone();
        next.status = to;
        (next.released, next.refunded) = match (to, split) {
            (MilestoneStatus::Split, Some(parts)) => parts,
            (MilestoneStatus::Refunded, _) => (0, ms.held()),
            _ => (ms.held(), 0),
        };
        next.settlement_txn = Some(txn_id);
        next.updated_at = at;
        Ok(Some(next))
    })
    .await?;
    cx.faults.hit("settle:decided");
    post_settlement(cx, c, &milestone, txn_id).await?;
    cx.store.intents().done(intent.id).await?;
    tracing::info!(contract = %c.id, milestone = %milestone.id, status = milestone.status.as_str(), "milestone settled");
    cx.bus
        .publish(vec![DomainEvent::MilestoneChanged { contract: c.clone(), milestone: milestone.clone(), by }], at)
        .await;
    Ok(milestone)
}

/// Posts the settlement or part refund `txn_id` a milestone records (idempotent; the
/// sweeper's repair). Nothing happens if the milestone records no such transaction (the
/// decision was never saved).
pub(crate) async fn complete_settlement(
    cx: &Cx,
    contract_id: ContractId,
    milestone_id: MilestoneId,
    txn_id: LedgerTxnId,
) -> Result<&'static str, ActorError> {
    let Some(c) = cx.store.market().get::<Contract>(contract_id).await?.map(|v| v.value) else { return Ok("gone") };
    let (set, _) = milestone_set(cx, &c).await?;
    let Some(ms) = set.get(milestone_id) else { return Ok("undecided") };
    if ms.settlement_txn == Some(txn_id) {
        return post_settlement(cx, &c, ms, txn_id).await;
    }
    match ms.part_refunds.iter().find(|r| r.txn == txn_id) {
        Some(part) => post_part_refund(cx, &c, ms, *part).await,
        None => Ok("undecided"),
    }
}

/// Posts a part refund the milestone records and returns it to the card (idempotent).
async fn post_part_refund(
    cx: &Cx,
    c: &Contract,
    ms: &Milestone,
    part: agora_engine::payment::PartRefund,
) -> Result<&'static str, ActorError> {
    let amount = agora_engine::Money::of(part.minor, ms.amount.currency()).map_err(ActorError::Refused)?;
    let txn = Transaction::new(
        part.txn,
        TxnKind::Refund,
        ledger::refund(c.id, c.provider_id, amount),
        format!("milestone:{}", ms.id),
        ms.updated_at,
    )
    .map_err(ActorError::Refused)?;
    super::charges::post_from_escrow(cx, &txn, ms.payment_id, Some(amount), ms.updated_at).await
}

/// Posts the settlement `txn_id` of the decided milestone `ms` (and refunds its card).
async fn post_settlement(
    cx: &Cx,
    c: &Contract,
    ms: &Milestone,
    txn_id: LedgerTxnId,
) -> Result<&'static str, ActorError> {
    let milestone_id = ms.id;
    let amount = |minor: i64| agora_engine::Money::of(minor, ms.amount.currency()).map_err(ActorError::Refused);
    let mut legs = Vec::new();
    if ms.released > 0 {
        legs.extend(ledger::release(
            c.id,
            c.provider_id,
            amount(ms.released)?,
            cx.payments.fee_bps,
            ms.updated_at.date(),
        ));
    }
    if ms.refunded > 0 {
        legs.extend(ledger::refund(c.id, c.provider_id, amount(ms.refunded)?));
    }
    let kind = if ms.refunded > 0 && ms.released == 0 { TxnKind::Refund } else { TxnKind::Release };
    let txn = Transaction::new(txn_id, kind, legs, format!("milestone:{milestone_id}"), ms.updated_at)
        .map_err(ActorError::Refused)?;
    let refund = (ms.refunded > 0).then(|| amount(ms.refunded)).transpose()?;
    super::charges::post_from_escrow(cx, &txn, ms.payment_id, refund, ms.updated_at).await
}

// ---------------------------------------------------------------------------------------
// Automatic release, contract settlement, disputes

/// Releases a submitted milestone the client left unanswered past the review period (the
/// auto-release job sends one per due row). Moot rows (answered, resubmitted, settled) are
/// dropped; a disputed contract keeps its row until the dispute is resolved.
#[derive(actix::Message)]
#[rtype(result = "Result<bool, ActorError>")]
pub struct ReleaseIfDue {
    pub due: ReleaseDue,
    pub at: OffsetDateTime,
}

impl Command for ReleaseIfDue {
    type Output = bool;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Contract(self.due.contract_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<bool, ActorError>> {
        Box::pin(async move {
            let due = self.due;
            let Some(c) = cx.store.market().get::<Contract>(due.contract_id).await?.map(|v| v.value) else {
                cx.store.payments().done_release(&due).await?;
                return Ok(false);
            };
            let (set, _) = milestone_set(&cx, &c).await?;
            let live = set
                .get(due.milestone_id)
                .is_some_and(|m| m.status == MilestoneStatus::Submitted && m.submitted_at == Some(due.submitted_at));
            if !live {
                cx.store.payments().done_release(&due).await?;
                return Ok(false);
            }
            match settle(
                &cx,
                &c,
                due.milestone_id,
                MilestoneAction::AutoRelease,
                MilestoneActor::System,
                None,
                None,
                self.at,
            )
            .await
            {
                Ok(_) => {
                    metrics::counter!("agora_milestones_auto_released_total").increment(1);
                    cx.store.payments().done_release(&due).await?;
                    Ok(true)
                }
                Err(ActorError::Refused(DomainError::Conflict { code: codes::CONTRACT_NOT_PAYABLE, .. })) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }
}

/// Sends every due automatic release to its contract's worker (the periodic job).
pub async fn release_due(
    cx: &Cx,
    market: &actix::Addr<super::Market>,
    now: OffsetDateTime,
) -> Result<usize, ActorError> {
    let mut n = 0;
    for due in cx.store.payments().due_releases(now, 200).await? {
        if market.send(ReleaseIfDue { due, at: now }).await.map_err(|_| ActorError::Unavailable)?? {
            n += 1;
        }
    }
    Ok(n)
}

/// Settles what a terminal contract still holds in escrow: released when it completed,
/// refunded when it was cancelled. Idempotent.
pub(crate) async fn settle_contract(cx: &Cx, c: &Contract, at: OffsetDateTime) -> Result<Vec<Milestone>, ActorError> {
    let action = match c.status {
        ContractStatus::Completed => MilestoneAction::Complete,
        ContractStatus::Cancelled => MilestoneAction::CancelRefund,
        _ => return Ok(Vec::new()),
    };
    let (set, _) = milestone_set(cx, c).await?;
    let mut settled = Vec::new();
    for m in set.milestones.iter().filter(|m| m.status.in_escrow()) {
        settled.push(settle(cx, c, m.id, action, MilestoneActor::System, None, None, at).await?);
    }
    Ok(settled)
}

/// An admin resolves a disputed contract: `release` minor units go to the provider and
/// `refund` to the client; together they are exactly what is in escrow. Milestones are
/// settled in order, the release filling the first ones. The contract then completes (if
/// anything was released) or is cancelled.
#[derive(actix::Message)]
#[rtype(result = "Result<Contract, ActorError>")]
pub struct ResolveDispute {
    pub by: Caller,
    pub contract_id: ContractId,
    pub release: i64,
    pub refund: i64,
    pub at: OffsetDateTime,
}

impl Command for ResolveDispute {
    type Output = Contract;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Contract(self.contract_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Contract, ActorError>> {
        Box::pin(async move {
            if !self.by.is_admin() {
                return Err(ActorError::NotFound);
            }
            let c = cx.store.market().get::<Contract>(self.contract_id).await?.ok_or(ActorError::NotFound)?.value;
            if c.status != ContractStatus::Disputed {
                return Err(ActorError::Refused(DomainError::conflict(
                    codes::CONTRACT_NOT_PAYABLE,
                    format!("only a disputed contract is resolved; this one is {}", c.status.as_str()),
                )));
            }
            let (set, _) = milestone_set(&cx, &c).await?;
            let held = set.in_escrow();
            if self.release < 0 || self.refund < 0 || self.release.checked_add(self.refund) != Some(held) {
                return Err(ActorError::from(DomainError::invalid_field(
                    "release",
                    format!("release and refund must be non-negative and sum to the {held} minor units in escrow"),
                )));
            }
            let mut left = self.release;
            let plan: Vec<(MilestoneId, i64, i64)> = set
                .milestones
                .iter()
                .filter(|m| m.status.in_escrow())
                .map(|m| {
                    let r = left.min(m.held());
                    left -= r;
                    (m.id, r, m.held() - r)
                })
                .collect();
            let intent =
                Intent::new(Step::ResolveDispute { contract_id: c.id, plan: plan.clone(), by: self.by.id }, self.at);
            cx.store.intents().record(&intent).await?;
            let done = carry_out_resolution(&cx, c.id, &plan, self.by.id, self.at).await;
            cx.store.intents().done(intent.id).await?;
            done
        })
    }
}

/// Settles each milestone of a resolution plan that is still in escrow, then ends the
/// contract. Idempotent (the sweeper's repair of an interrupted resolution).
pub(crate) async fn carry_out_resolution(
    cx: &Cx,
    contract_id: ContractId,
    plan: &[(MilestoneId, i64, i64)],
    by: agora_engine::UserId,
    at: OffsetDateTime,
) -> Result<Contract, ActorError> {
    let c = cx.store.market().get::<Contract>(contract_id).await?.ok_or(ActorError::NotFound)?.value;
    let (set, _) = milestone_set(cx, &c).await?;
    if c.status == ContractStatus::Disputed {
        for &(id, released, refunded) in plan {
            if !set.get(id).is_some_and(|m| m.status.in_escrow()) {
                continue;
            }
            let how = match (released, refunded) {
                (_, 0) => agora_engine::payment::Resolution::Release,
                (0, _) => agora_engine::payment::Resolution::Refund,
                _ => agora_engine::payment::Resolution::Split,
            };
            let action = MilestoneAction::Resolve(how);
            settle(cx, &c, id, action, MilestoneActor::Admin, Some(by), Some((released, refunded)), at).await?;
        }
    }
    let released: i64 = plan.iter().map(|p| p.1).sum();
    let to = if released > 0 { ContractStatus::Completed } else { ContractStatus::Cancelled };
    if c.status != ContractStatus::Disputed {
        return Ok(c);
    }
    let by = Caller { id: by, role: agora_engine::Role::Admin };
    let msg = ChangeContractStatus { by, contract_id, to, reason: Some("dispute resolved".into()), at };
    change(cx.clone(), msg, agora_engine::contract::Trigger::Request).await
}
