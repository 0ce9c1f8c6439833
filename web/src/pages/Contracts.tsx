import { useEffect, useState } from "preact/hooks";
import { useStore } from "../store.ts";
import { location } from "../router.ts";
import { api, type Page } from "../api/http.ts";
import { session } from "../api/session.ts";
import { onFrame } from "../api/realtime.ts";
import type { Contract, ContractEvent } from "../api/types.ts";
import { preloadUsers } from "../api/users.ts";
import { UserName } from "../ui/Names.tsx";
import { Badge, Empty, ErrorBox, Loading, Pager, StatusTabs, TextArea, date, label, money, useList, useLoad, useSubmit, useTitle } from "../ui/kit.tsx";
import { StartChat } from "./Chat.tsx";
import { Milestones } from "./Payments.tsx";
import { EngagementReviews } from "./Reviews.tsx";
import type { MilestoneSet } from "../api/types.ts";

export function ContractList() {
  useTitle("Contracts");
  const status = useStore(location).query.get("status") ?? "";
  const s = useStore(session);
  const me = s.status === "signed-in" ? s.user.id : "";
  const list = useList<Contract>("/api/contracts", { status: status || undefined, limit: 20 }, (cs) => preloadUsers(cs.flatMap((c) => [c.client_id, c.provider_id])));
  useEffect(() => onFrame((f) => f.type === "notification" && f.notification.type === "contract" && list.reload()), []);
  return (
    <section class="page">
      <h1>Contracts</h1>
      <StatusTabs path="/contracts" current={status} values={["pending", "active", "delivered", "completed", "cancelled", "disputed"]} />
      <ErrorBox error={list.error} />
      {!list.items ? (
        <Loading what="Loading contracts" />
      ) : list.items.length === 0 ? (
        <Empty>No contracts here yet. A contract starts when a client accepts a proposal.</Empty>
      ) : (
        <ul class="list" aria-label="Contracts">
          {list.items.map((c) => (
            <li key={c.id} class="card item" data-testid="contract">
              <h2 class="item-title">
                <a href={`/contracts/${c.id}`}>{c.title}</a> <Badge status={c.status} />
              </h2>
              <p class="meta">
                {money(c.agreed_rate)} · {c.client_id === me ? "you hired " : "client: "}
                <UserName id={c.client_id === me ? c.provider_id : c.client_id} /> · started {date(c.created_at)}
              </p>
            </li>
          ))}
        </ul>
      )}
      <Pager next={list.next} onMore={list.more} busy={list.busy} />
    </section>
  );
}

type Action = { to: string; text: string; danger?: boolean };

function actionsFor(c: Contract, me: string): Action[] {
  const client = c.client_id === me;
  const provider = c.provider_id === me;
  const out: Action[] = [];
  if (provider && c.status === "active") out.push({ to: "delivered", text: "Mark as delivered" });
  if (client && c.status === "delivered") out.push({ to: "completed", text: "Approve and complete" });
  if ((client || provider) && (c.status === "pending" || c.status === "active")) out.push({ to: "cancelled", text: "Cancel contract", danger: true });
  if ((client || provider) && (c.status === "active" || c.status === "delivered")) out.push({ to: "disputed", text: "Open a dispute", danger: true });
  return out;
}

