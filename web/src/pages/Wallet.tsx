// The wallet (docs/payments.md): balances per currency, the ledger, payout methods, payouts.
import { useEffect, useState } from "preact/hooks";
import { api, type Page } from "../api/http.ts";
import { onFrame } from "../api/realtime.ts";
import type { Balance, LedgerEntry, PaymentMethod, Payout, PayoutMethod } from "../api/types.ts";
import { Badge, Empty, ErrorBox, Field, Loading, Pager, Select, date, label, money, useLoad, useSubmit, useTitle } from "../ui/kit.tsx";
import { CardForm, cardLabel, minorToMoney, toMinor, useIdempotencyKey } from "./Payments.tsx";

const kinds: Record<string, string> = {
  fund: "Milestone funded (held for you)",
  release: "Released to you",
  refund: "Refunded to the client",
  payout_start: "Payout requested",
  payout_settle: "Payout paid",
  payout_return: "Payout returned",
  reversal: "Reversed",
};

function signed(amount: number, currency: string): string {
  if (amount === 0) return "—";
  return `${amount > 0 ? "+" : "−"}${money(minorToMoney(Math.abs(amount), currency))}`;
}

export function WalletPage() {
  useTitle("Wallet");
  const [currency, setCurrency] = useState("");
  // Everything the page shows first loads together, so it renders once (no layout shift).
  const [wallet, error, reload] = useLoad(async (signal) => {
    const [w, methods, payouts, cards] = await Promise.all([
      api<{ balances: Balance[] }>("/api/wallet", { signal }),
      api<Page<PayoutMethod>>("/api/payout-methods", { signal, query: { limit: 50 } }),
      api<Page<Payout>>("/api/payouts", { signal, query: { limit: 20 } }),
      api<Page<PaymentMethod>>("/api/payment-methods", { signal, query: { limit: 50 } }),
    ]);
    const cur = currency || w.balances[0]?.currency || "";
    const ledger = cur ? await api<Page<LedgerEntry>>("/api/wallet/ledger", { signal, query: { currency: cur, limit: 20 } }) : null;
    return { balances: w.balances, methods: methods.results, payouts, ledger, ledgerCurrency: cur, cards: cards.results, at: Date.now() };
  }, [currency]);
  const refresh = reload;
  useEffect(() => onFrame((f) => f.type === "notification" && f.notification.type === "payment" && refresh()), []);
  if (error) return <section class="page"><h1>Wallet</h1><ErrorBox error={error} /></section>;
  if (!wallet) return <section class="page" key="loading"><Loading what="Loading your wallet" /></section>;
  const cur = currency || wallet.balances[0]?.currency || "";
  return (
    <section class="page">
      <div class="head">
        <h1>Wallet</h1>
        <a href="/payments">Payments and receipts</a>
      </div>
      {wallet.balances.length === 0 ? (
        <Empty>Your wallet is empty. Money you earn from released milestones and completed bookings arrives here.</Empty>
      ) : (
        <ul class="balances" aria-label="Balances">
          {wallet.balances.map((b) => (
            <li key={b.currency} class="card" data-testid="balance">
              <h2 class="item-title">{b.currency}</h2>
              <dl class="facts">
                <dt>Available</dt>
                <dd data-testid={`available-${b.currency}`}>{money(b.available)}</dd>
                <dt>Held in escrow</dt>
                <dd data-testid={`held-${b.currency}`}>{money(b.held)}</dd>
              </dl>
            </li>
          ))}
        </ul>
      )}
      <div class="cols">
        <div class="card">
          <div class="head">
            <h2>Ledger</h2>
            {wallet.balances.length > 1 && <Select label="Currency" name="currency" value={cur} onValue={setCurrency} options={wallet.balances.map((b) => [b.currency, b.currency])} />}
          </div>
          {cur && wallet.ledger && wallet.ledgerCurrency === cur ? <Ledger currency={cur} first={wallet.ledger} key={`${cur}-${wallet.at}`} /> : cur ? <Loading what="Loading the ledger" /> : <Empty>No entries yet.</Empty>}
        </div>
        <div>
          <Cards cards={wallet.cards} onChanged={refresh} />
          <PayoutMethods methods={wallet.methods} onChanged={refresh} />
          <RequestPayout balances={wallet.balances} methods={wallet.methods} onDone={refresh} />
        </div>
      </div>
      <Payouts methods={wallet.methods} first={wallet.payouts} key={wallet.at} />
    </section>
  );
}

