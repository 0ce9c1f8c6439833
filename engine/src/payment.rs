//! Payments and milestones: their state machines, and the rules of splitting a contract's
//! agreed amount.
//!
//! A payment is one charge through the gateway:
//!
//! | from | to |
//! |---|---|
//! | pending | succeeded, failed |
//! | succeeded | partially_refunded, refunded |
//! | partially_refunded | partially_refunded, refunded |
//!
//! A milestone is a part of a contract's amount, funded into escrow and released on its own:
//!
//! | from | to | by |
//! |---|---|---|
//! | unfunded | funded | client (fund) |
//! | unfunded | removed | client (remove, so that the contract can complete without it) |
//! | funded, changes_requested | submitted | provider (submit) |
//! | submitted | changes_requested | client (request changes) |
//! | submitted | released | client (approve), system (auto-release after the review period) |
//! | funded, submitted, changes_requested | released | system, when the contract completes |
//! | funded, submitted, changes_requested | refunded | system (the contract was cancelled) |
//! | funded, submitted, changes_requested | released, refunded, split | admin (resolving a dispute) |
//!
//! While the contract is disputed only the admin's resolution moves a milestone.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::contract::ContractStatus;
use crate::error::{DomainError, FieldErrors};
use crate::market::{text, ymd};
use crate::money::Money;
use crate::{BookingId, ContractId, MilestoneId, PaymentId, UserId};

/// A contract may be split into at most this many milestones.
pub const MAX_MILESTONES: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Succeeded,
    Failed,
    PartiallyRefunded,
    Refunded,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 5] = [
        PaymentStatus::Pending,
        PaymentStatus::Succeeded,
        PaymentStatus::Failed,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
            PaymentStatus::Refunded => "refunded",
        }
    }

    pub fn transition(self, to: PaymentStatus) -> Result<PaymentStatus, DomainError> {
        use PaymentStatus::*;
        match (self, to) {
            (Pending, Succeeded | Failed)
            | (Succeeded, PartiallyRefunded | Refunded)
            | (PartiallyRefunded, PartiallyRefunded | Refunded) => Ok(to),
            _ => Err(DomainError::Transition { from: self.as_str(), to: to.as_str() }),
        }
    }
}

/// A withdrawal from a wallet to a bank account:
///
/// | from | to |
/// |---|---|
/// | requested | pending (the gateway took it), paid, failed (its webhook came first), rejected (not enough money) |
/// | pending | paid, failed |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    Requested,
    Pending,
    Paid,
    Failed,
    Rejected,
}

impl PayoutStatus {
    pub const ALL: [PayoutStatus; 5] = [
        PayoutStatus::Requested,
        PayoutStatus::Pending,
        PayoutStatus::Paid,
        PayoutStatus::Failed,
        PayoutStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Requested => "requested",
            PayoutStatus::Pending => "pending",
            PayoutStatus::Paid => "paid",
            PayoutStatus::Failed => "failed",
            PayoutStatus::Rejected => "rejected",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, PayoutStatus::Paid | PayoutStatus::Failed | PayoutStatus::Rejected)
    }

    pub fn transition(self, to: PayoutStatus) -> Result<PayoutStatus, DomainError> {
        use PayoutStatus::*;
        match (self, to) {
            (Requested, Pending | Paid | Failed | Rejected) | (Pending, Paid | Failed) => Ok(to),
            _ => Err(DomainError::Transition { from: self.as_str(), to: to.as_str() }),
        }
    }
}

/// One withdrawal. Its three ledger transactions are chosen when it is requested, so every
/// step can be repeated after a crash without moving money twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payout {
    pub id: crate::PayoutId,
    pub user_id: UserId,
    pub method_id: crate::PayoutMethodId,
    pub amount: Money,
    pub status: PayoutStatus,
    pub gateway_ref: Option<String>,
    pub failure: Option<String>,
    /// wallet → payouts (when requested), payouts → external (paid), payouts → wallet (failed).
    pub start_txn: crate::LedgerTxnId,
    pub settle_txn: crate::LedgerTxnId,
    pub return_txn: crate::LedgerTxnId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// What a payment pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PaymentFor {
    Milestone { contract_id: ContractId, milestone_id: MilestoneId },
    Booking { booking_id: BookingId },
}

