import { useEffect, useState } from "preact/hooks";
import { useStore } from "../store.ts";
import { location, navigate } from "../router.ts";
import { api, type Page } from "../api/http.ts";
import { session } from "../api/session.ts";
import { onFrame } from "../api/realtime.ts";
import type { Contract, Job, Proposal } from "../api/types.ts";
import { preloadUsers } from "../api/users.ts";
import { UserName } from "../ui/Names.tsx";
import { Badge, Empty, ErrorBox, Field, Loading, Pager, StatusTabs, Select, TextArea, date, money, useList, useLoad, useSubmit, useTitle } from "../ui/kit.tsx";
import { FilterForm, useCategoryOptions } from "../ui/Filters.tsx";
import { StartChat } from "./Chat.tsx";

function budget(j: Job): string {
  if (j.budget_min && j.budget_max) return `${money(j.budget_min)} – ${money(j.budget_max)}`;
  if (j.budget_max) return `up to ${money(j.budget_max)}`;
  if (j.budget_min) return `from ${money(j.budget_min)}`;
  return "Budget open";
}

function JobItems({ items }: { items: Job[] }) {
  return (
    <ul class="list" aria-label="Jobs">
      {items.map((j) => (
        <li key={j.id} class="card item">
          <h2 class="item-title">
            <a href={`/jobs/${j.id}`}>{j.title}</a> <Badge status={j.status} />
          </h2>
          <p class="clamp">{j.description}</p>
          <p class="meta">
            {budget(j)} · deadline {date(j.deadline)} · {j.proposals_count} proposal{j.proposals_count === 1 ? "" : "s"}
          </p>
        </li>
      ))}
    </ul>
  );
}

export function JobList() {
  useTitle("Open jobs");
  const q = useStore(location).query;
  const values = Object.fromEntries(["q", "category", "ordering"].map((k) => [k, q.get(k) ?? ""]));
  const cats = useCategoryOptions();
  const s = useStore(session);
  const isClient = s.status === "signed-in" && s.user.role === "client";
  const list = useList<Job>(isClient ? null : "/api/jobs", { q: values.q || undefined, category: values.category || undefined, ordering: values.ordering || undefined, limit: 20 });
  if (isClient) {
    return (
      <section class="page">
        <h1>Jobs</h1>
        <p>
          Clients see their own jobs: <a href="/jobs/mine">My jobs</a> · <a href="/jobs/new">Post a job</a>
        </p>
      </section>
    );
  }
  return (
    <section class="page">
      <h1>Open jobs</h1>
      <FilterForm values={values} label="Search jobs">
        {(v, set) => (
          <>
            <Field label="Search" name="q" type="search" value={v.q} onValue={(x) => set("q", x)} placeholder="e.g. website" />
            <Select label="Category" name="category" value={v.category} onValue={(x) => set("category", x)} options={[["", "All categories"], ...cats]} />
            <Select label="Order by" name="ordering" value={v.ordering} onValue={(x) => set("ordering", x)} options={[["", "Best match / newest"], ["-created_at", "Newest"], ["created_at", "Oldest"], ["-budget", "Budget: high to low"], ["budget", "Budget: low to high"]]} />
          </>
        )}
      </FilterForm>
      <ErrorBox error={list.error} />
      {!list.items ? <Loading what="Loading jobs" /> : list.items.length === 0 ? <Empty>No open jobs match.</Empty> : <JobItems items={list.items} />}
      <Pager next={list.next} onMore={list.more} busy={list.busy} />
    </section>
  );
}

export function MyJobs() {
  useTitle("My jobs");
  const status = useStore(location).query.get("status") ?? "";
  const list = useList<Job>("/api/jobs/mine", { status: status || undefined, limit: 20 });
  return (
    <section class="page">
      <div class="head">
        <h1>My jobs</h1>
        <a class="button" href="/jobs/new">
          Post a job
        </a>
      </div>
      <StatusTabs path="/jobs/mine" current={status} values={["open", "in_progress", "completed", "cancelled"]} />
      <ErrorBox error={list.error} />
      {!list.items ? (
        <Loading what="Loading your jobs" />
      ) : list.items.length === 0 ? (
        <Empty>
          No jobs here yet. <a href="/jobs/new">Post your first job</a>.
        </Empty>
      ) : (
        <JobItems items={list.items} />
      )}
      <Pager next={list.next} onMore={list.more} busy={list.busy} />
    </section>
  );
}

function toMinor(v: string): number | null {
  const n = Number(v.replace(",", "."));
  return v.trim() && Number.isFinite(n) ? Math.round(n * 100) : null;
}

