//! The double-entry ledger's storage (rules in `agora_engine::ledger`).
//!
//! Posting a transaction:
//! 1. its record is inserted if absent (status `applying`) and listed as open; the id makes
//!    posting idempotent: a second post of the same transaction finds the record and
//!    finishes or reports it;
//! 2. each leg is applied to its account, in the transaction's order (protected debits
//!    first). An account with a floor has a head row (cached balance); its entry and its new
//!    head are written by one compare-and-set batch on the head's version, so two commands
//!    can never spend the same money, and an entry that exists is always counted in the
//!    head. A leg whose entry exists is skipped (a resumed post applies nothing twice).
//!    Accounts without a floor (`external`, `fees`, `payouts`) keep entries only;
//! 3. if a leg would take a protected column below zero, the record becomes `rejected`
//!    first, then the legs already applied (all of them protected debits, by the order) are
//!    reversed with `:r` entries; otherwise it becomes `posted`. Either way it then leaves
//!    the open list.
//!
//! A crash anywhere leaves the record open; [`Ledger::resume`] (the sweeper) runs the same
//! steps again and ends in the state a run without the crash would have reached. Resume only
//! transactions older than a grace period: a resume racing the live post of the same
//! transaction could see a different balance than it did.

use std::collections::{BTreeMap, HashMap};

use agora_engine::ledger::{Account, Balance, CurrencyKey, Leg, Transaction, TxnKind};
use agora_engine::LedgerTxnId;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::backend::{Backend, BatchOp, CasOutcome, Expect, Order, MAX_SCAN_LIMIT};
use crate::codec::{decode, encode};
use crate::error::StoreError;
use crate::retry::CAS_RETRIES;
use crate::store::{get_versioned, Versioned};
use crate::tables::Table;

const HEAD: &str = "";
const OPEN: &str = "all";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnStatus {
    Applying,
    Posted,
    /// A protected balance was too low; whatever had been applied was reversed.
    Rejected,
}

/// A stored transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnRecord {
    pub txn: Transaction,
    pub status: TxnStatus,
}

/// The outcome of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posting {
    Posted,
    /// Not enough money in a protected account: nothing moved.
    Rejected,
}

/// An account's cached balance; equal to the sum of its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Head {
    pub balance: Balance,
    pub entries: u64,
}

/// One entry of an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub txn_id: LedgerTxnId,
    pub kind: TxnKind,
    pub reference: String,
    pub posted: i64,
    pub pending: i64,
    /// The balance after this entry (accounts with a head; `None` for entries-only ones).
    pub balance_after: Option<Balance>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// What `ledger verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub accounts: u64,
    pub entries: u64,
    pub transactions: u64,
    /// Transactions still being applied (their legs may be partly in).
    pub open: u64,
    /// Every difference found; empty when the books are right.
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

pub struct Ledger<'a> {
    pub(crate) b: &'a dyn Backend,
}

fn entry_ck(txn: LedgerTxnId, reversal: bool) -> String {
    if reversal {
        format!("e:{txn}:r")
    } else {
        format!("e:{txn}")
    }
}

/// The owner partition an account is listed under (`ledger_accounts_by_owner`).
fn owner(a: &Account) -> Option<String> {
    match a {
        Account::Wallet(u, _) => Some(u.to_string()),
        Account::Escrow(of, _) => Some(of.uuid().to_string()),
        Account::Fees(d, _) => Some(fee_owner(*d)),
        _ => None,
    }
}

/// The partition listing a day's fee accounts (one per currency that earned fees).
fn fee_owner(day: Date) -> String {
    format!("fees:{}", agora_engine::ledger::fee_day(day))
}

/// The platform's fees of one UTC day in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeDay {
    pub day: Date,
    pub currency: agora_engine::Currency,
    /// Minor units.
    pub amount: i64,
    /// Releases that earned a fee.
    pub releases: u64,
}

fn has_head(a: &Account) -> bool {
    let f = a.floor();
    f.posted || f.pending
}

/// One hex digit of an FNV-1a hash of the key: spreads the account index over 16 partitions.
fn bucket(key: &str) -> String {
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{:x}", h & 0xf)
}

enum Applied {
    Done,
    Insufficient,
}