/// A card as the gateway reported it: never the number or the cvc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardSummary {
    pub brand: String,
    pub last4: String,
    pub exp_month: u8,
    pub exp_year: u16,
}

/// One charge from a payer to a payee's escrow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub id: PaymentId,
    pub payer_id: UserId,
    pub payee_id: UserId,
    pub purpose: PaymentFor,
    pub amount: Money,
    /// Minor units refunded so far (same currency as `amount`).
    pub refunded: i64,
    pub status: PaymentStatus,
    pub card: Option<CardSummary>,
    /// The gateway's id for the charge.
    pub gateway_ref: Option<String>,
    /// Why the gateway declined, when it did (`card_declined`, `insufficient_funds`).
    pub failure: Option<String>,
    /// The ledger transactions whose refunds are recorded here (each counts once).
    #[serde(default)]
    pub refund_txns: Vec<crate::LedgerTxnId>,
    /// The ledger transaction that books the charge into escrow (fixed when the payment is
    /// made, so a charge outcome that arrives by webhook posts it exactly once).
    #[serde(default)]
    pub ledger_txn: Option<crate::LedgerTxnId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Payment {
    /// A new charge of `amount` from `payer` to `payee`'s escrow, not yet sent to the
    /// gateway, booked by ledger transaction `ledger_txn` once it succeeds.
    #[allow(clippy::too_many_arguments)]
    pub fn pending(
        id: PaymentId,
        payer_id: UserId,
        payee_id: UserId,
        purpose: PaymentFor,
        amount: Money,
        card: CardSummary,
        ledger_txn: crate::LedgerTxnId,
        at: OffsetDateTime,
    ) -> Payment {
        Payment {
            id,
            payer_id,
            payee_id,
            purpose,
            amount,
            refunded: 0,
            status: PaymentStatus::Pending,
            card: Some(card),
            gateway_ref: None,
            failure: None,
            refund_txns: Vec::new(),
            ledger_txn: Some(ledger_txn),
            created_at: at,
            updated_at: at,
        }
    }

    /// Payer and payee see a payment; nobody else (admins aside) learns it exists.
    pub fn visible_to(&self, user: UserId, admin: bool) -> bool {
        admin || user == self.payer_id || user == self.payee_id
    }

    /// Records a refund of `minor` units, moving to partially_refunded or refunded.
    pub fn refund(&mut self, minor: i64, at: OffsetDateTime) -> Result<(), DomainError> {
        if minor <= 0 {
            return Err(DomainError::invalid_field("amount", "must be greater than zero"));
        }
        let left = self.amount.minor() - self.refunded;
        if minor > left {
            return Err(DomainError::invalid_field("amount", format!("at most {left} minor units are left to refund")));
        }
        let to = if minor == left { PaymentStatus::Refunded } else { PaymentStatus::PartiallyRefunded };
        self.status = self.status.transition(to)?;
        self.refunded += minor;
        self.updated_at = at;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MilestoneStatus {
    Unfunded,
    Funded,
    Submitted,
    ChangesRequested,
    Released,
    Refunded,
    /// A dispute was resolved with part released and part refunded.
    Split,
    Removed,
}

impl MilestoneStatus {
    pub const ALL: [MilestoneStatus; 8] = [
        MilestoneStatus::Unfunded,
        MilestoneStatus::Funded,
        MilestoneStatus::Submitted,
        MilestoneStatus::ChangesRequested,
        MilestoneStatus::Released,
        MilestoneStatus::Refunded,
        MilestoneStatus::Split,
        MilestoneStatus::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MilestoneStatus::Unfunded => "unfunded",
            MilestoneStatus::Funded => "funded",
            MilestoneStatus::Submitted => "submitted",
            MilestoneStatus::ChangesRequested => "changes_requested",
            MilestoneStatus::Released => "released",
            MilestoneStatus::Refunded => "refunded",
            MilestoneStatus::Split => "split",
            MilestoneStatus::Removed => "removed",
        }
    }

    /// Money is in escrow for this milestone.
    pub fn in_escrow(self) -> bool {
        matches!(self, MilestoneStatus::Funded | MilestoneStatus::Submitted | MilestoneStatus::ChangesRequested)
    }

    /// Nothing more happens to it.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            MilestoneStatus::Released | MilestoneStatus::Refunded | MilestoneStatus::Split | MilestoneStatus::Removed
        )
    }
}

