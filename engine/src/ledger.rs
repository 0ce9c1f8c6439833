//! The double-entry ledger. Every movement of money is one [`Transaction`] of [`Leg`]s over
//! [`Account`]s whose amounts sum to zero per currency, separately for the two columns an
//! account has: `posted` (settled money) and `pending` (money held for someone, as in a
//! two-phase transfer: funding escrow also holds the amount for the provider, and the
//! release voids that hold while it posts the payment). Amounts are signed minor units,
//! credits positive.
//!
//! Protected columns never go below zero: [`Balance::apply`] refuses a leg that would take
//! one there (`insufficient_funds`), and the storage layer applies legs one account at a
//! time under compare-and-set, so concurrent commands cannot both spend the same money.
//!
//! | account | key | protected | meaning |
//! |---|---|---|---|
//! | external | `external:USD` | no | money outside Agora: card charges come from it, refunds and payouts go to it |
//! | escrow | `escrow:<contract>:USD`, `escrow:booking:<booking>:USD` | posted | funded and not yet released or refunded (one account per contract, one per paid booking) |
//! | wallet | `wallet:<user>:USD` | posted, pending | a user's available money (posted) and money held for them in escrow (pending) |
//! | fees | `fees:2026-12-02:USD` | no | the platform's fees of one UTC day (only ever credited, so it needs no floor; one account a day keeps each day's total one small partition's sum) |
//! | payouts | `payouts:USD` | no (each debit follows its payout's own credit) | withdrawals sent to the gateway and not yet settled |

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::error::DomainError;
use crate::money::{Currency, Money};
use crate::{BookingId, ContractId, LedgerTxnId, UserId};

pub use crate::codes::INSUFFICIENT_FUNDS;

/// What an escrow account holds money for: a contract's milestones, or a paid booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EscrowOf {
    Contract(ContractId),
    Booking(BookingId),
}

impl From<ContractId> for EscrowOf {
    fn from(c: ContractId) -> Self {
        EscrowOf::Contract(c)
    }
}

impl From<BookingId> for EscrowOf {
    fn from(b: BookingId) -> Self {
        EscrowOf::Booking(b)
    }
}

impl EscrowOf {
    /// The id of the contract or booking.
    pub fn uuid(self) -> uuid::Uuid {
        match self {
            EscrowOf::Contract(c) => c.as_uuid(),
            EscrowOf::Booking(b) => b.as_uuid(),
        }
    }
}

/// A ledger account (always of one currency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Account {
    External(CurrencyKey),
    Escrow(EscrowOf, CurrencyKey),
    Wallet(UserId, CurrencyKey),
    /// The fees of one UTC day.
    Fees(Date, CurrencyKey),
    Payouts(CurrencyKey),
}

/// A currency as an ordered key (accounts sort by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CurrencyKey([u8; 3]);

impl From<Currency> for CurrencyKey {
    fn from(c: Currency) -> Self {
        let b = c.as_str().as_bytes();
        CurrencyKey([b[0], b[1], b[2]])
    }
}

impl CurrencyKey {
    pub fn currency(self) -> Currency {
        // Only built from a parsed Currency.
        Currency::parse(std::str::from_utf8(&self.0).unwrap_or("")).unwrap_or(Currency::USD)
    }
}

/// Which columns of an account may not go negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor {
    pub posted: bool,
    pub pending: bool,
}

impl Account {
    pub fn external(c: Currency) -> Account {
        Account::External(c.into())
    }
    pub fn escrow(of: impl Into<EscrowOf>, c: Currency) -> Account {
        Account::Escrow(of.into(), c.into())
    }
    pub fn wallet(user: UserId, c: Currency) -> Account {
        Account::Wallet(user, c.into())
    }
    /// The fee account of `day` (the UTC date of the release).
    pub fn fees(day: Date, c: Currency) -> Account {
        Account::Fees(day, c.into())
    }
    pub fn payouts(c: Currency) -> Account {
        Account::Payouts(c.into())
    }