export function JobNew() {
  useTitle("Post a job");
  const cats = useCategoryOptions();
  const [f, setF] = useState({ title: "", description: "", budget_min: "", budget_max: "", deadline: "", category_id: "" });
  const set = (k: keyof typeof f) => (v: string) => setF({ ...f, [k]: v });
  const [submit, busy, error] = useSubmit(async () => {
    const min = toMinor(f.budget_min);
    const max = toMinor(f.budget_max);
    const job = await api<Job>("/api/jobs", {
      method: "POST",
      body: {
        title: f.title.trim(),
        description: f.description.trim(),
        ...(min !== null ? { budget_min: { amount: min, currency: "USD" } } : {}),
        ...(max !== null ? { budget_max: { amount: max, currency: "USD" } } : {}),
        ...(f.deadline ? { deadline: f.deadline } : {}),
        ...(f.category_id ? { category_id: f.category_id } : {}),
      },
    });
    navigate(`/jobs/${job.id}`);
  });
  return (
    <section class="page narrow">
      <h1>Post a job</h1>
      <form class="card form" onSubmit={submit} noValidate>
        <ErrorBox error={error} />
        <Field label="Title" name="title" required value={f.title} onValue={set("title")} error={error} />
        <TextArea label="Description" name="description" required rows={6} value={f.description} onValue={set("description")} error={error} />
        <div class="row2">
          <Field label="Budget from ($)" name="budget_min" type="number" min={0} step="0.01" inputMode="decimal" value={f.budget_min} onValue={set("budget_min")} error={error} />
          <Field label="Budget up to ($)" name="budget_max" type="number" min={0} step="0.01" inputMode="decimal" value={f.budget_max} onValue={set("budget_max")} error={error} />
        </div>
        <div class="row2">
          <Field label="Deadline" name="deadline" type="date" value={f.deadline} onValue={set("deadline")} error={error} />
          <Select label="Category" name="category_id" value={f.category_id} onValue={set("category_id")} options={[["", "No category"], ...cats]} />
        </div>
        <button type="submit" disabled={busy}>
          {busy ? "Posting…" : "Post job"}
        </button>
      </form>
    </section>
  );
}

function ProposalCard({ p, job, onChange, highlight }: { p: Proposal; job: Job; onChange: () => void; highlight?: boolean }) {
  const s = useStore(session);
  const me = s.status === "signed-in" ? s.user : null;
  const [accept, accepting, acceptError] = useSubmit(async () => {
    const c = await api<Contract>(`/api/proposals/${p.id}/accept`, { method: "POST" });
    navigate(`/contracts/${c.id}`);
  });
  const [withdraw, withdrawing, withdrawError] = useSubmit(async () => {
    await api(`/api/proposals/${p.id}/withdraw`, { method: "POST" });
    onChange();
  });
  return (
    <li class={`card proposal${highlight ? " highlight" : ""}`} id={`proposal-${p.id}`} data-testid="proposal">
      <p class="meta">
        <strong>
          <UserName id={p.provider_id} />
        </strong>{" "}
        offers <strong>{money(p.rate)}</strong> <Badge status={p.status} /> · <time dateTime={p.created_at}>{date(p.created_at, true)}</time>
      </p>
      {p.message && <p class="pre">{p.message}</p>}
      <ErrorBox error={acceptError || withdrawError} />
      <div class="actions">
        {me?.id === job.client_id && p.status === "pending" && job.status === "open" && (
          <button type="button" onClick={() => accept()} disabled={accepting}>
            {accepting ? "Accepting…" : "Accept proposal"}
          </button>
        )}
        {me?.id === p.provider_id && p.status === "pending" && (
          <button type="button" class="secondary" onClick={() => withdraw()} disabled={withdrawing}>
            Withdraw proposal
          </button>
        )}
        {p.contract_id && <a href={`/contracts/${p.contract_id}`}>View contract</a>}
        {me && me.id === job.client_id && <StartChat userId={p.provider_id} label="Message" />}
      </div>
    </li>
  );
}

function ProposeForm({ job, onSent }: { job: Job; onSent: () => void }) {
  const [rate, setRate] = useState("");
  const [message, setMessage] = useState("");
  const [submit, busy, error] = useSubmit(async () => {
    const amount = toMinor(rate);
    await api("/api/proposals", { method: "POST", body: { job_id: job.id, message: message.trim() || undefined, ...(amount !== null ? { rate: { amount, currency: "USD" } } : {}) } });
    onSent();
  });
  return (
    <form class="card form" onSubmit={submit} noValidate aria-labelledby="propose-h">
      <h2 id="propose-h">Send a proposal</h2>
      <ErrorBox error={error} />
      <Field label="Your price ($)" name="rate" type="number" min={0} step="0.01" inputMode="decimal" required value={rate} onValue={setRate} error={error} />
      <TextArea label="Message to the client" name="message" value={message} onValue={setMessage} error={error} />
      <button type="submit" disabled={busy}>
        {busy ? "Sending…" : "Send proposal"}
      </button>
    </form>
  );
}

