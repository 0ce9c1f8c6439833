// Availability (routes/availability.rs, docs/architecture.md "Availability"): a service's
// free slots in the viewer's time zone, booking one; a provider's working hours.
import { useState } from "preact/hooks";
import { api } from "../api/http.ts";
import { navigate } from "../router.ts";
import type { Availability, Booking, Service, Slots } from "../api/types.ts";
import { Empty, ErrorBox, Field, Loading, Select, TextArea, useSubmit } from "../ui/kit.tsx";

/** The viewer's IANA time zone. */
export function viewerZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

function localYmd(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** From the start of `from` to the end of `to`, local days of the viewer. */
function span(from: string, to: string): { from: string; to: string } {
  const a = new Date(`${from}T00:00:00`);
  const b = new Date(`${to}T00:00:00`);
  b.setDate(b.getDate() + 1);
  return { from: a.toISOString(), to: b.toISOString() };
}

export function defaultSlotRange(): { from: string; to: string } {
  const now = new Date();
  const end = new Date(now);
  end.setDate(end.getDate() + 6);
  return { from: localYmd(now), to: localYmd(end) };
}

export function loadSlots(serviceId: string, range: { from: string; to: string }, signal?: AbortSignal): Promise<Slots> {
  return api<Slots>(`/api/services/${serviceId}/slots`, { signal, query: { ...span(range.from, range.to), tz: viewerZone() } });
}

const dayFmt = () => new Intl.DateTimeFormat("en-GB", { weekday: "long", day: "numeric", month: "long", timeZone: viewerZone() });
const timeFmt = () => new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: viewerZone() });

/** Free slots over a range of days, and booking the one picked. `initial` is the first
 * range's answer, loaded with the page. */
export function SlotPicker({ service, initial, range: firstRange, signedIn }: { service: Service; initial: Slots; range: { from: string; to: string }; signedIn: boolean }) {
  const [range, setRange] = useState(firstRange);
  const [slots, setSlots] = useState(initial);
  const [picked, setPicked] = useState<string | null>(null);
  const [note, setNote] = useState("");
  const [search, searching, searchError] = useSubmit(async () => {
    setPicked(null);
    setSlots(await loadSlots(service.id, range));
  });
  const [book, booking, bookError] = useSubmit(async () => {
    if (!picked) return;
    const start = new Date(picked);
    const end = new Date(start.getTime() + slots.duration_minutes * 60000);
    const b = await api<Booking>("/api/bookings", {
      method: "POST",
      body: { service_id: service.id, start_at: start.toISOString(), end_at: end.toISOString(), ...(note.trim() ? { note: note.trim() } : {}) },
    });
    navigate(`/bookings/${b.id}`);
  });
  const days = new Map<string, { start: string; start_utc: string }[]>();
  const df = dayFmt();
  const tf = timeFmt();
  for (const s of slots.results) {
    const d = df.format(new Date(s.start_utc));
    days.set(d, [...(days.get(d) ?? []), s]);
  }
  const pickedDate = picked ? new Date(picked) : null;
  return (
    <div class="card slots" aria-labelledby="slots-h">
      <h2 id="slots-h">Free times</h2>
      <form class="row-fields" onSubmit={search} noValidate aria-label="Days to show">
        <Field label="From day" name="slots_from" type="date" value={range.from} onValue={(v) => setRange({ ...range, from: v })} error={searchError} />
        <Field label="To day" name="slots_to" type="date" value={range.to} onValue={(v) => setRange({ ...range, to: v })} error={searchError} />
        <button type="submit" class="secondary" disabled={searching}>
          {searching ? "Looking…" : "Show free times"}
        </button>
      </form>
      <p class="muted small">
        Times are in your time zone, {slots.time_zone}
        {slots.provider_time_zone && slots.provider_time_zone !== slots.time_zone ? ` (the provider works in ${slots.provider_time_zone})` : ""}. Each slot is{" "}
        {slots.duration_minutes} minutes.
      </p>
      <ErrorBox error={searchError} />
      <div class="slot-box">
        {searching ? (
          <Loading what="Looking for free times" />
        ) : slots.results.length === 0 ? (
          <Empty>No free times in these days. Try later days.</Empty>
        ) : (
          [...days.entries()].map(([d, list]) => (
            <div key={d} class="slot-day" role="group" aria-label={d}>
              <h3>{d}</h3>
              <ul class="slot-list">
                {list.map((s) => (
                  <li key={s.start_utc}>
                    <button type="button" class={picked === s.start_utc ? "slot picked" : "slot secondary"} aria-pressed={picked === s.start_utc} onClick={() => setPicked(s.start_utc)} data-testid="slot" data-start={s.start_utc}>
                      {tf.format(new Date(s.start_utc))}
                    </button>
                  </li>
                ))}
              </ul>
            </div>
          ))
        )}
      </div>
      {signedIn ? (
        pickedDate && (
          <form class="form" onSubmit={book} noValidate aria-label="Book the chosen time">
            <p data-testid="picked">
              <strong>
                {df.format(pickedDate)}, {tf.format(pickedDate)}–{tf.format(new Date(pickedDate.getTime() + slots.duration_minutes * 60000))}
              </strong>
            </p>
            <ErrorBox error={bookError} />
            <TextArea label="Note for the provider" name="slot_note" rows={2} value={note} onValue={setNote} error={bookError} />
            <button type="submit" disabled={booking}>
              {booking ? "Booking…" : "Book this time"}
            </button>
          </form>
        )
      ) : (
        <p class="muted">
          <a href={`/login?next=/services/${service.id}`}>Log in</a> to book a time.
        </p>
      )}
    </div>
  );
}