export function ContractDetail({ params }: { params: Record<string, string> }) {
  const s = useStore(session);
  const me = s.status === "signed-in" ? s.user.id : "";
  // The contract and its milestones load together, so the page renders once (no shift).
  const [loaded, error, reload, setLoaded] = useLoad(async (signal) => {
    const [x, milestones, events] = await Promise.all([
      api<Contract>(`/api/contracts/${params.id}`, { signal }),
      api<MilestoneSet>(`/api/contracts/${params.id}/milestones`, { signal }).catch((e) => e as Error),
      api<Page<ContractEvent>>(`/api/contracts/${params.id}/events`, { signal, query: { limit: 100 } }).catch((e) => e as Error),
    ]);
    await preloadUsers([x.client_id, x.provider_id]);
    return { c: x, milestones, events };
  }, [params.id]);
  const c = loaded?.c;
  const setC = (next: Contract) => loaded && setLoaded({ ...loaded, c: next });
  const events = loaded && !(loaded.events instanceof Error) ? loaded.events : undefined;
  const eventsError = loaded?.events instanceof Error ? loaded.events : null;
  const [reason, setReason] = useState("");
  const [pending, setPending] = useState<Action | null>(null);
  useTitle(c?.title ?? "Contract");
  useEffect(
    () =>
      onFrame((f) => {
        if (f.type === "notification" && f.notification.action_url?.startsWith(`/contracts/${params.id}`)) {
          reload();
        }
      }),
    [params.id],
  );
  const [apply, busy, actionError] = useSubmit(async () => {
    if (!pending) return;
    const why = reason.trim() ? { reason: reason.trim() } : {};
    // A dispute goes through the payments route, which freezes the escrow.
    const next =
      pending.to === "disputed"
        ? await api<Contract>(`/api/contracts/${params.id}/dispute`, { method: "POST", body: why })
        : await api<Contract>(`/api/contracts/${params.id}/status`, { method: "POST", body: { status: pending.to, ...why } });
    setC(next);
    reload();
    setPending(null);
    setReason("");
  });
  if (error) return <section class="page"><ErrorBox error={error} /></section>;
  if (!c || !loaded) return <section class="page" key="loading"><Loading /></section>;
  const actions = actionsFor(c, me);
  const other = c.client_id === me ? c.provider_id : c.client_id;
  return (
    <section class="page">
      <p class="crumbs">
        <a href="/contracts">Contracts</a>
      </p>
      <div class="title-row">
        <h1>{c.title}</h1>
        <span data-testid="contract-status">
          <Badge status={c.status} />
        </span>
      </div>
      <div class="cols">
        <div class="card">
          <h2>History</h2>
          <ErrorBox error={eventsError} />
          {!events ? (
            <Loading what="Loading history" />
          ) : (
            <ol class="timeline">
              {events.results.map((e) => (
                <li key={e.version}>
                  <time dateTime={e.at}>{date(e.at, true)}</time>
                  <span>
                    {e.from ? `${label(e.from)} → ` : ""}
                    <strong>{label(e.to)}</strong> by {e.actor_id === me ? "you" : (e.actor_role ? label(e.actor_role) : "someone")}
                    {e.reason ? ` (${e.reason})` : ""}
                  </span>
                </li>
              ))}
            </ol>
          )}
        </div>
        <aside class="card">
          <dl class="facts">
            <dt>Agreed price</dt>
            <dd>{money(c.agreed_rate)}</dd>
            <dt>{c.client_id === me ? "Provider" : "Client"}</dt>
            <dd>
              <UserName id={other} />
            </dd>
            <dt>Deadline</dt>
            <dd>{date(c.deadline)}</dd>
            <dt>Job</dt>
            <dd>
              <a href={`/jobs/${c.job_id}`}>View job</a>
            </dd>
          </dl>
          <StartChat userId={other} label="Message" />
        </aside>
      </div>
      {loaded.milestones instanceof Error ? (
        <div class="card">
          <h2>Milestones</h2>
          <ErrorBox error={loaded.milestones} />
        </div>
      ) : (
        <Milestones
          contract={c}
          set={loaded.milestones}
          me={me}
          admin={s.status === "signed-in" && s.user.role === "admin"}
          onChanged={() => {
            reload();
          }}
        />
      )}
      {actions.length > 0 && (
        <div class="card">
          <h2>Actions</h2>
          <ErrorBox error={actionError} />
          {pending ? (
            <form class="form" onSubmit={apply}>
              <p>
                <strong>{pending.text}</strong>: are you sure?
              </p>
              <TextArea label="Reason (optional)" name="reason" rows={2} value={reason} onValue={setReason} />
              <div class="actions">
                <button type="submit" class={pending.danger ? "danger" : ""} disabled={busy}>
                  {busy ? "Saving…" : `Confirm: ${pending.text.toLowerCase()}`}
                </button>
                <button type="button" class="secondary" onClick={() => setPending(null)}>
                  Back
                </button>
              </div>
            </form>
          ) : (
            <div class="actions">
              {actions.map((a) => (
                <button key={a.to} type="button" class={a.danger ? "secondary danger" : ""} onClick={() => setPending(a)}>
                  {a.text}
                </button>
              ))}
            </div>
          )}
        </div>
      )}
      {(c.client_id === me || c.provider_id === me) && <EngagementReviews engagement={{ contract_id: c.id }} me={me} completed={c.status === "completed"} />}
    </section>
  );
}