export function JobDetail({ params }: { params: Record<string, string> }) {
  const s = useStore(session);
  const me = s.status === "signed-in" ? s.user : null;
  const [job, error, reload] = useLoad(async (signal) => {
    const j = await api<Job>(`/api/jobs/${params.id}`, { signal });
    await preloadUsers([j.client_id]);
    return j;
  }, [params.id]);
  const proposals = useList<Proposal>(job ? `/api/jobs/${job.id}/proposals` : null, { limit: 50 }, (ps) => preloadUsers(ps.map((p) => p.provider_id)));
  useTitle(job?.title ?? "Job");
  // A new proposal on my job arrives as a notification: refresh the list live.
  useEffect(
    () =>
      onFrame((f) => {
        if (f.type === "notification" && f.notification.action_url?.startsWith(`/jobs/${params.id}`)) {
          proposals.reload();
          reload();
        }
      }),
    [params.id],
  );
  const [cancel, cancelling, cancelError] = useSubmit(async () => {
    await api(`/api/jobs/${params.id}`, { method: "DELETE" });
    reload();
    proposals.reload();
  });
  useEffect(() => {
    if (params.pid && proposals.items) document.getElementById(`proposal-${params.pid}`)?.scrollIntoView({ block: "center" });
  }, [params.pid, proposals.items]);
  if (error) return <section class="page"><ErrorBox error={error} /></section>;
  if (!job) return <section class="page" key="loading"><Loading /></section>;
  const mine = me?.id === job.client_id;
  const canPropose = me && !mine && (me.role === "provider" || me.role === "worker") && job.status === "open";
  const own = proposals.items?.find((p) => p.provider_id === me?.id && p.status !== "withdrawn");
  return (
    <section class="page">
      <p class="crumbs">{mine ? <a href="/jobs/mine">My jobs</a> : <a href="/jobs">Open jobs</a>}</p>
      <div class="title-row">
        <h1>{job.title}</h1>
        <Badge status={job.status} />
      </div>
      <div class="cols">
        <article class="card">
          <p class="pre">{job.description}</p>
        </article>
        <aside class="card">
          <dl class="facts">
            <dt>Budget</dt>
            <dd>{budget(job)}</dd>
            <dt>Deadline</dt>
            <dd>{date(job.deadline)}</dd>
            <dt>Posted</dt>
            <dd>{date(job.created_at)}</dd>
            <dt>Proposals</dt>
            <dd>{job.proposals_count}</dd>
            {!mine && (
              <>
                <dt>Client</dt>
                <dd>
                  <UserName id={job.client_id} />
                </dd>
              </>
            )}
          </dl>
          <ErrorBox error={cancelError} />
          {mine && job.status === "open" && job.hires === 0 && (
            <button type="button" class="secondary danger" onClick={() => confirm("Withdraw this job? Pending proposals are closed.") && cancel()} disabled={cancelling}>
              Withdraw job
            </button>
          )}
        </aside>
      </div>
      <h2>{mine ? "Proposals" : "Your proposal"}</h2>
      <ErrorBox error={proposals.error} />
      {!proposals.items ? (
        <Loading what="Loading proposals" />
      ) : proposals.items.length === 0 ? (
        <Empty>{mine ? "No proposals yet. You will be notified when one arrives." : "You have not proposed on this job yet."}</Empty>
      ) : (
        <ul class="list">
          {proposals.items.map((p) => (
            <ProposalCard key={p.id} p={p} job={job} highlight={p.id === params.pid} onChange={() => { proposals.reload(); reload(); }} />
          ))}
        </ul>
      )}
      {canPropose && !own && <ProposeForm job={job} onSent={() => { proposals.reload(); reload(); }} />}
    </section>
  );
}

export function MyProposals() {
  useTitle("My proposals");
  const list = useList<Proposal>("/api/proposals", { limit: 20 });
  const [jobs, setJobs] = useState<Record<string, Job>>({});
  useEffect(() => {
    for (const p of list.items ?? []) {
      if (jobs[p.job_id]) continue;
      api<Job>(`/api/jobs/${p.job_id}`).then((j) => setJobs((m) => ({ ...m, [j.id]: j })), () => {});
    }
  }, [list.items]);
  return (
    <section class="page">
      <h1>My proposals</h1>
      <ErrorBox error={list.error} />
      {!list.items ? (
        <Loading what="Loading proposals" />
      ) : list.items.length === 0 ? (
        <Empty>
          You have sent no proposals yet. <a href="/jobs">Browse open jobs</a>.
        </Empty>
      ) : (
        <ul class="list">
          {list.items.map((p) => (
            <li key={p.id} class="card item">
              <h2 class="item-title">
                <a href={`/jobs/${p.job_id}`}>{jobs[p.job_id]?.title ?? "Job"}</a> <Badge status={p.status} />
              </h2>
              <p class="meta">
                {money(p.rate)} · sent {date(p.created_at)} {p.contract_id && <a href={`/contracts/${p.contract_id}`}>· contract</a>}
              </p>
            </li>
          ))}
        </ul>
      )}
      <Pager next={list.next} onMore={list.more} busy={list.busy} />
    </section>
  );
}

/** `/proposals/{id}` (a notification's link) opens the proposal on its job's page. */
export function ProposalRedirect({ params }: { params: Record<string, string> }) {
  const [p, error] = useLoad((signal) => api<Proposal>(`/api/proposals/${params.id}`, { signal }), [params.id]);
  useEffect(() => {
    if (p) navigate(p.contract_id ? `/contracts/${p.contract_id}` : `/jobs/${p.job_id}/proposals/${p.id}`, true);
  }, [p]);
  return <section class="page">{error ? <ErrorBox error={error} /> : <Loading />}</section>;
}

export type { Page };