/** A cursor-paged list that starts from a page the caller loaded. */
function usePaged<T>(path: string, query: Record<string, string | number>, first: Page<T>) {
  const [items, setItems] = useState(first.results);
  const [next, setNext] = useState(first.next_cursor);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const more = () => {
    if (!next || busy) return;
    setBusy(true);
    setError(null);
    api<Page<T>>(path, { query: { ...query, cursor: next } }).then(
      (p) => {
        setItems((x) => [...x, ...p.results]);
        setNext(p.next_cursor);
        setBusy(false);
      },
      (e) => {
        setError(e);
        setBusy(false);
      },
    );
  };
  return { items, next, more, busy, error };
}

function Ledger({ currency, first }: { currency: string; first: Page<LedgerEntry> }) {
  const list = usePaged<LedgerEntry>("/api/wallet/ledger", { currency, limit: 20 }, first);
  return (
    <>
      <ErrorBox error={list.error} />
      {list.items.length === 0 ? (
        <Empty>No entries yet.</Empty>
      ) : (
        <div class="table-wrap" tabIndex={0} role="region" aria-label={`Wallet entries in ${currency}`}>
          <table class="table" data-testid="ledger">
            <caption class="sr-only">Wallet entries in {currency}, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Entry</th>
                <th scope="col" class="num">Available</th>
                <th scope="col" class="num">Held</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((e) => (
                <tr key={`${e.txn_id}-${e.at}-${e.available}-${e.held}`}>
                  <td class="entry">
                    {kinds[e.kind] ?? label(e.kind)}
                    <time dateTime={e.at}>{date(e.at, true)}</time>
                  </td>
                  <td class="num">{signed(e.available, currency)}</td>
                  <td class="num">{signed(e.held, currency)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager next={list.next} onMore={list.more} busy={list.busy} />
    </>
  );
}

/** Saved cards (for milestones and bookings): add or remove one. */
function Cards({ cards, onChanged }: { cards: PaymentMethod[]; onChanged: () => void }) {
  const [adding, setAdding] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const remove = async (id: string) => {
    setError(null);
    try {
      await api(`/api/payment-methods/${id}`, { method: "DELETE" });
      onChanged();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <div class="card">
      <h2>Saved cards</h2>
      <ErrorBox error={error} />
      {cards.length === 0 ? (
        <p class="muted">No saved card. You can add one here or when you pay.</p>
      ) : (
        <ul class="plain" aria-label="Saved cards">
          {cards.map((c) => (
            <li key={c.id} class="row-between" data-testid="card">
              <span>{cardLabel(c)}</span>
              <button type="button" class="secondary small" onClick={() => void remove(c.id)} aria-label={`Remove the card ending ${c.last4}`}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      {adding ? (
        <CardForm
          onSaved={() => {
            setAdding(false);
            onChanged();
          }}
          onCancel={() => setAdding(false)}
        />
      ) : (
        <button type="button" class="secondary" onClick={() => setAdding(true)}>
          Add a card
        </button>
      )}
    </div>
  );
}

function PayoutMethods({ methods, onChanged }: { methods: PayoutMethod[]; onChanged: () => void }) {
  const [adding, setAdding] = useState(false);
  const [f, setF] = useState({ holder: "", iban: "" });
  const [submit, busy, error] = useSubmit(async () => {
    await api<PayoutMethod>("/api/payout-methods", { method: "POST", body: { kind: "bank_account", holder_name: f.holder.trim(), iban: f.iban } });
    setF({ holder: "", iban: "" });
    setAdding(false);
    onChanged();
  });
  const [delError, setDelError] = useState<unknown>(null);
  const remove = async (id: string) => {
    setDelError(null);
    try {
      await api(`/api/payout-methods/${id}`, { method: "DELETE" });
      onChanged();
    } catch (e) {
      setDelError(e);
    }
  };
  return (
    <div class="card">
      <h2>Bank accounts for payouts</h2>
      <ErrorBox error={delError} />
      {methods.length === 0 ? (
        <p class="muted">No bank account yet.</p>
      ) : (
        <ul class="plain" aria-label="Bank accounts">
          {methods.map((m) => (
            <li key={m.id} class="row-between">
              <span>
                {m.holder_name} · {m.country} ···· {m.last4}
              </span>
              <button type="button" class="secondary small" onClick={() => void remove(m.id)} aria-label={`Remove the account ending ${m.last4}`}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      {adding ? (
        <form class="form" onSubmit={submit} noValidate aria-label="Add a bank account">
          <ErrorBox error={error} />
          <Field label="Account holder" name="holder_name" autocomplete="name" value={f.holder} onValue={(v) => setF({ ...f, holder: v })} error={error} />
          <Field label="IBAN" name="iban" value={f.iban} onValue={(v) => setF({ ...f, iban: v })} error={error} placeholder="DE89 3704 0044 0532 0130 00" />
          <div class="actions">
            <button type="submit" disabled={busy}>
              {busy ? "Saving…" : "Save bank account"}
            </button>
            <button type="button" class="secondary" onClick={() => setAdding(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <button type="button" class="secondary" onClick={() => setAdding(true)}>
          Add a bank account
        </button>
      )}
    </div>
  );
}

function RequestPayout({ balances, methods, onDone }: { balances: Balance[]; methods: PayoutMethod[]; onDone: () => void }) {
  const withMoney = balances.filter((b) => b.available.amount > 0);
  const [cur, setCur] = useState(withMoney[0]?.currency ?? "");
  const [amount, setAmount] = useState("");
  const [method, setMethod] = useState(methods[0]?.id ?? "");
  const [done, setDone] = useState<string | null>(null);
  const [key, resetKey] = useIdempotencyKey();
  useEffect(() => {
    if (!method && methods[0]) setMethod(methods[0].id);
  }, [methods]);
  useEffect(() => {
    if (!cur && withMoney[0]) setCur(withMoney[0].currency);
  }, [balances]);
  const [submit, busy, error] = useSubmit(async () => {
    setDone(null);
    try {
      const p = await api<Payout>("/api/payouts", {
        method: "POST",
        body: { amount: { amount: toMinor(amount, cur) ?? undefined, currency: cur }, payout_method_id: method || undefined },
        headers: { "idempotency-key": key() },
      });
      setDone(`Payout of ${money(p.amount)} requested (${label(p.status)}).`);
      setAmount("");
      onDone();
    } finally {
      resetKey();
    }
  });
  if (withMoney.length === 0 && !done) return null;
  return (
    <div class="card">
      <h2>Withdraw</h2>
      {done && (
        <p class="ok" role="status">
          {done}
        </p>
      )}
      {withMoney.length > 0 &&
        (methods.length === 0 ? (
          <p class="muted">Add a bank account to withdraw your available balance.</p>
        ) : (
          <form class="form" onSubmit={submit} noValidate aria-label="Request a payout">
            <ErrorBox error={error} />
            {withMoney.length > 1 && <Select label="Currency" name="payout_currency" value={cur} onValue={setCur} options={withMoney.map((b) => [b.currency, b.currency])} />}
            <Field
              label={`Amount (${cur})`}
              name="amount"
              inputMode="decimal"
              value={amount}
              onValue={setAmount}
              error={error}
              hint={`Available: ${money(withMoney.find((b) => b.currency === cur)?.available)}`}
            />
            <Select label="To" name="payout_method_id" value={method} onValue={setMethod} options={methods.map((m) => [m.id, `${m.holder_name} ···· ${m.last4}`])} />
            <button type="submit" disabled={busy}>
              {busy ? "Requesting…" : "Request payout"}
            </button>
          </form>
        ))}
    </div>
  );
}

function Payouts({ methods, first }: { methods: PayoutMethod[]; first: Page<Payout> }) {
  const list = usePaged<Payout>("/api/payouts", { limit: 20 }, first);
  const acct = (id: string) => methods.find((m) => m.id === id);
  return (
    <div class="card">
      <h2>Payouts</h2>
      <ErrorBox error={list.error} />
      {list.items.length === 0 ? (
        <p class="muted">No payouts yet.</p>
      ) : (
        <ul class="plain" aria-label="Payouts">
          {list.items.map((p) => (
            <li key={p.id} class="row-between" data-testid="payout">
              <span>
                {money(p.amount)} to {acct(p.payout_method_id) ? `···· ${acct(p.payout_method_id)!.last4}` : "a removed account"} · {date(p.created_at, true)}
                {p.failure ? ` · ${label(p.failure)}` : ""}
              </span>
              <Badge status={p.status} />
            </li>
          ))}
        </ul>
      )}
      <Pager next={list.next} onMore={list.more} busy={list.busy} />
    </div>
  );
}