/// What is asked of a milestone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MilestoneAction {
    Fund,
    Remove,
    Submit,
    RequestChanges,
    Approve,
    AutoRelease,
    /// The contract completed: every milestone still in escrow is released.
    Complete,
    /// The contract was cancelled: escrow goes back.
    CancelRefund,
    /// The provider gives a milestone's escrow back to the client.
    Refund,
    /// An admin resolves a dispute: everything to the provider, to the client, or a split.
    Resolve(Resolution),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    Release,
    Refund,
    Split,
}

/// Who acts on a milestone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MilestoneActor {
    Client,
    Provider,
    Admin,
    /// Timers and contract transitions.
    System,
}

impl MilestoneAction {
    pub fn as_str(self) -> &'static str {
        match self {
            MilestoneAction::Fund => "fund",
            MilestoneAction::Remove => "remove",
            MilestoneAction::Submit => "submit",
            MilestoneAction::RequestChanges => "request_changes",
            MilestoneAction::Approve => "approve",
            MilestoneAction::AutoRelease => "auto_release",
            MilestoneAction::Complete => "complete",
            MilestoneAction::CancelRefund => "cancel_refund",
            MilestoneAction::Refund => "refund",
            MilestoneAction::Resolve(_) => "resolve",
        }
    }

    /// The (from states, to state, actor) this action is allowed with.
    fn rule(self) -> (&'static [MilestoneStatus], MilestoneStatus, MilestoneActor) {
        use MilestoneActor as A;
        use MilestoneStatus::*;
        const ESCROW: &[MilestoneStatus] = &[Funded, Submitted, ChangesRequested];
        match self {
            MilestoneAction::Fund => (&[Unfunded], Funded, A::Client),
            MilestoneAction::Remove => (&[Unfunded], Removed, A::Client),
            MilestoneAction::Submit => (&[Funded, ChangesRequested], Submitted, A::Provider),
            MilestoneAction::RequestChanges => (&[Submitted], ChangesRequested, A::Client),
            MilestoneAction::Approve => (&[Submitted], Released, A::Client),
            MilestoneAction::AutoRelease => (&[Submitted], Released, A::System),
            MilestoneAction::Complete => (ESCROW, Released, A::System),
            MilestoneAction::CancelRefund => (ESCROW, Refunded, A::System),
            MilestoneAction::Refund => (ESCROW, Refunded, A::Provider),
            MilestoneAction::Resolve(Resolution::Release) => (ESCROW, Released, A::Admin),
            MilestoneAction::Resolve(Resolution::Refund) => (ESCROW, Refunded, A::Admin),
            MilestoneAction::Resolve(Resolution::Split) => (ESCROW, Split, A::Admin),
        }
    }

    /// Whether `by` may ever take this action (whatever the milestone's state).
    pub fn allowed_for(self, by: MilestoneActor) -> Result<(), DomainError> {
        if self.rule().2 != by {
            return Err(DomainError::Forbidden("this party may not do that to the milestone"));
        }
        Ok(())
    }

    /// Decides the milestone's next state. `contract` is the contract's status: a disputed
    /// contract's escrow is frozen except for the admin's resolution, and funding, submitting
    /// and approving need a live contract.
    pub fn decide(
        self,
        from: MilestoneStatus,
        by: MilestoneActor,
        contract: ContractStatus,
    ) -> Result<MilestoneStatus, DomainError> {
        // Who may act comes first: a party that may never do this learns nothing about the
        // milestone's state from the refusal.
        self.allowed_for(by)?;
        let (froms, to, _) = self.rule();
        if !froms.contains(&from) {
            return Err(DomainError::Transition { from: from.as_str(), to: to.as_str() });
        }
        let contract_ok = match self {
            MilestoneAction::Resolve(_) => contract == ContractStatus::Disputed,
            MilestoneAction::CancelRefund => contract == ContractStatus::Cancelled,
            MilestoneAction::Complete => contract == ContractStatus::Completed,
            MilestoneAction::Fund | MilestoneAction::Remove | MilestoneAction::Refund => {
                matches!(contract, ContractStatus::Pending | ContractStatus::Active | ContractStatus::Delivered)
            }
            MilestoneAction::Submit
            | MilestoneAction::RequestChanges
            | MilestoneAction::Approve
            | MilestoneAction::AutoRelease => {
                matches!(contract, ContractStatus::Active | ContractStatus::Delivered)
            }
        };
        if !contract_ok {
            return Err(DomainError::conflict(
                crate::codes::CONTRACT_NOT_PAYABLE,
                format!("a {} contract does not allow {} on its milestones", contract.as_str(), self.as_str()),
            ));
        }
        Ok(to)
    }
}