const DAYS: [keyof Availability["weekly"], string][] = [
  ["mon", "Monday"],
  ["tue", "Tuesday"],
  ["wed", "Wednesday"],
  ["thu", "Thursday"],
  ["fri", "Friday"],
  ["sat", "Saturday"],
  ["sun", "Sunday"],
];

function zones(current: string): [string, string][] {
  let list: string[] = [];
  try {
    list = (Intl as unknown as { supportedValuesOf(k: string): string[] }).supportedValuesOf("timeZone");
  } catch {
    list = [];
  }
  if (!list.includes("UTC")) list = ["UTC", ...list];
  if (current && !list.includes(current)) list = [current, ...list];
  return list.map((z) => [z, z.replace(/_/g, " ")]);
}

type Ranges = [string, string][];
type Override = { date: string; closed: boolean; from: string; to: string };

/** A provider's working hours: a time zone, ranges per weekday, dates off or with other hours. */
export function WorkingHours({ providerId, initial, onSaved }: { providerId: string; initial: Availability; onSaved?: (a: Availability) => void }) {
  const [tz, setTz] = useState(initial.set ? initial.time_zone : viewerZone());
  const [weekly, setWeekly] = useState<Record<string, Ranges>>(() =>
    Object.fromEntries(DAYS.map(([d]) => [d, initial.set ? (initial.weekly[d] ?? []) : d === "sat" || d === "sun" ? [] : [["09:00", "17:00"]]])),
  );
  const [overrides, setOverrides] = useState<Override[]>(() =>
    initial.overrides.map((o) => ({ date: o.date, closed: o.ranges.length === 0, from: o.ranges[0]?.[0] ?? "09:00", to: o.ranges[0]?.[1] ?? "17:00" })),
  );
  const [set, setSet] = useState(initial.set);
  const [saved, setSaved] = useState<string | null>(null);
  const setRange = (d: string, i: number, k: 0 | 1, v: string) => setWeekly({ ...weekly, [d]: weekly[d].map((r, j) => (j === i ? ((k === 0 ? [v, r[1]] : [r[0], v]) as [string, string]) : r)) });
  const [submit, busy, error] = useSubmit(async () => {
    setSaved(null);
    const body = {
      time_zone: tz,
      weekly: Object.fromEntries(Object.entries(weekly).filter(([, r]) => r.length > 0)),
      overrides: overrides.filter((o) => o.date).map((o) => ({ date: o.date, ranges: o.closed ? [] : [[o.from, o.to]] })),
    };
    const a = await api<Availability>(`/api/providers/${providerId}/availability`, { method: "PUT", body });
    setSet(a.set);
    setSaved("Working hours saved. Clients now see your free times on your services.");
    onSaved?.(a);
  });
  const [clear, clearing, clearError] = useSubmit(async () => {
    setSaved(null);
    await api(`/api/providers/${providerId}/availability`, { method: "DELETE" });
    setSet(false);
    setSaved("Working hours cleared: clients may ask for any time.");
  });
  return (
    <form class="card form hours" onSubmit={submit} noValidate aria-labelledby="hours-h">
      <h2 id="hours-h">Working hours</h2>
      <p class="muted">{set ? "Clients book the free times inside these hours." : "No working hours yet: clients may ask for any time. Set hours to offer free times instead."}</p>
      {saved && (
        <p class="ok" role="status">
          {saved}
        </p>
      )}
      <ErrorBox error={error} />
      <ErrorBox error={clearError} />
      <Select label="Time zone" name="time_zone" value={tz} onValue={setTz} options={zones(tz)} />
      {DAYS.map(([d, name]) => (
        <fieldset key={d} class="day-hours">
          <legend>{name}</legend>
          <label class="check">
            <input
              type="checkbox"
              checked={weekly[d].length > 0}
              onChange={(e) => setWeekly({ ...weekly, [d]: (e.target as HTMLInputElement).checked ? [["09:00", "17:00"]] : [] })}
            />
            Open on {name}
          </label>
          {weekly[d].map((r, i) => (
            <div class="range" key={i}>
              <Field label={`${name} from${i ? ` (${i + 1})` : ""}`} name={`${d}-${i}-from`} type="time" value={r[0]} onValue={(v) => setRange(d, i, 0, v)} />
              <Field label={`${name} until${i ? ` (${i + 1})` : ""}`} name={`${d}-${i}-to`} type="time" value={r[1] === "24:00" ? "23:59" : r[1]} onValue={(v) => setRange(d, i, 1, v)} />
              {weekly[d].length > 1 && (
                <button type="button" class="secondary small" onClick={() => setWeekly({ ...weekly, [d]: weekly[d].filter((_, j) => j !== i) })}>
                  Remove
                </button>
              )}
            </div>
          ))}
          {weekly[d].length > 0 && (
            <button type="button" class="link small" onClick={() => setWeekly({ ...weekly, [d]: [...weekly[d], ["18:00", "20:00"]] })}>
              Add hours on {name}
            </button>
          )}
        </fieldset>
      ))}
      <fieldset class="day-hours">
        <legend>Days off and other hours</legend>
        {overrides.length === 0 && <p class="muted small">None.</p>}
        {overrides.map((o, i) => (
          <div class="range" key={i}>
            <Field label={`Date ${i + 1}`} name={`ov-${i}-date`} type="date" value={o.date} onValue={(v) => setOverrides(overrides.map((x, j) => (j === i ? { ...x, date: v } : x)))} />
            <label class="check">
              <input type="checkbox" checked={o.closed} onChange={(e) => setOverrides(overrides.map((x, j) => (j === i ? { ...x, closed: (e.target as HTMLInputElement).checked } : x)))} />
              Day off
            </label>
            {!o.closed && (
              <>
                <Field label={`Date ${i + 1} from`} name={`ov-${i}-from`} type="time" value={o.from} onValue={(v) => setOverrides(overrides.map((x, j) => (j === i ? { ...x, from: v } : x)))} />
                <Field label={`Date ${i + 1} until`} name={`ov-${i}-to`} type="time" value={o.to} onValue={(v) => setOverrides(overrides.map((x, j) => (j === i ? { ...x, to: v } : x)))} />
              </>
            )}
            <button type="button" class="secondary small" onClick={() => setOverrides(overrides.filter((_, j) => j !== i))}>
              Remove date {i + 1}
            </button>
          </div>
        ))}
        <button type="button" class="link small" onClick={() => setOverrides([...overrides, { date: "", closed: true, from: "09:00", to: "17:00" }])}>
          Add a date
        </button>
      </fieldset>
      <div class="actions">
        <button type="submit" disabled={busy}>
          {busy ? "Saving…" : "Save working hours"}
        </button>
        {set && (
          <button type="button" class="secondary" disabled={clearing} onClick={() => clear()}>
            Clear working hours
          </button>
        )}
      </div>
    </form>
  );
}
