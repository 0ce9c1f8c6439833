// Payments (docs/payments.md): saved cards, a contract's milestones (split, fund, submit,
// approve, request changes, remove), the payments list with receipts.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Page } from "../api/http.ts";
import { onFrame } from "../api/realtime.ts";
import type { Contract, FundResult, Milestone, MilestoneSet, Money, Payment, PaymentMethod, Receipt } from "../api/types.ts";
import { preloadUsers } from "../api/users.ts";
import { useStore } from "../store.ts";
import { session } from "../api/session.ts";
import { UserName } from "../ui/Names.tsx";
import { Badge, Empty, ErrorBox, Field, Loading, Pager, Select, date, label, money, useList, useLoad, useSubmit, useTitle } from "../ui/kit.tsx";

/** Minor units per major unit of a currency (100 for USD, 1 for JPY). */
export function minorFactor(currency: string): number {
  try {
    return 10 ** (new Intl.NumberFormat("en-US", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2);
  } catch {
    return 100;
  }
}

/** "12.50" in `currency` as minor units, or null when it is not a number. */
export function toMinor(v: string, currency: string): number | null {
  const n = Number(v.trim().replace(",", "."));
  return v.trim() && Number.isFinite(n) ? Math.round(n * minorFactor(currency)) : null;
}

export function minorToMoney(amount: number, currency: string): Money {
  return { amount, currency };
}

/** One key per attempt of a money-moving request; kept across retries of the same attempt. */
export function useIdempotencyKey(): [() => string, () => void] {
  const key = useRef<string | null>(null);
  return [
    () => (key.current ??= `web-${crypto.randomUUID()}`),
    () => {
      key.current = null;
    },
  ];
}

export function cardLabel(c: PaymentMethod): string {
  return `${label(c.brand)} ending ${c.last4} (expires ${String(c.exp_month).padStart(2, "0")}/${c.exp_year})`;
}

/** Adds a card: the number goes to the server once, to be tokenized by the gateway. */
export function CardForm({ onSaved, onCancel }: { onSaved: (c: PaymentMethod) => void; onCancel?: () => void }) {
  const [f, setF] = useState({ number: "", exp: "", cvc: "" });
  const [submit, busy, error] = useSubmit(async () => {
    const m = f.exp.trim().match(/^(\d{1,2})\s*\/\s*(\d{2}|\d{4})$/);
    const card = await api<PaymentMethod>("/api/payment-methods", {
      method: "POST",
      body: {
        kind: "card",
        number: f.number,
        exp_month: m ? Number(m[1]) : undefined,
        exp_year: m ? (m[2].length === 2 ? 2000 + Number(m[2]) : Number(m[2])) : undefined,
        cvc: f.cvc,
      },
    });
    setF({ number: "", exp: "", cvc: "" });
    onSaved(card);
  });
  return (
    <form class="form card-form" onSubmit={submit} noValidate aria-label="Add a card">
      <ErrorBox error={error} />
      <Field label="Card number" name="number" inputMode="numeric" autocomplete="cc-number" value={f.number} onValue={(v) => setF({ ...f, number: v })} error={error} />
      <div class="row2">
        <Field label="Expiry (MM/YY)" name="exp_month" autocomplete="cc-exp" placeholder="12/30" value={f.exp} onValue={(v) => setF({ ...f, exp: v })} error={error} />
        <Field label="CVC" name="cvc" inputMode="numeric" autocomplete="cc-csc" value={f.cvc} onValue={(v) => setF({ ...f, cvc: v })} error={error} />
      </div>
      {fieldYear(error)}
      <div class="actions">
        <button type="submit" disabled={busy}>
          {busy ? "Saving…" : "Save card"}
        </button>
        {onCancel && (
          <button type="button" class="secondary" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

function fieldYear(error: unknown) {
  const e = error as { fields?: Record<string, string[]> } | null;
  const y = e?.fields?.exp_year;
  return y ? <p class="field-error">Expiry year: {y.join(", ")}</p> : null;
}

/** The payment step: choose one of the saved cards or add one, then pay. */
export function PayStep({ amount, action, onPay, onCancel, busy, error }: { amount: Money; action: string; onPay: (cardId: string) => void; onCancel: () => void; busy: boolean; error: unknown }) {
  const [cards, loadError, , setCards] = useLoad((signal) => api<Page<PaymentMethod>>("/api/payment-methods", { signal, query: { limit: 50 } }), []);
  const [chosen, setChosen] = useState("");
  const [adding, setAdding] = useState(false);
  useEffect(() => {
    if (cards && !chosen && cards.results[0]) setChosen(cards.results[0].id);
    if (cards && cards.results.length === 0) setAdding(true);
  }, [cards]);
  return (
    <div class="pay-step" role="group" aria-label="Payment">
      <ErrorBox error={loadError} />
      {!cards ? (
        <Loading what="Loading your cards" />
      ) : (
        <>
          {cards.results.length > 0 && (
            <Select label="Pay with" name="payment_method_id" value={chosen} onValue={setChosen} options={cards.results.map((c) => [c.id, cardLabel(c)])} />
          )}
          {adding ? (
            <>
              <h4>Add a card</h4>
              <CardForm
                onSaved={(c) => {
                  // The new card joins the options in the same render that selects it.
                  setCards({ ...cards, results: [c, ...cards.results.filter((x) => x.id !== c.id)] });
                  setChosen(c.id);
                  setAdding(false);
                }}
                onCancel={cards.results.length > 0 ? () => setAdding(false) : undefined}
              />
            </>
          ) : (
            <p>
              <button type="button" class="link" onClick={() => setAdding(true)}>
                Add another card
              </button>
            </p>
          )}
        </>
      )}
      <ErrorBox error={error} />
      <div class="actions">
        <button type="button" disabled={busy || !chosen || adding} onClick={() => onPay(chosen)}>
          {busy ? "Paying…" : `${action}: ${money(amount)}`}
        </button>
        <button type="button" class="secondary" onClick={onCancel}>
          Back
        </button>
      </div>
    </div>
  );
}

type Step = { kind: "fund"; m: Milestone | null } | { kind: "changes"; m: Milestone } | { kind: "remove"; m: Milestone } | { kind: "approve"; m: Milestone } | { kind: "refund"; m: Milestone } | null;

/** A contract's milestones with the actions of the caller's side. */
export function Milestones({ contract, set, me, admin, onChanged }: { contract: Contract; set: MilestoneSet; me: string; admin: boolean; onChanged: () => void }) {
  const client = contract.client_id === me;
  const provider = contract.provider_id === me;
  const [step, setStep] = useState<Step>(null);
  const [note, setNote] = useState<string | null>(null);
  const [splitting, setSplitting] = useState(false);
  const [key, resetKey] = useIdempotencyKey();
  // A new step replaces the last step's message.
  useEffect(() => {
    if (step !== null || splitting) setNote(null);
  }, [step, splitting]);
  const live = set.results.filter((m) => m.status !== "removed");
  const nextUnfunded = live.find((m) => m.status === "unfunded") ?? null;
  const anyFunded = set.results.some((m) => m.payment_id || m.status !== "unfunded");
  const payable = ["pending", "active", "delivered"].includes(contract.status);
  const working = ["active", "delivered"].includes(contract.status);

  // A charge whose outcome comes later (202, payment pending): its payment is polled until it ends.
  const [waiting, setWaiting] = useState<{ payment: string; title: string } | null>(null);
  const [asyncError, setAsyncError] = useState<string | null>(null);
  useEffect(() => {
    if (!waiting) return;
    let tries = 0;
    const t = setInterval(() => {
      tries++;
      api<Payment>(`/api/payments/${waiting.payment}`).then(
        (p) => {
          if (p.status === "pending" && tries < 60) return;
          clearInterval(t);
          setWaiting(null);
          if (p.status === "failed") {
            setNote(null);
            setAsyncError(`The payment for “${waiting.title}” failed${p.failure ? ` (${label(p.failure).toLowerCase()})` : ""}. Try another card.`);
          } else if (p.status !== "pending") setNote(`Paid ${money(p.amount)}: “${waiting.title}” is funded and held in escrow.`);
          onChanged();
        },
        () => {},
      );
    }, 1500);
    return () => clearInterval(t);
  }, [waiting?.payment]);
  const [funding, setFunding] = useState(false);
  const [fundError, setFundError] = useState<unknown>(null);
  const pay = async (cardId: string) => {
    if (!step || step.kind !== "fund" || funding) return;
    setFundError(null);
    setAsyncError(null);
    setFunding(true);
    const path = step.m ? `/api/contracts/${contract.id}/milestones/${step.m.id}/fund` : `/api/contracts/${contract.id}/fund`;
    try {
      const r = await api<FundResult>(path, { method: "POST", body: { payment_method_id: cardId }, headers: { "idempotency-key": key() } });
      resetKey();
      setStep(null);
      if (r.payment.status === "pending") {
        setNote(`Payment of ${money(r.payment.amount)} is pending: the card issuer is still answering. This page updates when it does.`);
        setWaiting({ payment: r.payment.id, title: r.milestone.title });
      } else setNote(`Paid ${money(r.payment.amount)}: “${r.milestone.title}” is funded and held in escrow.`);
      onChanged();
    } catch (e) {
      // A declined card is final for this attempt: the next one gets a new key.
      resetKey();
      setFundError(e);
    } finally {
      setFunding(false);
    }
  };

  const [act, acting, actError] = useSubmit(async () => {
    if (!step || step.kind === "fund" || step.kind === "refund") return;
    const path = step.kind === "changes" ? "request-changes" : step.kind;
    await api<Milestone>(`/api/contracts/${contract.id}/milestones/${step.m.id}/${path}`, { method: "POST", headers: { "idempotency-key": key() } });
    resetKey();
    setNote(step.kind === "approve" ? `Released “${step.m.title}” to the provider.` : step.kind === "changes" ? `Asked for changes to “${step.m.title}”.` : `Removed “${step.m.title}”.`);
    setStep(null);
    onChanged();
  });
  const [submitting, setSubmitting] = useState(false);
  const [submitErr, setSubmitErr] = useState<unknown>(null);
  const submit = async (m: Milestone) => {
    setSubmitErr(null);
    setSubmitting(true);
    try {
      await api<Milestone>(`/api/contracts/${contract.id}/milestones/${m.id}/submit`, { method: "POST" });
      setNote(`Submitted “${m.title}” for the client's approval.`);
      onChanged();
    } catch (e) {
      setSubmitErr(e);
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <div class="card" data-testid="milestones">
      <div class="head">
        <h2>Milestones</h2>
        <p class="meta">
          In escrow: <strong data-testid="escrow">{money(set.in_escrow)}</strong>
        </p>
      </div>
      {note && (
        <p class="ok" role="status">
          {note}
        </p>
      )}
      <ErrorBox error={submitErr} />
      {asyncError && (
        <div class="error" role="alert">
          <p>{asyncError}</p>
        </div>
      )}
      {splitting ? (
        <SplitForm
          contract={contract}
          set={set}
          onDone={(saved) => {
            setSplitting(false);
            if (saved) {
              setNote("Milestones saved.");
              onChanged();
            }
          }}
        />
      ) : live.length === 0 ? (
        <Empty>No milestones left.</Empty>
      ) : (
        <ol class="milestones">
          {live.map((m) => (
            <li key={m.id} data-testid="milestone">
              <div class="ms-head">
                <strong>{m.title}</strong> <Badge status={m.status} />
              </div>
              <p class="meta">
                {money(m.amount)}
                {m.due_date ? ` · due ${date(m.due_date)}` : ""}
                {m.held ? ` · ${money(minorToMoney(m.held, m.amount.currency))} held` : ""}
                {m.released ? ` · ${money(minorToMoney(m.released, m.amount.currency))} released` : ""}
                {m.refunded ? ` · ${money(minorToMoney(m.refunded, m.amount.currency))} refunded` : ""}
                {m.submitted_at && m.status === "submitted" ? ` · submitted ${date(m.submitted_at, true)}` : ""}
              </p>
              {step?.kind === "refund" && step.m.id === m.id ? (
                <RefundStep
                  m={m}
                  onDone={(text) => {
                    setStep(null);
                    if (text) {
                      setNote(text);
                      onChanged();
                    }
                  }}
                />
              ) : step && step.kind !== "fund" && step.m.id === m.id ? (
                <div class="confirm">
                  <p>
                    {step.kind === "approve"
                      ? `Release ${money(m.amount)} to the provider? This cannot be undone.`
                      : step.kind === "changes"
                        ? "Send the work back to the provider for changes?"
                        : "Remove this unfunded milestone from the contract?"}
                  </p>
                  <ErrorBox error={actError} />
                  <div class="actions">
                    <button type="button" class={step.kind === "remove" ? "danger" : ""} disabled={acting} onClick={() => act()}>
                      {acting ? "Saving…" : step.kind === "approve" ? "Confirm: approve and release" : step.kind === "changes" ? "Confirm: request changes" : "Confirm: remove"}
                    </button>
                    <button type="button" class="secondary" onClick={() => setStep(null)}>
                      Back
                    </button>
                  </div>
                </div>
              ) : step?.kind === "fund" && step.m?.id === m.id ? (
                <PayStep amount={m.amount} action="Fund milestone" busy={funding} error={fundError} onPay={(id) => void pay(id)} onCancel={() => setStep(null)} />
              ) : (
                <div class="actions">
                  {client && payable && m.status === "unfunded" && (
                    <button type="button" onClick={() => (resetKey(), setFundError(null), setStep({ kind: "fund", m }))}>
                      Fund “{m.title}”
                    </button>
                  )}
                  {client && m.status === "unfunded" && contract.status !== "completed" && contract.status !== "cancelled" && live.length > 1 && (
                    <button type="button" class="secondary" onClick={() => (resetKey(), setStep({ kind: "remove", m }))}>
                      Remove
                    </button>
                  )}
                  {provider && payable && m.payment_id && m.held > 0 && ["funded", "submitted", "changes_requested"].includes(m.status) && (
                    <button type="button" class="secondary" onClick={() => setStep({ kind: "refund", m })}>
                      Refund “{m.title}”
                    </button>
                  )}
                  {provider && working && (m.status === "funded" || m.status === "changes_requested") && (
                    <button type="button" disabled={submitting} onClick={() => void submit(m)}>
                      Submit “{m.title}” for approval
                    </button>
                  )}
                  {client && working && m.status === "submitted" && (
                    <>
                      <button type="button" onClick={() => (resetKey(), setStep({ kind: "approve", m }))}>
                        Approve “{m.title}”
                      </button>
                      <button type="button" class="secondary" onClick={() => (resetKey(), setStep({ kind: "changes", m }))}>
                        Request changes
                      </button>
                    </>
                  )}
                </div>
              )}
            </li>
          ))}
        </ol>
      )}
      {client && !splitting && (
        <div class="actions">
          {payable && nextUnfunded && step === null && live.filter((m) => m.status === "unfunded").length > 1 && (
            <button type="button" class="secondary" onClick={() => (resetKey(), setFundError(null), setStep({ kind: "fund", m: null }))}>
              Fund the next milestone
            </button>
          )}
          {contract.status === "pending" && !anyFunded && (
            <button type="button" class="secondary" onClick={() => setSplitting(true)}>
              Split into milestones
            </button>
          )}
        </div>
      )}
      {step?.kind === "fund" && step.m === null && nextUnfunded && (
        <PayStep amount={nextUnfunded.amount} action={`Fund “${nextUnfunded.title}”`} busy={funding} error={fundError} onPay={(id) => void pay(id)} onCancel={() => setStep(null)} />
      )}
      {provider && contract.status === "pending" && <p class="muted">The contract starts when the client funds its first milestone.</p>}
      {contract.status === "disputed" && !admin && <p class="muted">The contract is disputed: its escrow is frozen until an admin resolves the dispute.</p>}
      {admin && contract.status === "disputed" && <ResolveDispute contract={contract} inEscrow={set.in_escrow} onDone={onChanged} />}
    </div>
  );
}

/** The provider gives back all or part of what a milestone holds in escrow, to the client's card. */
function RefundStep({ m, onDone }: { m: Milestone; onDone: (note: string | null) => void }) {
  const cur = m.amount.currency;
  const [amount, setAmount] = useState(String(m.held / minorFactor(cur)));
  const [key, resetKey] = useIdempotencyKey();
  const [submit, busy, error] = useSubmit(async () => {
    const minor = toMinor(amount, cur);
    try {
      const p = await api<Payment>(`/api/payments/${m.payment_id}/refund`, {
        method: "POST",
        // All that is held is the whole refund (an empty body); less is a part refund.
        body: minor === null || minor === m.held ? {} : { amount: minor },
        headers: { "idempotency-key": key() },
      });
      onDone(`Refunded ${money(minorToMoney(minor ?? m.held, cur))} of “${m.title}” to the client's card (${label(p.status).toLowerCase()}).`);
    } finally {
      resetKey();
    }
  });
  return (
    <form class="confirm" onSubmit={submit} noValidate aria-label={`Refund ${m.title}`}>
      <p>Give money held for “{m.title}” back to the client's card. What is left stays in escrow.</p>
      <ErrorBox error={error} />
      <Field label={`Amount to refund (${cur})`} name="amount" inputMode="decimal" value={amount} onValue={setAmount} error={error} hint={`Held: ${money(minorToMoney(m.held, cur))}`} />
      <div class="actions">
        <button type="submit" class="danger" disabled={busy}>
          {busy ? "Refunding…" : "Confirm: refund"}
        </button>
        <button type="button" class="secondary" onClick={() => onDone(null)}>
          Back
        </button>
      </div>
    </form>
  );
}

/** An admin splits a disputed contract's escrow between the provider and the client. */
function ResolveDispute({ contract, inEscrow, onDone }: { contract: Contract; inEscrow: Money; onDone: () => void }) {
  const cur = inEscrow.currency;
  const f = minorFactor(cur);
  const [release, setRelease] = useState(String(inEscrow.amount / f));
  const [refund, setRefund] = useState("0");
  const [key, resetKey] = useIdempotencyKey();
  const sum = (toMinor(release, cur) ?? 0) + (toMinor(refund, cur) ?? 0);
  const [submit, busy, error] = useSubmit(async () => {
    try {
      await api<Contract>(`/api/admin/disputes/${contract.id}/resolve`, {
        method: "POST",
        body: { release: toMinor(release, cur) ?? undefined, refund: toMinor(refund, cur) ?? undefined },
        headers: { "idempotency-key": key() },
      });
      onDone();
    } finally {
      resetKey();
    }
  });
  return (
    <form class="confirm" onSubmit={submit} noValidate aria-labelledby="resolve-h">
      <h3 id="resolve-h">Resolve the dispute</h3>
      <p>
        {money(inEscrow)} is in escrow. The two parts must add up to it:{" "}
        <span aria-live="polite" data-testid="resolve-left">
          {sum === inEscrow.amount ? "they do." : `${money(minorToMoney(inEscrow.amount - sum, cur))} left.`}
        </span>
      </p>
      <ErrorBox error={error} />
      <div class="row2">
        <Field label={`Release to the provider (${cur})`} name="release" inputMode="decimal" value={release} onValue={setRelease} error={error} />
        <Field label={`Refund to the client (${cur})`} name="refund" inputMode="decimal" value={refund} onValue={setRefund} error={error} />
      </div>
      <p class="muted small">The contract then completes, or is cancelled when nothing is released.</p>
      <div class="actions">
        <button type="submit" disabled={busy}>
          {busy ? "Resolving…" : "Resolve dispute"}
        </button>
      </div>
    </form>
  );
}

type Row = { title: string; amount: string; due: string };

function SplitForm({ contract, set, onDone }: { contract: Contract; set: MilestoneSet; onDone: (saved: boolean) => void }) {
  const cur = contract.agreed_rate.currency;
  const f = minorFactor(cur);
  const [rows, setRows] = useState<Row[]>(() =>
    set.results.filter((m) => m.status !== "removed").map((m) => ({ title: m.title, amount: String(m.amount.amount / f), due: m.due_date ?? "" })),
  );
  const total = rows.reduce((s, r) => s + (toMinor(r.amount, cur) ?? 0), 0);
  const left = contract.agreed_rate.amount - total;
  const setRow = (i: number, k: keyof Row) => (v: string) => setRows(rows.map((r, j) => (j === i ? { ...r, [k]: v } : r)));
  const [submit, busy, error] = useSubmit(async () => {
    await api(`/api/contracts/${contract.id}/milestones`, {
      method: "PUT",
      body: {
        milestones: rows.map((r) => ({ title: r.title.trim(), amount: { amount: toMinor(r.amount, cur), currency: cur }, ...(r.due ? { due_date: r.due } : {}) })),
      },
    });
    onDone(true);
  });
  return (
    <form class="form split" onSubmit={submit} noValidate aria-label="Split into milestones">
      <p class="muted">
        The milestones must add up to the agreed {money(contract.agreed_rate)}.{" "}
        <span data-testid="split-left" aria-live="polite">
          {left === 0 ? "They do." : left > 0 ? `${money(minorToMoney(left, cur))} still to assign.` : `${money(minorToMoney(-left, cur))} too much.`}
        </span>
      </p>
      <ErrorBox error={error} />
      {rows.map((r, i) => (
        <fieldset key={i} class="ms-row">
          <legend>Milestone {i + 1}</legend>
          <Field label={`Title of milestone ${i + 1}`} name={`ms-${i}-title`} value={r.title} onValue={setRow(i, "title")} />
          <div class="row2">
            <Field label={`Amount of milestone ${i + 1} (${cur})`} name={`ms-${i}-amount`} inputMode="decimal" value={r.amount} onValue={setRow(i, "amount")} />
            <Field label={`Due date of milestone ${i + 1}`} name={`ms-${i}-due`} type="date" value={r.due} onValue={setRow(i, "due")} />
          </div>
          {rows.length > 1 && (
            <button type="button" class="secondary small" onClick={() => setRows(rows.filter((_, j) => j !== i))}>
              Remove milestone {i + 1}
            </button>
          )}
        </fieldset>
      ))}
      <div class="actions">
        <button type="button" class="secondary" disabled={rows.length >= 50} onClick={() => setRows([...rows, { title: "", amount: left > 0 ? String(left / f) : "", due: "" }])}>
          Add a milestone
        </button>
        <button type="submit" disabled={busy}>
          {busy ? "Saving…" : "Save milestones"}
        </button>
        <button type="button" class="secondary" onClick={() => onDone(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** Reloads when a payment notification about this contract arrives. */
export function useContractPayments(contractId: string, reload: () => void): void {
  useEffect(() => onFrame((f) => f.type === "notification" && (f.notification.action_url ?? "").startsWith(`/contracts/${contractId}`) && reload()), [contractId]);
}

function purposeLink(p: Payment) {
  return p.purpose.kind === "milestone" ? <a href={`/contracts/${p.purpose.contract_id}`}>Contract milestone</a> : <a href={`/bookings/${p.purpose.booking_id}`}>Booking</a>;
}

export function PaymentList() {
  useTitle("Payments");
  const s = useStore(session);
  const me = s.status === "signed-in" ? s.user.id : "";
  const list = useList<Payment>("/api/payments", { limit: 20 }, (ps) => preloadUsers(ps.flatMap((p) => [p.payer_id, p.payee_id])));
  return (
    <section class="page">
      <div class="head">
        <h1>Payments</h1>
        <a href="/wallet">Wallet</a>
      </div>
      <ErrorBox error={list.error} />
      {!list.items ? (
        <Loading what="Loading payments" />
      ) : list.items.length === 0 ? (
        <Empty>No payments yet. Payments appear here when a milestone or a booking is paid.</Empty>
      ) : (
        <ul class="list" aria-label="Payments">
          {list.items.map((p) => (
            <li key={p.id} class="card item" data-testid="payment">
              <h2 class="item-title">
                <a href={`/payments/${p.id}`}>
                  {money(p.amount)} {p.payer_id === me ? "paid to " : "from "}
                  <UserName id={p.payer_id === me ? p.payee_id : p.payer_id} />
                </a>{" "}
                <Badge status={p.status} />
              </h2>
              <p class="meta">
                {purposeLink(p)} · {date(p.created_at, true)}
                {p.card ? ` · ${label(p.card.brand)} ending ${p.card.last4}` : ""}
                {p.refunded ? ` · ${money(minorToMoney(p.refunded, p.amount.currency))} refunded` : ""}
                {p.failure ? ` · ${label(p.failure)}` : ""}
              </p>
            </li>
          ))}
        </ul>
      )}
      <Pager next={list.next} onMore={list.more} busy={list.busy} />
    </section>
  );
}

export function ReceiptPage({ params }: { params: Record<string, string> }) {
  const [r, error] = useLoad((signal) => api<Receipt>(`/api/payments/${params.id}/receipt`, { signal }), [params.id]);
  useTitle(r ? `Receipt ${r.number}` : "Receipt");
  if (error) return <section class="page narrow"><h1>Receipt</h1><ErrorBox error={error} /></section>;
  if (!r) return <section class="page narrow" key="loading"><Loading what="Loading the receipt" /></section>;
  const link = r.for.kind === "milestone" ? `/contracts/${r.for.contract_id}` : `/bookings/${r.for.booking_id}`;
  return (
    <section class="page narrow receipt">
      <p class="crumbs no-print">
        <a href="/payments">Payments</a>
      </p>
      <div class="title-row">
        <h1>Receipt</h1>
        <Badge status={r.status} />
      </div>
      <div class="card">
        <p class="meta">
          Agora · receipt <strong data-testid="receipt-number">{r.number}</strong>
        </p>
        <dl class="facts">
          <dt>For</dt>
          <dd>
            <a href={link}>{r.for.title || label(r.for.kind)}</a>
          </dd>
          <dt>Paid by</dt>
          <dd>{r.payer.name || "—"}</dd>
          <dt>Paid to</dt>
          <dd>{r.payee.name || "—"}</dd>
          <dt>Card</dt>
          <dd>{r.card ? `${label(r.card.brand)} ending ${r.card.last4}` : "—"}</dd>
          <dt>Date</dt>
          <dd>{date(r.paid_at, true)}</dd>
          <dt>Amount</dt>
          <dd>{money(r.amount)}</dd>
          <dt>Refunded</dt>
          <dd>{money(r.refunded)}</dd>
          <dt>Total</dt>
          <dd>
            <strong data-testid="receipt-total">{money(r.net)}</strong>
          </dd>
        </dl>
        <p class="no-print">
          <button type="button" class="secondary" onClick={() => window.print()}>
            Print
          </button>
        </p>
      </div>
    </section>
  );
}
