// Page views for the platform's analytics (docs/analytics.md, POST /api/analytics/events):
// each route the app shows is queued and sent in batches a few seconds later (and when the
// tab is hidden). Signed in, the user is the sender; otherwise a random visitor id kept in
// localStorage. Only the path goes: the server drops query strings and never stores the address.
import { api, getAccess } from "./http.ts";

type Event = { kind: "page_view"; path: string; referrer?: string; at: string };

const queue: Event[] = [];
let timer: ReturnType<typeof setTimeout> | null = null;
let last: string | null = null;

function randomId(): string {
  return crypto.randomUUID().replace(/-/g, "");
}

function visitorId(): string {
  try {
    let v = localStorage.getItem("agora.visitor");
    if (!v || !/^[A-Za-z0-9_-]{8,64}$/.test(v)) {
      v = `w${randomId()}`;
      localStorage.setItem("agora.visitor", v);
    }
    return v;
  } catch {
    return `w${randomId()}`;
  }
}

function body(events: Event[], anonymous: boolean) {
  return { events, batch_id: `b${randomId()}`, ...(anonymous ? { visitor_id: visitorId() } : {}) };
}

function flush(beacon = false): void {
  if (timer) clearTimeout(timer);
  timer = null;
  while (queue.length) {
    const events = queue.splice(0, 100);
    if (beacon && navigator.sendBeacon) {
      // A beacon carries no bearer token: it is sent as the visitor.
      navigator.sendBeacon("/api/analytics/events", new Blob([JSON.stringify(body(events, true))], { type: "text/plain" }));
    } else {
      void api("/api/analytics/events", { method: "POST", body: body(events, getAccess() === null) }).catch(() => {});
    }
  }
}

/** Records that the app showed `path` (called on every route change). */
export function pageView(path: string): void {
  if (path === last) return;
  const referrer = last ?? (/^https?:\/\//.test(document.referrer) ? document.referrer.slice(0, 1024) : undefined);
  last = path;
  queue.push({ kind: "page_view", path: path.slice(0, 512), ...(referrer ? { referrer } : {}), at: new Date().toISOString() });
  if (!timer) timer = setTimeout(() => flush(), 3000);
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") flush(true);
});
