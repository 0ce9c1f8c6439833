import { useEffect, useState } from "preact/hooks";
import { useStore } from "../store.ts";
import { location, navigate } from "../router.ts";
import { api } from "../api/http.ts";
import { session } from "../api/session.ts";
import { onFrame } from "../api/realtime.ts";
import { services } from "../api/catalog.ts";
import { ServiceName } from "../ui/Names.tsx";
import type { Booking, Service } from "../api/types.ts";
import { EngagementReviews } from "./Reviews.tsx";
import { PayStep, useIdempotencyKey } from "./Payments.tsx";
import { Badge, Empty, ErrorBox, Field, Loading, Pager, StatusTabs, TextArea, date, label, money, useList, useLoad, useSubmit, useTitle } from "../ui/kit.tsx";

export function BookForm({ service }: { service: Service }) {
  const [f, setF] = useState({ start: "", end: "", note: "" });
  const [submit, busy, error] = useSubmit(async () => {
    const start = f.start ? new Date(f.start) : null;
    const end = f.end ? new Date(f.end) : start && service.duration_minutes ? new Date(start.getTime() + service.duration_minutes * 60000) : null;
    const b = await api<Booking>("/api/bookings", {
      method: "POST",
      body: { service_id: service.id, start_at: start?.toISOString(), end_at: end?.toISOString(), ...(f.note.trim() ? { note: f.note.trim() } : {}) },
    });
    navigate(`/bookings/${b.id}`);
  });
  return (
    <form class="card form" onSubmit={submit} noValidate aria-labelledby="book-h">
      <h2 id="book-h">Request a booking</h2>
      <ErrorBox error={error} />
      <div class="row2">
        <Field label="Start" name="start_at" type="datetime-local" required value={f.start} onValue={(v) => setF({ ...f, start: v })} error={error} />
        <Field label="End" name="end_at" type="datetime-local" value={f.end} onValue={(v) => setF({ ...f, end: v })} error={error} hint={service.duration_minutes ? "Leave empty to use the service's duration." : undefined} />
      </div>
      <TextArea label="Note for the provider" name="note" rows={2} value={f.note} onValue={(v) => setF({ ...f, note: v })} error={error} />
      <button type="submit" disabled={busy}>
        {busy ? "Requesting…" : "Request booking"}
      </button>
    </form>
  );
}