impl Ledger<'_> {
    /// Posts `txn` (idempotent by its id). `Duplicate` if the id was used for other legs.
    pub async fn post(&self, txn: &Transaction) -> Result<Posting, StoreError> {
        let record = TxnRecord { txn: txn.clone(), status: TxnStatus::Applying };
        let id = txn.id.to_string();
        self.b.put(Table::LedgerOpen, OPEN, &id, Vec::new(), None).await?;
        let row = encode(Table::LedgerTxns, &record)?;
        let current = match self.b.cas(Table::LedgerTxns, &id, "", Expect::Absent, row, None).await? {
            CasOutcome::Applied { version } => Versioned { value: record, version },
            CasOutcome::Conflict { .. } => {
                let Some(found) = self.transaction(txn.id).await? else { return Err(StoreError::Conflict) };
                if found.value.txn.legs != txn.legs || found.value.txn.kind != txn.kind {
                    if found.value.status != TxnStatus::Applying {
                        self.b.delete(Table::LedgerOpen, OPEN, &id).await?;
                    }
                    return Err(StoreError::Duplicate("ledger transaction id"));
                }
                found
            }
        };
        self.finish(current).await
    }

    /// Finishes an open transaction (after a crash); `None` if it is unknown.
    pub async fn resume(&self, id: LedgerTxnId) -> Result<Option<Posting>, StoreError> {
        match self.transaction(id).await? {
            Some(record) => self.finish(record).await.map(Some),
            None => {
                self.b.delete(Table::LedgerOpen, OPEN, &id.to_string()).await?;
                Ok(None)
            }
        }
    }

    async fn finish(&self, mut record: Versioned<TxnRecord>) -> Result<Posting, StoreError> {
        let id = record.value.txn.id;
        loop {
            let txn = &record.value.txn;
            let status = match record.value.status {
                TxnStatus::Posted => return self.close(id, Posting::Posted).await,
                TxnStatus::Rejected => {
                    self.undo(txn).await?;
                    return self.close(id, Posting::Rejected).await;
                }
                TxnStatus::Applying => {
                    let mut status = TxnStatus::Posted;
                    for leg in &txn.legs {
                        if let Applied::Insufficient = self.apply(txn, leg, false).await? {
                            status = TxnStatus::Rejected;
                            break;
                        }
                    }
                    status
                }
            };
            // The status is decided once: a refusal is recorded before anything is undone, so
            // a resumed run undoes the same legs instead of trying them again.
            let next = TxnRecord { txn: txn.clone(), status };
            let row = encode(Table::LedgerTxns, &next)?;
            record = match self
                .b
                .cas(Table::LedgerTxns, &id.to_string(), "", Expect::Version(record.version), row, None)
                .await?
            {
                CasOutcome::Applied { version } => {
                    let outcome = if status == TxnStatus::Posted { "posted" } else { "rejected" };
                    metrics::counter!("agora_ledger_transactions_total", "kind" => next.txn.kind.as_str(), "outcome" => outcome)
                        .increment(1);
                    Versioned { value: next, version }
                }
                CasOutcome::Conflict { .. } => self.transaction(id).await?.ok_or(StoreError::Conflict)?,
            };
        }
    }

    /// Reverses every leg of a rejected transaction that was applied, last first. Before a
    /// refusal only protected debits can have been applied, so the reversals are credits.
    async fn undo(&self, txn: &Transaction) -> Result<(), StoreError> {
        for leg in txn.legs.iter().rev() {
            let applied =
                self.b.get(Table::LedgerAccounts, &leg.account.key(), &entry_ck(txn.id, false)).await?.is_some();
            if !applied {
                continue;
            }
            let back = Leg { account: leg.account, posted: -leg.posted, pending: -leg.pending };
            if let Applied::Insufficient = self.apply(txn, &back, true).await? {
                return Err(StoreError::Corrupt {
                    table: Table::LedgerAccounts.name(),
                    detail: format!("reversal of {} refused on {}", txn.id, leg.account),
                });
            }
        }
        Ok(())
    }

    async fn close(&self, id: LedgerTxnId, outcome: Posting) -> Result<Posting, StoreError> {
        self.b.delete(Table::LedgerOpen, OPEN, &id.to_string()).await?;
        Ok(outcome)
    }

    /// Applies one leg (or its reversal) to its account, once.
    async fn apply(&self, txn: &Transaction, leg: &Leg, reversal: bool) -> Result<Applied, StoreError> {
        let key = leg.account.key();
        let ck = entry_ck(txn.id, reversal);
        let kind = if reversal { TxnKind::Reversal } else { txn.kind };
        let entry = |balance_after| Entry {
            txn_id: txn.id,
            kind,
            reference: txn.reference.clone(),
            posted: leg.posted,
            pending: leg.pending,
            balance_after,
            at: txn.at,
        };
        if !has_head(&leg.account) {
            self.list_account(&leg.account, &key).await?;
            let row = encode(Table::LedgerAccounts, &entry(None))?;
            self.b.put(Table::LedgerAccounts, &key, &ck, row, None).await?;
            return Ok(Applied::Done);
        }
        for _ in 0..CAS_RETRIES {
            let head = get_versioned::<Head>(self.b, Table::LedgerAccounts, &key, HEAD).await?;
            if self.b.get(Table::LedgerAccounts, &key, &ck).await?.is_some() {
                // Written together with a head that counts it: already applied.
                return Ok(Applied::Done);
            }
            let (current, expect) = match &head {
                Some(h) => (h.value, Expect::Version(h.version)),
                None => {
                    self.list_account(&leg.account, &key).await?;
                    (Head::default(), Expect::Absent)
                }
            };
            let balance = match current.balance.apply(leg) {
                Ok(b) => b,
                Err(_) => return Ok(Applied::Insufficient),
            };
            let next = Head { balance, entries: current.entries + 1 };
            let put = BatchOp::Put {
                ck: ck.clone(),
                value: encode(Table::LedgerAccounts, &entry(Some(balance)))?,
                ttl: None,
            };
            let row = encode(Table::LedgerAccounts, &next)?;
            if self.b.cas_batch(Table::LedgerAccounts, &key, HEAD, expect, row, vec![put]).await?.applied() {
                return Ok(Applied::Done);
            }
        }
        metrics::counter!("agora_cas_exhausted_total").increment(1);
        Err(StoreError::Conflict)
    }

    /// Lists a new account (idempotent), before its first entry.
    async fn list_account(&self, account: &Account, key: &str) -> Result<(), StoreError> {
        self.b.put(Table::LedgerAccountIndex, &bucket(key), key, Vec::new(), None).await?;
        if let Some(owner) = owner(account) {
            self.b.put(Table::LedgerAccountsByOwner, &owner, key, Vec::new(), None).await?;
        }
        Ok(())
    }

    /// The wallets of a user (or the escrow accounts of a contract): one per currency used.
    pub async fn accounts_of(&self, owner: uuid::Uuid) -> Result<Vec<Account>, StoreError> {
        let page =
            self.b.scan(Table::LedgerAccountsByOwner, &owner.to_string(), Order::Asc, MAX_SCAN_LIMIT, None).await?;
        Ok(page.rows.iter().filter_map(|r| Account::parse(&r.ck).ok()).collect())
    }

    pub async fn transaction(&self, id: LedgerTxnId) -> Result<Option<Versioned<TxnRecord>>, StoreError> {
        get_versioned(self.b, Table::LedgerTxns, &id.to_string(), "").await
    }

    /// The account's balance (cached in its head; zero for an account never used). Accounts
    /// without a floor have no head: their balance is the sum of their entries (`verify`).
    pub async fn balance(&self, account: &Account) -> Result<Balance, StoreError> {
        Ok(get_versioned::<Head>(self.b, Table::LedgerAccounts, &account.key(), HEAD)
            .await?
            .map(|h| h.value.balance)
            .unwrap_or_default())
    }

    /// An account's entries, newest first, one page at a time.
    pub async fn entries(
        &self,
        account: &Account,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Entry>, Option<String>), StoreError> {
        let page = self.b.scan(Table::LedgerAccounts, &account.key(), Order::Desc, limit, cursor).await?;
        let entries = page
            .rows
            .iter()
            .filter(|r| r.ck != HEAD)
            .map(|r| decode(Table::LedgerAccounts, &r.value))
            .collect::<Result<Vec<Entry>, _>>()?;
        Ok((entries, page.next_cursor))
    }

    /// The fees earned on each day from `from` to `to` (inclusive, UTC), per currency, oldest
    /// first: per day, one index read and one sum over each of its fee accounts.
    pub async fn fee_days(&self, from: Date, to: Date) -> Result<Vec<FeeDay>, StoreError> {
        let mut out = Vec::new();
        let mut day = from;
        while day <= to {
            let page =
                self.b.scan(Table::LedgerAccountsByOwner, &fee_owner(day), Order::Asc, MAX_SCAN_LIMIT, None).await?;
            for account in page.rows.iter().filter_map(|r| Account::parse(&r.ck).ok()) {
                let (mut amount, mut releases) = (0i64, 0u64);
                let mut cursor: Option<String> = None;
                loop {
                    let page = self
                        .b
                        .scan(Table::LedgerAccounts, &account.key(), Order::Asc, MAX_SCAN_LIMIT, cursor.as_deref())
                        .await?;
                    for row in page.rows.iter().filter(|r| r.ck != HEAD) {
                        let e: Entry = decode(Table::LedgerAccounts, &row.value)?;
                        amount += e.posted;
                        releases += u64::from(e.kind != TxnKind::Reversal);
                    }
                    match page.next_cursor {
                        Some(c) => cursor = Some(c),
                        None => break,
                    }
                }
                out.push(FeeDay { day, currency: account.currency(), amount, releases });
            }
            match day.next_day() {
                Some(d) => day = d,
                None => break,
            }
        }
        Ok(out)
    }

    /// Transactions still being applied, oldest first.
    pub async fn open(&self, limit: usize) -> Result<Vec<LedgerTxnId>, StoreError> {
        let page = self.b.scan(Table::LedgerOpen, OPEN, Order::Asc, limit, None).await?;
        Ok(page.rows.iter().filter_map(|r| LedgerTxnId::parse(&r.ck).ok()).collect())
    }

    /// Recomputes every balance from the entries and checks: each head equals the sum of its
    /// account's entries; no protected column is negative; every transaction's entries
    /// balance per currency (a reversal cancels its own legs) and match a stored record
    /// that is posted (or rejected, for reversed ones); the whole ledger sums to zero per
    /// currency. Reads every account page by page.
    pub async fn verify(&self) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        let open: Vec<LedgerTxnId> = self.open(MAX_SCAN_LIMIT).await?;
        report.open = open.len() as u64;
        let mut per_txn: HashMap<LedgerTxnId, BTreeMap<CurrencyKey, (i64, i64)>> = HashMap::new();
        let mut total: BTreeMap<CurrencyKey, (i64, i64)> = BTreeMap::new();
        for b in 0..16u8 {
            let pk = format!("{b:x}");
            let mut cursor: Option<String> = None;
            loop {
                let page =
                    self.b.scan(Table::LedgerAccountIndex, &pk, Order::Asc, MAX_SCAN_LIMIT, cursor.as_deref()).await?;
                for row in &page.rows {
                    let account = match Account::parse(&row.ck) {
                        Ok(a) => a,
                        Err(_) => {
                            report.problems.push(format!("unparsable account key {:?}", row.ck));
                            continue;
                        }
                    };
                    report.accounts += 1;
                    self.verify_account(&account, &mut report, &mut per_txn, &mut total).await?;
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        report.transactions = per_txn.len() as u64;
        for (id, sums) in &per_txn {
            if open.contains(id) {
                continue;
            }
            if let Some((c, s)) = sums.iter().find(|(_, s)| **s != (0, 0)) {
                report.problems.push(format!("transaction {id} does not balance in {}: {s:?}", c.currency()));
            }
            match self.transaction(*id).await? {
                Some(r) if r.value.status == TxnStatus::Applying => {
                    report.problems.push(format!("transaction {id} is applying but not open"))
                }
                Some(_) => {}
                None => report.problems.push(format!("entries of unknown transaction {id}")),
            }
        }
        if open.is_empty() {
            for (c, s) in &total {
                if *s != (0, 0) {
                    report.problems.push(format!("the ledger does not sum to zero in {}: {s:?}", c.currency()));
                }
            }
        }
        Ok(report)
    }

    async fn verify_account(
        &self,
        account: &Account,
        report: &mut VerifyReport,
        per_txn: &mut HashMap<LedgerTxnId, BTreeMap<CurrencyKey, (i64, i64)>>,
        total: &mut BTreeMap<CurrencyKey, (i64, i64)>,
    ) -> Result<(), StoreError> {
        let key = account.key();
        let mut sum = Balance::default();
        let mut count = 0u64;
        let mut head: Option<Head> = None;
        let mut cursor: Option<String> = None;
        loop {
            let page = self.b.scan(Table::LedgerAccounts, &key, Order::Asc, MAX_SCAN_LIMIT, cursor.as_deref()).await?;
            for row in &page.rows {
                if row.ck == HEAD {
                    head = Some(decode(Table::LedgerAccounts, &row.value)?);
                    continue;
                }
                let e: Entry = decode(Table::LedgerAccounts, &row.value)?;
                count += 1;
                sum.posted += e.posted;
                sum.pending += e.pending;
                let c = CurrencyKey::from(account.currency());
                let t = per_txn.entry(e.txn_id).or_default().entry(c).or_default();
                t.0 += e.posted;
                t.1 += e.pending;
                let g = total.entry(c).or_default();
                g.0 += e.posted;
                g.1 += e.pending;
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        report.entries += count;
        if has_head(account) {
            let h = head.unwrap_or_default();
            if h.balance != sum || h.entries != count {
                report.problems.push(format!(
                    "{key}: head says {:?} over {} entries, entries sum to {sum:?} over {count}",
                    h.balance, h.entries
                ));
            }
        }
        let f = account.floor();
        if (f.posted && sum.posted < 0) || (f.pending && sum.pending < 0) {
            report.problems.push(format!("{key}: protected balance below zero: {sum:?}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_engine::ledger::{fund, payout_start, release, Account};
    use agora_engine::{ContractId, Currency, Money, UserId};
    use std::sync::Arc;

    fn store() -> (crate::Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = crate::Store::open_sqlite(dir.path().join("agora.db"), 2).expect("open");
        (s, dir)
    }
    fn txn(kind: TxnKind, legs: Vec<Leg>) -> Transaction {
        Transaction::new(LedgerTxnId::from_uuid(uuid::Uuid::now_v7()), kind, legs, "test", OffsetDateTime::now_utc())
            .expect("balanced")
    }
    /// The day fees are booked on in these tests (fixed: no midnight between two readings).
    fn today() -> Date {
        Date::from_calendar_date(2026, time::Month::June, 1).expect("a date")
    }
    fn usd(x: i64) -> Money {
        Money::parse(x, "USD").expect("usd")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn posting_moves_balances_once_and_verify_agrees() {
        let (s, _d) = store();
        let l = s.ledger();
        let (k, p) = (ContractId::from_uuid(uuid::Uuid::now_v7()), UserId::from_uuid(uuid::Uuid::now_v7()));
        let f = txn(TxnKind::Fund, fund(k, p, usd(10_000)));
        assert_eq!(l.post(&f).await.expect("post"), Posting::Posted);
        assert_eq!(l.post(&f).await.expect("again"), Posting::Posted, "a second post is a no-op");
        let r = txn(TxnKind::Release, release(k, p, usd(10_000), 1_000, today()));
        assert_eq!(l.post(&r).await.expect("release"), Posting::Posted);
        let w = Account::wallet(p, Currency::USD);
        assert_eq!(l.balance(&w).await.expect("balance"), Balance { posted: 9_000, pending: 0 });
        assert_eq!(l.balance(&Account::escrow(k, Currency::USD)).await.expect("escrow"), Balance::default());
        // Fees keep entries only (no head to contend on), one account a day.
        let fees = Account::fees(today(), Currency::USD);
        let (entries, _) = l.entries(&fees, 10, None).await.expect("fees");
        assert_eq!(entries.iter().map(|e| e.posted).sum::<i64>(), 1_000);
        assert_eq!(l.balance(&fees).await.expect("fees"), Balance::default());
        let yesterday = today().previous_day().expect("a day before");
        let days = l.fee_days(yesterday, today()).await.expect("fee days");
        assert_eq!(days, vec![FeeDay { day: today(), currency: Currency::USD, amount: 1_000, releases: 1 }]);
        let (entries, _) = l.entries(&w, 10, None).await.expect("entries");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].kind, TxnKind::Release, "newest first");
        // The same id with other legs is refused.
        let mut other = txn(TxnKind::Fund, fund(k, p, usd(5)));
        other.id = f.id;
        assert!(matches!(l.post(&other).await, Err(StoreError::Duplicate(_))));
        assert_eq!(l.accounts_of(p.as_uuid()).await.expect("accounts"), vec![w]);
        assert_eq!(l.accounts_of(k.as_uuid()).await.expect("accounts"), vec![Account::escrow(k, Currency::USD)]);
        let report = l.verify().await.expect("verify");
        assert!(report.is_clean(), "{:?}", report.problems);
        assert_eq!((report.transactions, report.open), (2, 0));
        assert_eq!(report.accounts, 4, "external, escrow, wallet, fees");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_refused_leg_undoes_the_transaction() {
        let (s, _d) = store();
        let l = s.ledger();
        let (k, p) = (ContractId::from_uuid(uuid::Uuid::now_v7()), UserId::from_uuid(uuid::Uuid::now_v7()));
        l.post(&txn(TxnKind::Fund, fund(k, p, usd(1_000)))).await.expect("fund");
        // Releasing more than the escrow holds is refused, and nothing moves.
        let too_much = txn(TxnKind::Release, release(k, p, usd(1_500), 0, today()));
        assert_eq!(l.post(&too_much).await.expect("post"), Posting::Rejected);
        assert_eq!(l.post(&too_much).await.expect("again"), Posting::Rejected, "the outcome is kept");
        assert_eq!(l.balance(&Account::escrow(k, Currency::USD)).await.expect("escrow").posted, 1_000);
        // A transaction whose second protected debit fails reverses the first one.
        let two = txn(
            TxnKind::PayoutStart,
            vec![
                Leg { account: Account::escrow(k, Currency::USD), posted: -500, pending: 0 },
                Leg { account: Account::wallet(p, Currency::USD), posted: -1, pending: 0 },
                Leg { account: Account::external(Currency::USD), posted: 501, pending: 0 },
            ],
        );
        assert_eq!(l.post(&two).await.expect("post"), Posting::Rejected);
        assert_eq!(l.balance(&Account::escrow(k, Currency::USD)).await.expect("escrow").posted, 1_000);
        let report = l.verify().await.expect("verify");
        assert!(report.is_clean(), "{:?}", report.problems);
    }

    /// Many concurrent withdrawals from one wallet: the ones that fit are posted, the rest
    /// refused, and the wallet never goes below zero.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_debits_never_overdraw() {
        let (s, _d) = store();
        let (k, p) = (ContractId::from_uuid(uuid::Uuid::now_v7()), UserId::from_uuid(uuid::Uuid::now_v7()));
        s.ledger().post(&txn(TxnKind::Fund, fund(k, p, usd(1_000)))).await.expect("fund");
        s.ledger().post(&txn(TxnKind::Release, release(k, p, usd(1_000), 0, today()))).await.expect("release");
        let s = Arc::new(s);
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(
                    async move { s.ledger().post(&txn(TxnKind::PayoutStart, payout_start(p, usd(300)))).await },
                )
            })
            .collect();
        let mut posted = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(Posting::Posted) => posted += 1,
                Ok(Posting::Rejected) | Err(StoreError::Conflict) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(posted, 3, "1000 holds three withdrawals of 300");
        // Conflicts exhausted under contention leave open transactions; resuming them ends the same way.
        for id in s.ledger().open(100).await.expect("open") {
            assert_eq!(s.ledger().resume(id).await.expect("resume"), Some(Posting::Rejected));
        }
        assert_eq!(s.ledger().balance(&Account::wallet(p, Currency::USD)).await.expect("w").posted, 100);
        let report = s.ledger().verify().await.expect("verify");
        assert!(report.is_clean(), "{:?}", report.problems);
    }

    /// A crash between the record and the legs (or between two legs) leaves an open
    /// transaction; resuming it posts each leg once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn resuming_an_interrupted_post_applies_each_leg_once() {
        let (s, _d) = store();
        let l = s.ledger();
        let (k, p) = (ContractId::from_uuid(uuid::Uuid::now_v7()), UserId::from_uuid(uuid::Uuid::now_v7()));
        let f = txn(TxnKind::Fund, fund(k, p, usd(700)));
        // What a crash after the record and the first leg leaves:
        l.b.put(Table::LedgerOpen, OPEN, &f.id.to_string(), Vec::new(), None).await.expect("open");
        let rec = TxnRecord { txn: f.clone(), status: TxnStatus::Applying };
        l.b.cas(
            Table::LedgerTxns,
            &f.id.to_string(),
            "",
            Expect::Absent,
            encode(Table::LedgerTxns, &rec).expect("enc"),
            None,
        )
        .await
        .expect("record");
        assert!(matches!(l.apply(&f, &f.legs[0], false).await.expect("leg"), Applied::Done));
        let before = l.verify().await.expect("verify");
        assert_eq!(before.open, 1);
        assert_eq!(l.open(10).await.expect("open"), vec![f.id]);
        assert_eq!(l.resume(f.id).await.expect("resume"), Some(Posting::Posted));
        assert!(l.open(10).await.expect("open").is_empty());
        assert_eq!(
            l.balance(&Account::escrow(k, Currency::USD)).await.expect("escrow"),
            Balance { posted: 700, pending: -700 }
        );
        assert_eq!(l.balance(&Account::wallet(p, Currency::USD)).await.expect("wallet").pending, 700);
        let report = l.verify().await.expect("verify");
        assert!(report.is_clean(), "{:?}", report.problems);
        assert_eq!(l.resume(LedgerTxnId::from_uuid(uuid::Uuid::now_v7())).await.expect("unknown"), None);
    }

    /// Thousands of random movements (several users, contracts and currencies, 16 at a time
    /// concurrently) through the stored ledger: every refused one leaves nothing, no
    /// protected balance is ever negative, and `verify` finds the books clean.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn random_concurrent_movements_keep_the_stored_books() {
        use agora_engine::ledger::{payout_return, payout_settle, refund};
        let (s, _d) = store();
        let s = Arc::new(s);
        let users: Vec<UserId> = (0..4).map(|_| UserId::from_uuid(uuid::Uuid::now_v7())).collect();
        let contracts: Vec<ContractId> = (0..4).map(|_| ContractId::from_uuid(uuid::Uuid::now_v7())).collect();
        let currencies = ["USD", "JPY", "XOF"];
        // A small deterministic generator (xorshift), seeded per run.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id());
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let (mut posted, mut rejected) = (0, 0);
        for _ in 0..150 {
            let batch: Vec<Transaction> = (0..16)
                .map(|_| {
                    let k = next(4) as usize;
                    let (contract, provider, user) = (contracts[k], users[k], users[next(4) as usize]);
                    let m = Money::parse(1 + next(20_000) as i64, currencies[next(3) as usize]).expect("money");
                    let (kind, legs) = match next(6) {
                        0 | 1 => (TxnKind::Fund, fund(contract, provider, m)),
                        2 => (TxnKind::Release, release(contract, provider, m, 1_000, today())),
                        3 => (TxnKind::Refund, refund(contract, provider, m)),
                        4 => (TxnKind::PayoutStart, payout_start(user, m)),
                        _ if next(2) == 0 => (TxnKind::PayoutSettle, payout_settle(m)),
                        _ => (TxnKind::PayoutReturn, payout_return(user, m)),
                    };
                    txn(kind, legs)
                })
                .collect();
            let tasks: Vec<_> = batch
                .into_iter()
                .map(|t| {
                    let s = s.clone();
                    tokio::spawn(async move { s.ledger().post(&t).await })
                })
                .collect();
            for t in tasks {
                match t.await.expect("task") {
                    Ok(Posting::Posted) => posted += 1,
                    Ok(Posting::Rejected) => rejected += 1,
                    // Contention ran out of retries: the sweeper's resume finishes it below.
                    Err(StoreError::Conflict) => {}
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
        for id in s.ledger().open(1000).await.expect("open") {
            s.ledger().resume(id).await.expect("resume");
        }
        assert!(posted > 500 && rejected > 100, "a mix of both: {posted} posted, {rejected} refused");
        let report = s.ledger().verify().await.expect("verify");
        assert!(report.is_clean(), "{:?}", report.problems);
        assert_eq!(report.open, 0);
        assert!(report.transactions >= posted, "{report:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn verify_finds_a_tampered_head() {
        let (s, _d) = store();
        let l = s.ledger();
        let (k, p) = (ContractId::from_uuid(uuid::Uuid::now_v7()), UserId::from_uuid(uuid::Uuid::now_v7()));
        l.post(&txn(TxnKind::Fund, fund(k, p, usd(700)))).await.expect("fund");
        let key = Account::wallet(p, Currency::USD).key();
        let bad = Head { balance: Balance { posted: 5, pending: 700 }, entries: 1 };
        l.b.put(Table::LedgerAccounts, &key, HEAD, encode(Table::LedgerAccounts, &bad).expect("enc"), None)
            .await
            .expect("put");
        let report = l.verify().await.expect("verify");
        assert!(!report.is_clean());
        assert!(report.problems.iter().any(|p| p.contains(&key)), "{:?}", report.problems);
    }
}