    pub fn currency(&self) -> Currency {
        match *self {
            Account::External(c)
            | Account::Escrow(_, c)
            | Account::Wallet(_, c)
            | Account::Fees(_, c)
            | Account::Payouts(c) => c.currency(),
        }
    }

    pub fn floor(&self) -> Floor {
        match self {
            // Fees are only ever credited, and a payout's settle or return only ever follows
            // its own start: no floor, and so no head that every release or payout would
            // contend on.
            Account::External(_) | Account::Fees(..) | Account::Payouts(_) => Floor { posted: false, pending: false },
            Account::Escrow(..) => Floor { posted: true, pending: false },
            Account::Wallet(..) => Floor { posted: true, pending: true },
        }
    }

    /// The storage key, e.g. `wallet:<uuid>:USD`.
    pub fn key(&self) -> String {
        self.to_string()
    }

    pub fn parse(key: &str) -> Result<Account, DomainError> {
        let bad = || DomainError::invalid("not a ledger account key");
        let parts: Vec<&str> = key.split(':').collect();
        let cur = |s: &str| Currency::parse(s).map(CurrencyKey::from).map_err(|_| bad());
        match parts.as_slice() {
            ["external", c] => Ok(Account::External(cur(c)?)),
            ["fees", d, c] => Ok(Account::Fees(crate::market::parse_date(d).map_err(|_| bad())?, cur(c)?)),
            ["payouts", c] => Ok(Account::Payouts(cur(c)?)),
            ["escrow", id, c] => Ok(Account::Escrow(ContractId::parse(id).map_err(|_| bad())?.into(), cur(c)?)),
            ["escrow", "booking", id, c] => {
                Ok(Account::Escrow(BookingId::parse(id).map_err(|_| bad())?.into(), cur(c)?))
            }
            ["wallet", id, c] => Ok(Account::Wallet(UserId::parse(id).map_err(|_| bad())?, cur(c)?)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.currency();
        match self {
            Account::External(_) => write!(f, "external:{c}"),
            Account::Escrow(EscrowOf::Contract(id), _) => write!(f, "escrow:{id}:{c}"),
            Account::Escrow(EscrowOf::Booking(id), _) => write!(f, "escrow:booking:{id}:{c}"),
            Account::Wallet(id, _) => write!(f, "wallet:{id}:{c}"),
            Account::Fees(d, _) => write!(f, "fees:{}:{c}", fee_day(*d)),
            Account::Payouts(_) => write!(f, "payouts:{c}"),
        }
    }
}

impl Serialize for Account {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.key())
    }
}

impl<'de> Deserialize<'de> for Account {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Account::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One account's part of a transaction: signed minor units, credits positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    pub account: Account,
    #[serde(default)]
    pub posted: i64,
    #[serde(default)]
    pub pending: i64,
}

/// Why money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnKind {
    /// A milestone or booking charge captured into escrow.
    Fund,
    /// Escrow released to the provider, minus the platform fee.
    Release,
    /// Escrow refunded to the client's card.
    Refund,
    /// A withdrawal handed to the gateway.
    PayoutStart,
    /// The gateway settled a withdrawal.
    PayoutSettle,
    /// The gateway returned a withdrawal: back to the wallet.
    PayoutReturn,
    /// An applied transaction undone because a later leg was refused.
    Reversal,
}

impl TxnKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TxnKind::Fund => "fund",
            TxnKind::Release => "release",
            TxnKind::Refund => "refund",
            TxnKind::PayoutStart => "payout_start",
            TxnKind::PayoutSettle => "payout_settle",
            TxnKind::PayoutReturn => "payout_return",
            TxnKind::Reversal => "reversal",
        }
    }
}