/** The iCalendar export needs the bearer token, so it is fetched and handed over as a file. */
async function downloadIcs(): Promise<void> {
  const text = await api<string>("/api/bookings.ics", { raw: true, headers: { accept: "text/calendar" } });
  const url = URL.createObjectURL(new Blob([text], { type: "text/calendar" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = "agora-bookings.ics";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function BookingList() {
  useTitle("Bookings");
  const q = useStore(location).query;
  const status = q.get("status") ?? "";
  const list = useList<Booking>("/api/bookings", { status: status || undefined, limit: 20 }, (bs) => services.preload(bs.map((b) => b.service_id)));
  useEffect(() => onFrame((f) => f.type === "notification" && f.notification.type === "booking" && list.reload()), []);
  const [feed, setFeed] = useState<string | null>(null);
  const [icsError, setIcsError] = useState<unknown>(null);
  const [issue, issuing, issueError] = useSubmit(async () => {
    const r = await api<{ url: string }>("/api/calendar/feed", { method: "POST" });
    setFeed(r.url);
  });
  return (
    <section class="page">
      <div class="head">
        <h1>Bookings</h1>
      </div>
      <StatusTabs path="/bookings" current={status} values={["requested", "confirmed", "completed", "declined", "cancelled"]} />
      <ErrorBox error={list.error} />
      {!list.items ? (
        <Loading what="Loading bookings" />
      ) : list.items.length === 0 ? (
        <Empty>
          No bookings yet. <a href="/services">Find a service</a> to book.
        </Empty>
      ) : (
        <ul class="list">
          {list.items.map((b) => (
            <li key={b.id} class="card item">
              <h2 class="item-title">
                <a href={`/bookings/${b.id}`}>
                  <ServiceName id={b.service_id} />
                </a>{" "}
                <Badge status={b.status} />
              </h2>
              <p class="meta">
                {date(b.start_at, true)} – {date(b.end_at, true)} · {money(b.price)}
              </p>
            </li>
          ))}
        </ul>
      )}
      <Pager next={list.next} onMore={list.more} busy={list.busy} />
      <div class="card">
        <h2>Calendar</h2>
        <p>
          <button type="button" class="secondary" onClick={() => void downloadIcs().catch(setIcsError)}>
            Download my bookings (.ics)
          </button>
        </p>
        <ErrorBox error={icsError} />
        <ErrorBox error={issueError} />
        {feed ? (
          <p>
            Subscribe to this private address in your calendar app (anyone with it can read your bookings):{" "}
            <input class="feed" readOnly value={feed} aria-label="Private calendar feed address" onFocus={(e) => (e.target as HTMLInputElement).select()} />
          </p>
        ) : (
          <button type="button" class="secondary" onClick={() => issue()} disabled={issuing}>
            Get a calendar subscription link
          </button>
        )}
      </div>
    </section>
  );
}

export function BookingDetail({ params }: { params: Record<string, string> }) {
  const s = useStore(session);
  const me = s.status === "signed-in" ? s.user.id : "";
  const [b, error, reload, setB] = useLoad(async (signal) => {
    const x = await api<Booking>(`/api/bookings/${params.id}`, { signal });
    await services.preload([x.service_id]);
    return x;
  }, [params.id]);
  useTitle("Booking");
  useEffect(() => onFrame((f) => f.type === "notification" && f.notification.action_url === `/bookings/${params.id}` && reload()), [params.id]);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<unknown>(null);
  const apply = async (to: string) => {
    setBusy(true);
    setActionError(null);
    try {
      setB(await api<Booking>(`/api/bookings/${params.id}/status`, { method: "POST", body: { status: to }, headers: { "idempotency-key": `web-${params.id}-${to}-${Date.now()}` } }));
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
    }
  };
  if (error) return <section class="page"><ErrorBox error={error} /></section>;
  if (!b) return <section class="page" key="loading"><Loading /></section>;
  const provider = b.provider_id === me;
  const actions: [string, string][] = [];
  if (provider && b.status === "requested") actions.push(["confirmed", "Confirm"], ["declined", "Decline"]);
  if (provider && b.status === "confirmed") actions.push(["completed", "Mark completed"]);
  if ((b.status === "requested" || b.status === "confirmed") && b.client_id === me) actions.push(["cancelled", "Cancel booking"]);
  if (provider && b.status === "confirmed") actions.push(["cancelled", "Cancel booking"]);
  return (
    <section class="page narrow">
      <p class="crumbs">
        <a href="/bookings">Bookings</a>
      </p>
      <div class="title-row">
        <h1>
          <ServiceName id={b.service_id} />
        </h1>
        <Badge status={b.status} />
      </div>
      <div class="card">
        <dl class="facts">
          <dt>Starts</dt>
          <dd>{date(b.start_at, true)}</dd>
          <dt>Ends</dt>
          <dd>{date(b.end_at, true)}</dd>
          <dt>Price</dt>
          <dd>{money(b.price)}</dd>
          <dt>Paid</dt>
          <dd>{b.paid ? "Yes" : "No"}</dd>
          <dt>Your role</dt>
          <dd>{provider ? "Provider" : "Client"}</dd>
          {b.note && (
            <>
              <dt>Note</dt>
              <dd>{b.note}</dd>
            </>
          )}
        </dl>
        <p>
          <a href={`/services/${b.service_id}`}>View the service</a>
        </p>
        <ErrorBox error={actionError} />
        {actions.length > 0 && (
          <div class="actions">
            {actions.map(([to, t]) => (
              <button key={to + t} type="button" class={to === "confirmed" || to === "completed" ? "" : "secondary"} disabled={busy} onClick={() => void apply(to)}>
                {t}
              </button>
            ))}
          </div>
        )}
      </div>
      {b.client_id === me && b.status === "requested" && !b.paid && !b.payment_id && <BookingCard booking={b} onChosen={setB} />}
      <EngagementReviews engagement={{ booking_id: b.id }} me={me} completed={b.status === "completed"} />
    </section>
  );
}

/** The client picks the saved card the provider's confirmation charges. */
function BookingCard({ booking, onChosen }: { booking: Booking; onChosen: (b: Booking) => void }) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const [key, resetKey] = useIdempotencyKey();
  const choose = async (cardId: string) => {
    setBusy(true);
    setError(null);
    try {
      onChosen(await api<Booking>("/api/payments", { method: "POST", body: { booking_id: booking.id, payment_method_id: cardId }, headers: { "idempotency-key": key() } }));
      setOpen(false);
      setDone(true);
    } catch (e) {
      setError(e);
    } finally {
      resetKey();
      setBusy(false);
    }
  };
  return (
    <div class="card">
      <h2>Payment</h2>
      <p>
        {money(booking.price)} is charged to {booking.payment_method_id ? "the card you chose" : "your newest saved card"} when the provider confirms.
      </p>
      {done && (
        <p class="ok" role="status">
          Card saved for this booking.
        </p>
      )}
      {open ? (
        <PayStep amount={booking.price} action="Pay with this card on confirmation" busy={busy} error={error} onPay={(id) => void choose(id)} onCancel={() => setOpen(false)} />
      ) : (
        <button type="button" class="secondary" onClick={() => setOpen(true)}>
          Choose the card
        </button>
      )}
    </div>
  );
}