/// One milestone of a contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    pub id: MilestoneId,
    pub contract_id: ContractId,
    /// Position in the contract (1-based).
    pub position: u32,
    pub title: String,
    pub amount: Money,
    #[serde(with = "ymd::option")]
    pub due_date: Option<Date>,
    pub status: MilestoneStatus,
    /// The charge that funded it.
    pub payment_id: Option<PaymentId>,
    /// Minor units released to the provider and refunded to the client.
    #[serde(default)]
    pub released: i64,
    #[serde(default)]
    pub refunded: i64,
    /// The ledger transaction that settled it (release, refund or split), once decided.
    #[serde(default)]
    pub settlement_txn: Option<crate::LedgerTxnId>,
    /// Parts of the escrow the provider gave back before settlement, each its own ledger
    /// transaction. `released` and `refunded` share out only what was left after them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_refunds: Vec<PartRefund>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub submitted_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Milestone {
    /// A new, unfunded milestone.
    #[allow(clippy::too_many_arguments)]
    pub fn unfunded(
        id: MilestoneId,
        contract_id: ContractId,
        position: u32,
        title: String,
        amount: Money,
        due_date: Option<Date>,
        at: OffsetDateTime,
    ) -> Milestone {
        Milestone {
            id,
            contract_id,
            position,
            title,
            amount,
            due_date,
            status: MilestoneStatus::Unfunded,
            payment_id: None,
            released: 0,
            refunded: 0,
            settlement_txn: None,
            part_refunds: Vec::new(),
            submitted_at: None,
            updated_at: at,
        }
    }
}

/// A part of a milestone's escrow given back to the client before settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRefund {
    pub txn: crate::LedgerTxnId,
    pub minor: i64,
}

impl Milestone {
    /// Minor units in escrow for it now: its amount less its part refunds while it is in
    /// escrow, zero otherwise.
    pub fn held(&self) -> i64 {
        if self.status.in_escrow() {
            self.amount.minor() - self.part_refunds.iter().map(|r| r.minor).sum::<i64>()
        } else {
            0
        }
    }

    /// Everything given back to the client: part refunds and the settlement's refunded share.
    pub fn refunded_total(&self) -> i64 {
        self.refunded + self.part_refunds.iter().map(|r| r.minor).sum::<i64>()
    }

    /// Records a part refund of `minor` units by `by` (the provider, while the contract
    /// allows refunds): more than zero and less than what is held. Giving back everything
    /// held is the milestone's refund, not a part of it.
    pub fn refund_part(
        &mut self,
        txn: crate::LedgerTxnId,
        minor: i64,
        by: MilestoneActor,
        contract: ContractStatus,
        at: OffsetDateTime,
    ) -> Result<(), DomainError> {
        MilestoneAction::Refund.decide(self.status, by, contract)?;
        let held = self.held();
        if minor <= 0 || minor >= held {
            return Err(DomainError::invalid_field(
                "amount",
                format!("a part refund is more than zero and less than the {held} minor units held"),
            ));
        }
        self.part_refunds.push(PartRefund { txn, minor });
        self.updated_at = at;
        Ok(())
    }
}

/// A requested milestone, before it has an id.
#[derive(Debug, Clone, PartialEq)]
pub struct MilestonePlan {
    pub title: String,
    pub amount: Money,
    pub due_date: Option<Date>,
}

impl MilestonePlan {
    pub fn parse(title: &str, amount: Money, due_date: Option<Date>) -> Result<MilestonePlan, DomainError> {
        let mut f = FieldErrors::new();
        let title = f.check("title", text(title, 1, 200));
        let amount = f.check("amount", crate::market::positive(amount));
        f.into_result()?;
        match (title, amount) {
            (Some(title), Some(amount)) => Ok(MilestonePlan { title, amount, due_date }),
            _ => Err(DomainError::invalid("invalid milestone")),
        }
    }
}