/// A balanced set of legs; built only by [`Transaction::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: LedgerTxnId,
    pub kind: TxnKind,
    /// Legs in the order they are applied: those that take money from a protected column
    /// first, so a refusal happens before anything was credited where it can be spent.
    pub legs: Vec<Leg>,
    /// What the movement is about (`milestone:<id>`, `payout:<id>`, ...), for the entry list.
    pub reference: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl Transaction {
    /// Merges legs per account, drops empty ones, checks every currency balances in both
    /// columns and every amount stays within [`Money::MAX_MINOR`].
    pub fn new(
        id: LedgerTxnId,
        kind: TxnKind,
        legs: impl IntoIterator<Item = Leg>,
        reference: impl Into<String>,
        at: OffsetDateTime,
    ) -> Result<Transaction, DomainError> {
        let mut merged: BTreeMap<Account, (i64, i64)> = BTreeMap::new();
        for leg in legs {
            if leg.posted.abs() > Money::MAX_MINOR || leg.pending.abs() > Money::MAX_MINOR {
                return Err(DomainError::invalid("ledger amount out of range"));
            }
            let e = merged.entry(leg.account).or_default();
            e.0 += leg.posted;
            e.1 += leg.pending;
        }
        let mut sums: BTreeMap<CurrencyKey, (i64, i64)> = BTreeMap::new();
        for (account, (posted, pending)) in &merged {
            let s = sums.entry(account.currency().into()).or_default();
            s.0 += posted;
            s.1 += pending;
        }
        if let Some((c, _)) = sums.iter().find(|(_, s)| **s != (0, 0)) {
            return Err(DomainError::invalid(format!("ledger transaction does not balance in {}", c.currency())));
        }
        let mut legs: Vec<Leg> = merged
            .into_iter()
            .filter(|(_, (posted, pending))| *posted != 0 || *pending != 0)
            .map(|(account, (posted, pending))| Leg { account, posted, pending })
            .collect();
        if legs.is_empty() {
            return Err(DomainError::invalid("ledger transaction moves nothing"));
        }
        // Debits of protected columns first; otherwise by account key (stable, deterministic).
        legs.sort_by_key(|l| (!l.takes_protected(), l.account));
        Ok(Transaction { id, kind, legs, reference: reference.into(), at })
    }

    /// The transaction that undoes `legs` (already applied ones), in reverse order.
    pub fn reversal_of(&self, applied: &[Leg]) -> Vec<Leg> {
        applied.iter().rev().map(|l| Leg { account: l.account, posted: -l.posted, pending: -l.pending }).collect()
    }
}

impl Leg {
    /// Whether this leg takes money out of a column that must not go negative.
    pub fn takes_protected(&self) -> bool {
        let f = self.account.floor();
        (f.posted && self.posted < 0) || (f.pending && self.pending < 0)
    }
}

/// An account's balance: the sum of its entries, per column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Balance {
    pub posted: i64,
    pub pending: i64,
}

impl Balance {
    /// The balance after `leg`, or `insufficient_funds` if a protected column would go negative.
    pub fn apply(&self, leg: &Leg) -> Result<Balance, DomainError> {
        let next = Balance {
            posted: self.posted.checked_add(leg.posted).ok_or_else(|| DomainError::invalid("ledger overflow"))?,
            pending: self.pending.checked_add(leg.pending).ok_or_else(|| DomainError::invalid("ledger overflow"))?,
        };
        let f = leg.account.floor();
        if (f.posted && next.posted < 0 && leg.posted < 0) || (f.pending && next.pending < 0 && leg.pending < 0) {
            return Err(DomainError::conflict(INSUFFICIENT_FUNDS, "not enough money in the account"));
        }
        Ok(next)
    }
}

/// The platform fee on `amount` at `bps` basis points (1/100 of a percent), rounded half up
/// to the minor unit, never more than the amount.
pub fn fee(amount: i64, bps: u32) -> i64 {
    let bps = i128::from(bps.min(10_000));
    let f = (i128::from(amount.max(0)) * bps + 5_000) / 10_000;
    i64::try_from(f).unwrap_or(amount).min(amount)
}

// ---------------------------------------------------------------------------------------
// The movements Agora makes.