/// Checks a split of `agreed` into milestones: 1..=[`MAX_MILESTONES`] parts, each positive,
/// all in the agreed currency, summing to exactly the agreed amount.
pub fn check_split(agreed: Money, plans: &[MilestonePlan]) -> Result<(), DomainError> {
    if plans.is_empty() || plans.len() > MAX_MILESTONES {
        return Err(DomainError::invalid_field(
            "milestones",
            format!("give between 1 and {MAX_MILESTONES} milestones"),
        ));
    }
    if let Some(i) = plans.iter().position(|p| p.amount.currency() != agreed.currency()) {
        return Err(DomainError::invalid_field(
            format!("milestones[{i}].amount").as_str(),
            format!("must be in the contract's currency, {}", agreed.currency()),
        ));
    }
    let sum: i64 = plans.iter().map(|p| p.amount.minor()).sum();
    if sum != agreed.minor() {
        return Err(DomainError::invalid_field(
            "milestones",
            format!("amounts sum to {sum} but the agreed amount is {} minor units", agreed.minor()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::MilestoneActor as A;
    use super::MilestoneStatus::*;
    use super::*;
    use crate::contract::ContractStatus as C;

    #[test]
    fn every_payment_transition_is_allowed_or_refused_as_specified() {
        use PaymentStatus::*;
        let allowed = [
            (Pending, Succeeded),
            (Pending, Failed),
            (Succeeded, PartiallyRefunded),
            (Succeeded, Refunded),
            (PartiallyRefunded, PartiallyRefunded),
            (PartiallyRefunded, Refunded),
        ];
        let mut checked = 0;
        for from in PaymentStatus::ALL {
            for to in PaymentStatus::ALL {
                let r = from.transition(to);
                if allowed.contains(&(from, to)) {
                    assert_eq!(r, Ok(to));
                } else {
                    assert_eq!(
                        r,
                        Err(DomainError::Transition { from: from.as_str(), to: to.as_str() }),
                        "{from:?}->{to:?}"
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 25);
    }

    #[test]
    fn every_payout_transition_is_allowed_or_refused_as_specified() {
        use PayoutStatus::*;
        let allowed = [
            (Requested, Pending),
            (Requested, Paid),
            (Requested, Failed),
            (Requested, Rejected),
            (Pending, Paid),
            (Pending, Failed),
        ];
        for from in PayoutStatus::ALL {
            for to in PayoutStatus::ALL {
                let r = from.transition(to);
                assert_eq!(r.is_ok(), allowed.contains(&(from, to)), "{from:?}->{to:?}");
            }
            assert_eq!(from.is_final(), !matches!(from, Requested | Pending));
        }
    }

    fn actions() -> Vec<MilestoneAction> {
        use MilestoneAction::*;
        vec![
            Fund,
            Remove,
            Submit,
            RequestChanges,
            Approve,
            AutoRelease,
            Complete,
            CancelRefund,
            Refund,
            Resolve(Resolution::Release),
            Resolve(Resolution::Refund),
            Resolve(Resolution::Split),
        ]
    }

    /// Every (action, from, actor) triple on a contract state that allows the action.
    #[test]
    fn every_milestone_transition_is_allowed_or_refused_as_specified() {
        use MilestoneAction::*;
        let allowed: &[(MilestoneAction, MilestoneStatus, MilestoneActor, MilestoneStatus)] = &[
            (Fund, Unfunded, A::Client, Funded),
            (Remove, Unfunded, A::Client, Removed),
            (Submit, Funded, A::Provider, Submitted),
            (Submit, ChangesRequested, A::Provider, Submitted),
            (RequestChanges, Submitted, A::Client, ChangesRequested),
            (Approve, Submitted, A::Client, Released),
            (AutoRelease, Submitted, A::System, Released),
            (Complete, Funded, A::System, Released),
            (Complete, Submitted, A::System, Released),
            (Complete, ChangesRequested, A::System, Released),
            (CancelRefund, Funded, A::System, Refunded),
            (CancelRefund, Submitted, A::System, Refunded),
            (CancelRefund, ChangesRequested, A::System, Refunded),
            (Refund, Funded, A::Provider, Refunded),
            (Refund, Submitted, A::Provider, Refunded),
            (Refund, ChangesRequested, A::Provider, Refunded),
            (Resolve(Resolution::Release), Funded, A::Admin, Released),
            (Resolve(Resolution::Release), Submitted, A::Admin, Released),
            (Resolve(Resolution::Release), ChangesRequested, A::Admin, Released),
            (Resolve(Resolution::Refund), Funded, A::Admin, Refunded),
            (Resolve(Resolution::Refund), Submitted, A::Admin, Refunded),
            (Resolve(Resolution::Refund), ChangesRequested, A::Admin, Refunded),
            (Resolve(Resolution::Split), Funded, A::Admin, Split),
            (Resolve(Resolution::Split), Submitted, A::Admin, Split),
            (Resolve(Resolution::Split), ChangesRequested, A::Admin, Split),
        ];
        // A contract state in which each action is allowed.
        let contract_for = |a: MilestoneAction| match a {
            Resolve(_) => C::Disputed,
            CancelRefund => C::Cancelled,
            Complete => C::Completed,
            _ => C::Active,
        };
        let mut checked = 0;
        for action in actions() {
            for from in MilestoneStatus::ALL {
                for by in [A::Client, A::Provider, A::Admin, A::System] {
                    let r = action.decide(from, by, contract_for(action));
                    match allowed.iter().find(|(a, f, b, _)| *a == action && *f == from && *b == by) {
                        Some((_, _, _, to)) => assert_eq!(r, Ok(*to), "{action:?} {from:?} {by:?}"),
                        None if by != action.rule().2 => {
                            assert!(matches!(r, Err(DomainError::Forbidden(_))), "{action:?} {from:?} {by:?}: {r:?}")
                        }
                        None => assert!(
                            matches!(r, Err(DomainError::Transition { .. })),
                            "{action:?} {from:?} {by:?}: {r:?}"
                        ),
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 12 * 8 * 4);
    }

    #[test]
    fn the_contract_state_gates_milestone_actions() {
        use MilestoneAction::*;
        let code = |r: Result<MilestoneStatus, DomainError>| r.map_err(|e| e.code());
        // A disputed contract freezes escrow: only the admin's resolution moves it.
        assert_eq!(code(Approve.decide(Submitted, A::Client, C::Disputed)), Err(crate::codes::CONTRACT_NOT_PAYABLE));
        assert_eq!(code(Submit.decide(Funded, A::Provider, C::Disputed)), Err(crate::codes::CONTRACT_NOT_PAYABLE));
        assert_eq!(
            code(AutoRelease.decide(Submitted, A::System, C::Disputed)),
            Err(crate::codes::CONTRACT_NOT_PAYABLE)
        );
        assert_eq!(code(Fund.decide(Unfunded, A::Client, C::Disputed)), Err(crate::codes::CONTRACT_NOT_PAYABLE));
        assert!(Resolve(Resolution::Split).decide(Funded, A::Admin, C::Disputed).is_ok());
        assert!(Resolve(Resolution::Release).decide(Funded, A::Admin, C::Active).is_err());
        // Funding a pending contract is how it starts; a cancelled or completed one takes no money.
        assert_eq!(Fund.decide(Unfunded, A::Client, C::Pending), Ok(Funded));
        for c in [C::Cancelled, C::Completed] {
            assert_eq!(code(Fund.decide(Unfunded, A::Client, c)), Err(crate::codes::CONTRACT_NOT_PAYABLE));
        }
        // Work is submitted on a live contract only.
        assert_eq!(code(Submit.decide(Funded, A::Provider, C::Pending)), Err(crate::codes::CONTRACT_NOT_PAYABLE));
        assert_eq!(code(CancelRefund.decide(Funded, A::System, C::Active)), Err(crate::codes::CONTRACT_NOT_PAYABLE));
        assert_eq!(code(Refund.decide(Funded, A::Provider, C::Disputed)), Err(crate::codes::CONTRACT_NOT_PAYABLE));
        assert_eq!(Refund.decide(Submitted, A::Provider, C::Delivered), Ok(Refunded));
        assert_eq!(code(Complete.decide(Funded, A::System, C::Delivered)), Err(crate::codes::CONTRACT_NOT_PAYABLE));
    }

    #[test]
    fn escrow_and_settled_states() {
        for s in MilestoneStatus::ALL {
            assert!(!(s.in_escrow() && s.is_settled()), "{s:?}");
            assert_eq!(s.in_escrow() || s.is_settled(), s != Unfunded, "{s:?}");
        }
    }

    fn plan(x: i64, c: &str) -> MilestonePlan {
        MilestonePlan::parse("part", Money::parse(x, c).expect("money"), None).expect("plan")
    }

    #[test]
    fn a_split_must_sum_to_the_agreed_amount_in_its_currency() {
        let agreed = Money::parse(10_000, "USD").expect("usd");
        assert!(check_split(agreed, &[plan(10_000, "USD")]).is_ok());
        assert!(check_split(agreed, &[plan(2_500, "USD"), plan(7_500, "USD")]).is_ok());
        assert!(check_split(agreed, &[plan(2_500, "USD"), plan(7_499, "USD")]).is_err());
        assert!(check_split(agreed, &[plan(2_500, "USD"), plan(7_500, "EUR")]).is_err());
        assert!(check_split(agreed, &[]).is_err());
        let many: Vec<MilestonePlan> = (0..51).map(|_| plan(1, "USD")).collect();
        assert!(check_split(Money::parse(51, "USD").expect("usd"), &many).is_err());
        assert!(MilestonePlan::parse(" ", agreed, None).is_err());
        assert!(MilestonePlan::parse("zero", Money::parse(0, "USD").expect("usd"), None).is_err());
    }

    #[test]
    fn refunds_never_exceed_the_payment() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let mut p = Payment {
            id: PaymentId::from_uuid(uuid::Uuid::now_v7()),
            payer_id: UserId::from_uuid(uuid::Uuid::now_v7()),
            payee_id: UserId::from_uuid(uuid::Uuid::now_v7()),
            purpose: PaymentFor::Booking { booking_id: BookingId::from_uuid(uuid::Uuid::now_v7()) },
            amount: Money::parse(1_000, "USD").expect("usd"),
            refunded: 0,
            status: PaymentStatus::Pending,
            card: None,
            gateway_ref: None,
            failure: None,
            refund_txns: Vec::new(),
            ledger_txn: None,
            created_at: at,
            updated_at: at,
        };
        assert!(p.refund(100, at).is_err(), "a pending payment has nothing to refund");
        p.status = PaymentStatus::Succeeded;
        p.refund(400, at).expect("part");
        assert_eq!((p.status, p.refunded), (PaymentStatus::PartiallyRefunded, 400));
        assert!(p.refund(601, at).is_err());
        assert!(p.refund(0, at).is_err());
        p.refund(600, at).expect("the rest");
        assert_eq!((p.status, p.refunded), (PaymentStatus::Refunded, 1_000));
        assert!(p.refund(1, at).is_err());
        let stranger = UserId::from_uuid(uuid::Uuid::now_v7());
        assert!(!p.visible_to(stranger, false) && p.visible_to(stranger, true) && p.visible_to(p.payer_id, false));
    }
    #[test]
    fn part_refunds_take_less_than_is_held_and_only_from_escrow() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let txn = || crate::LedgerTxnId::from_uuid(uuid::Uuid::now_v7());
        let contract = ContractId::from_uuid(uuid::Uuid::now_v7());
        let amount = Money::parse(1_000, "USD").expect("usd");
        let mut m = Milestone::unfunded(
            MilestoneId::from_uuid(uuid::Uuid::now_v7()),
            contract,
            1,
            "x".into(),
            amount,
            None,
            at,
        );
        let (p, active) = (MilestoneActor::Provider, ContractStatus::Active);
        assert_eq!(m.held(), 0, "nothing is held before funding");
        assert!(m.refund_part(txn(), 100, p, active, at).is_err(), "unfunded");
        m.status = Funded;
        assert_eq!(m.held(), 1_000);
        assert!(m.refund_part(txn(), 100, MilestoneActor::Client, active, at).is_err(), "the client does not refund");
        assert!(m.refund_part(txn(), 100, p, ContractStatus::Disputed, at).is_err(), "a dispute freezes escrow");
        assert!(m.refund_part(txn(), 0, p, active, at).is_err());
        assert!(m.refund_part(txn(), 1_000, p, active, at).is_err(), "all of it is a whole refund");
        m.refund_part(txn(), 300, p, active, at).expect("part");
        m.refund_part(txn(), 200, p, active, at).expect("part");
        assert_eq!((m.held(), m.refunded_total(), m.status), (500, 500, Funded));
        assert!(m.refund_part(txn(), 500, p, active, at).is_err());
        m.status = Released;
        m.released = 500;
        assert_eq!((m.held(), m.refunded_total()), (0, 500));
    }
}