/// A captured charge of `amount` into the escrow of a contract or booking, held for `provider`.
pub fn fund(escrow: impl Into<EscrowOf>, provider: UserId, amount: Money) -> Vec<Leg> {
    let (c, x, escrow) = (amount.currency(), amount.minor(), escrow.into());
    vec![
        Leg { account: Account::external(c), posted: -x, pending: 0 },
        Leg { account: Account::escrow(escrow, c), posted: x, pending: -x },
        Leg { account: Account::wallet(provider, c), posted: 0, pending: x },
    ]
}

/// `amount` of an escrow released to `provider` on `day` (UTC), the fee to that day's fee
/// account.
pub fn release(escrow: impl Into<EscrowOf>, provider: UserId, amount: Money, fee_bps: u32, day: Date) -> Vec<Leg> {
    let (c, x, escrow) = (amount.currency(), amount.minor(), escrow.into());
    let f = fee(x, fee_bps);
    vec![
        Leg { account: Account::escrow(escrow, c), posted: -x, pending: x },
        Leg { account: Account::wallet(provider, c), posted: x - f, pending: -x },
        Leg { account: Account::fees(day, c), posted: f, pending: 0 },
    ]
}

/// A date as `YYYY-MM-DD` (fee account keys).
pub fn fee_day(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// `amount` of an escrow refunded to the client's card.
pub fn refund(escrow: impl Into<EscrowOf>, provider: UserId, amount: Money) -> Vec<Leg> {
    let (c, x, escrow) = (amount.currency(), amount.minor(), escrow.into());
    vec![
        Leg { account: Account::escrow(escrow, c), posted: -x, pending: x },
        Leg { account: Account::wallet(provider, c), posted: 0, pending: -x },
        Leg { account: Account::external(c), posted: x, pending: 0 },
    ]
}

/// A withdrawal of `amount` from `user`'s wallet handed to the gateway.
pub fn payout_start(user: UserId, amount: Money) -> Vec<Leg> {
    let (c, x) = (amount.currency(), amount.minor());
    vec![
        Leg { account: Account::wallet(user, c), posted: -x, pending: 0 },
        Leg { account: Account::payouts(c), posted: x, pending: 0 },
    ]
}

/// The gateway paid the withdrawal out.
pub fn payout_settle(amount: Money) -> Vec<Leg> {
    let (c, x) = (amount.currency(), amount.minor());
    vec![
        Leg { account: Account::payouts(c), posted: -x, pending: 0 },
        Leg { account: Account::external(c), posted: x, pending: 0 },
    ]
}

/// The gateway returned the withdrawal.
pub fn payout_return(user: UserId, amount: Money) -> Vec<Leg> {
    let (c, x) = (amount.currency(), amount.minor());
    vec![
        Leg { account: Account::payouts(c), posted: -x, pending: 0 },
        Leg { account: Account::wallet(user, c), posted: x, pending: 0 },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use uuid::Uuid;

    fn at() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH
    }
    fn txn(kind: TxnKind, legs: Vec<Leg>) -> Result<Transaction, DomainError> {
        Transaction::new(LedgerTxnId::from_uuid(Uuid::now_v7()), kind, legs, "test", at())
    }
    fn day() -> Date {
        at().date()
    }
    fn usd(x: i64) -> Money {
        Money::parse(x, "USD").expect("usd")
    }

    #[test]
    fn account_keys_round_trip() {
        let u = UserId::from_uuid(Uuid::now_v7());
        let k = ContractId::from_uuid(Uuid::now_v7());
        let jpy = Currency::parse("JPY").expect("jpy");
        for a in [
            Account::external(jpy),
            Account::escrow(k, Currency::USD),
            Account::escrow(BookingId::from_uuid(Uuid::now_v7()), jpy),
            Account::wallet(u, jpy),
            Account::fees(day(), Currency::USD),
            Account::payouts(jpy),
        ] {
            assert_eq!(Account::parse(&a.key()), Ok(a), "{a}");
            let json = serde_json::to_string(&a).expect("json");
            assert_eq!(serde_json::from_str::<Account>(&json).expect("back"), a);
        }
        assert_eq!(Account::fees(day(), Currency::USD).key(), "fees:1970-01-01:USD");
        assert!(Account::escrow(BookingId::from_uuid(Uuid::nil()), Currency::USD).key().starts_with("escrow:booking:"));
        for bad in [
            "",
            "wallet",
            "wallet:x:USD",
            "escrow:booking:x:USD",
            "escrow:booking:USD",
            "fees:USD",
            "fees:1970-01-01:usd",
            "fees:1970-13-01:USD",
            "bank:USD",
        ] {
            assert!(Account::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unbalanced_or_empty_transactions_are_refused() {
        let c = Currency::USD;
        let e = Currency::parse("EUR").expect("eur");
        let a = Leg { account: Account::external(c), posted: -5, pending: 0 };
        let b = Leg { account: Account::fees(day(), c), posted: 4, pending: 0 };
        assert!(txn(TxnKind::Fund, vec![a, b]).is_err());
        // Balanced in total but across two currencies: refused.
        let b_eur = Leg { account: Account::fees(day(), e), posted: 5, pending: 0 };
        assert!(txn(TxnKind::Fund, vec![a, b_eur]).is_err());
        // Pending must balance on its own.
        let p = Leg { account: Account::fees(day(), c), posted: 5, pending: 1 };
        assert!(txn(TxnKind::Fund, vec![a, p]).is_err());
        assert!(txn(TxnKind::Fund, vec![]).is_err());
        // Legs that cancel out leave nothing to move.
        let back = Leg { account: Account::external(c), posted: 5, pending: 0 };
        assert!(txn(TxnKind::Fund, vec![a, back]).is_err());
        let big = Leg { account: Account::external(c), posted: Money::MAX_MINOR + 1, pending: 0 };
        assert!(txn(TxnKind::Fund, vec![big]).is_err());
    }

    #[test]
    fn protected_debits_come_first() {
        let k = ContractId::from_uuid(Uuid::now_v7());
        let p = UserId::from_uuid(Uuid::now_v7());
        let t = txn(TxnKind::Release, release(k, p, usd(1000), 1000, day())).expect("balanced");
        assert!(t.legs[0].takes_protected());
        let first_plain = t.legs.iter().position(|l| !l.takes_protected()).expect("a credit");
        assert!(t.legs[first_plain..].iter().all(|l| !l.takes_protected()));
    }

    #[test]
    fn protected_columns_never_go_negative() {
        let u = UserId::from_uuid(Uuid::now_v7());
        let w = Account::wallet(u, Currency::USD);
        let b = Balance { posted: 100, pending: 0 };
        assert_eq!(b.apply(&Leg { account: w, posted: -100, pending: 0 }), Ok(Balance { posted: 0, pending: 0 }));
        let refused = b.apply(&Leg { account: w, posted: -101, pending: 0 });
        assert_eq!(refused.map_err(|e| e.code()), Err(INSUFFICIENT_FUNDS));
        assert!(b.apply(&Leg { account: w, posted: 0, pending: -1 }).is_err());
        // The outside world may go negative: money came in from it.
        let x = Account::external(Currency::USD);
        assert!(Balance::default().apply(&Leg { account: x, posted: -1_000, pending: 0 }).is_ok());
        // A credit to an account already below zero (never happens for protected ones) is not refused.
        assert!(Balance { posted: -5, pending: 0 }.apply(&Leg { account: w, posted: 1, pending: 0 }).is_ok());
    }

    #[test]
    fn fees_round_half_up_and_never_exceed_the_amount() {
        assert_eq!(fee(10_000, 1_000), 1_000);
        assert_eq!(fee(5, 1_000), 1); // 0.5 rounds up
        assert_eq!(fee(4, 1_000), 0);
        assert_eq!(fee(1_999, 250), 50); // 49.975
        assert_eq!(fee(100, 20_000), 100);
        assert_eq!(fee(0, 1_000), 0);
        assert_eq!(fee(Money::MAX_MINOR, 10_000), Money::MAX_MINOR);
    }

    #[test]
    fn the_movements_balance_and_settle_the_holds() {
        let k = ContractId::from_uuid(Uuid::now_v7());
        let p = UserId::from_uuid(Uuid::now_v7());
        let mut balances: HashMap<Account, Balance> = HashMap::new();
        let mut apply = |legs: Vec<Leg>| {
            let t = txn(TxnKind::Fund, legs).expect("balanced");
            for l in &t.legs {
                let b = balances.entry(l.account).or_default();
                *b = b.apply(l).expect("enough money");
            }
        };
        apply(fund(k, p, usd(10_000)));
        apply(fund(k, p, usd(5_000)));
        apply(release(k, p, usd(10_000), 1_000, day()));
        apply(refund(k, p, usd(5_000)));
        apply(payout_start(p, usd(9_000)));
        apply(payout_settle(usd(9_000)));
        let b = |a: Account| balances.get(&a).copied().unwrap_or_default();
        assert_eq!(b(Account::escrow(k, Currency::USD)), Balance::default());
        assert_eq!(b(Account::wallet(p, Currency::USD)), Balance::default());
        assert_eq!(b(Account::fees(day(), Currency::USD)), Balance { posted: 1_000, pending: 0 });
        assert_eq!(b(Account::payouts(Currency::USD)), Balance::default());
        assert_eq!(b(Account::external(Currency::USD)), Balance { posted: -1_000, pending: 0 });
    }

    proptest! {
        /// Random movements over several users, contracts and currencies: every transaction
        /// balances, refused ones change nothing, no protected column is ever negative, and
        /// the sum over all accounts stays zero per currency.
        #[test]
        fn random_movements_keep_the_books(ops in proptest::collection::vec((0u8..6, 0usize..3, 0usize..3, 0usize..3, 1i64..50_000), 1..400)) {
            let users: Vec<UserId> = (0..3).map(|_| UserId::from_uuid(Uuid::now_v7())).collect();
            let contracts: Vec<ContractId> = (0..3).map(|_| ContractId::from_uuid(Uuid::now_v7())).collect();
            let currencies = ["USD", "JPY", "XOF"];
            let mut balances: HashMap<Account, Balance> = HashMap::new();
            for (op, u, k, c, x) in ops {
                let m = Money::parse(x, currencies[c]).expect("money");
                let (user, contract) = (users[u], contracts[k]);
                // Each contract has one provider: users[k].
                let provider = users[k];
                let legs = match op {
                    0 => fund(contract, provider, m),
                    1 => release(contract, provider, m, 1_000, day()),
                    2 => refund(contract, provider, m),
                    3 => payout_start(user, m),
                    4 => payout_settle(m),
                    _ => payout_return(user, m),
                };
                let t = txn(TxnKind::Fund, legs).expect("the movements always balance");
                let mut next = balances.clone();
                let mut ok = true;
                for l in &t.legs {
                    let b = next.entry(l.account).or_default();
                    match b.apply(l) {
                        Ok(nb) => *b = nb,
                        Err(e) => { prop_assert_eq!(e.code(), INSUFFICIENT_FUNDS); ok = false; break; }
                    }
                }
                if ok { balances = next; }
                for (a, b) in &balances {
                    let f = a.floor();
                    prop_assert!(!(f.posted && b.posted < 0), "{} posted {}", a, b.posted);
                    prop_assert!(!(f.pending && b.pending < 0), "{} pending {}", a, b.pending);
                }
            }
            let mut sums: HashMap<CurrencyKey, (i64, i64)> = HashMap::new();
            for (a, b) in &balances {
                let s = sums.entry(a.currency().into()).or_default();
                s.0 += b.posted;
                s.1 += b.pending;
            }
            prop_assert!(sums.values().all(|s| *s == (0, 0)), "{:?}", sums);
        }
    }
}
