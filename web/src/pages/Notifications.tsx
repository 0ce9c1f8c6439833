import { useEffect, useState } from "preact/hooks";
import { api } from "../api/http.ts";
import { onFrame } from "../api/realtime.ts";
import { markAllRead, markRead } from "../api/notifications.ts";
import type { Notification } from "../api/types.ts";
import { navigate } from "../router.ts";
import { Empty, ErrorBox, Loading, Pager, Select, date, label, useList, useLoad, useSubmit, useTitle } from "../ui/kit.tsx";

interface Prefs {
  types: Record<string, { in_app: boolean; email: boolean }>;
  digest: string;
}

export function NotificationsPage() {
  useTitle("Notifications");
  const [unreadOnly, setUnreadOnly] = useState(false);
  const list = useList<Notification>("/api/notifications", { unread: unreadOnly || undefined, limit: 20 });
  useEffect(
    () =>
      onFrame((f) => {
        if (f.type === "notification") list.setItems((xs) => (xs && !xs.some((x) => x.id === f.notification.id) ? [f.notification, ...xs] : xs));
      }),
    [],
  );
  const [error, setError] = useState<unknown>(null);
  const act = (p: Promise<unknown>) => p.then(() => list.reload(), setError);
  return (
    <section class="page">
      <div class="head">
        <h1>Notifications</h1>
        <div class="actions">
          <label class="check">
            <input type="checkbox" checked={unreadOnly} onChange={(e) => setUnreadOnly((e.target as HTMLInputElement).checked)} /> Unread only
          </label>
          <button type="button" class="secondary" onClick={() => act(markAllRead().then(() => list.setItems((xs) => xs?.map((n) => ({ ...n, read: true })))))}>
            Mark all read
          </button>
        </div>
      </div>
      <ErrorBox error={error || list.error} />
      {!list.items ? (
        <Loading what="Loading notifications" />
      ) : list.items.length === 0 ? (
        <Empty>{unreadOnly ? "Nothing unread." : "No notifications yet."}</Empty>
      ) : (
        <ul class="list notes-page">
          {list.items.map((n) => (
            <li key={n.id} class={`card item${n.read ? "" : " unread"}`}>
              <p class="meta">
                <span class={`badge badge-${n.type}`}>{label(n.type)}</span> <time dateTime={n.created_at}>{date(n.created_at, true)}</time>
                {!n.read && <strong class="new"> · new</strong>}
              </p>
              <h2 class="item-title">{n.action_url?.startsWith("/") ? <a href={n.action_url} onClick={(e) => { e.preventDefault(); void markRead(n.id).catch(() => {}); navigate(n.action_url!); }}>{n.title}</a> : n.title}</h2>
              <p>{n.message}</p>
              <div class="actions">
                {!n.read && (
                  <button type="button" class="link" onClick={() => act(markRead(n.id))}>
                    Mark read
                  </button>
                )}
                <button type="button" class="link" onClick={() => act(api(`/api/notifications/${n.id}`, { method: "DELETE" }))}>
                  Delete
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
      <Pager next={list.next} onMore={list.more} busy={list.busy} />
      {list.items && <Preferences />}
    </section>
  );
}

function Preferences() {
  const [prefs, error, , setPrefs] = useLoad((signal) => api<Prefs>("/api/notifications/preferences", { signal }), []);
  const [saved, setSaved] = useState(false);
  const [save, busy, saveError] = useSubmit(async () => {
    if (!prefs) return;
    setSaved(false);
    setPrefs(await api<Prefs>("/api/notifications/preferences", { method: "PUT", body: prefs }));
    setSaved(true);
  });
  return (
    <form class="card form prefs" onSubmit={save} aria-labelledby="prefs-h">
      <h2 id="prefs-h">Preferences</h2>
      <ErrorBox error={error || saveError} />
      {!prefs ? (
        <Loading what="Loading preferences" />
      ) : (
        <>
          <table>
            <caption class="sr-only">Where each kind of notification reaches you</caption>
            <thead>
              <tr>
                <th scope="col">Kind</th>
                <th scope="col">In the app</th>
                <th scope="col">By email</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(prefs.types).map(([t, v]) => (
                <tr key={t}>
                  <th scope="row">{label(t)}</th>
                  {(["in_app", "email"] as const).map((k) => (
                    <td key={k}>
                      <input
                        type="checkbox"
                        aria-label={`${label(t)} ${k === "in_app" ? "in the app" : "by email"}`}
                        checked={v[k]}
                        onChange={(e) => {
                          setSaved(false);
                          setPrefs({ ...prefs, types: { ...prefs.types, [t]: { ...v, [k]: (e.target as HTMLInputElement).checked } } });
                        }}
                      />
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          <Select label="Email digest" name="digest" value={prefs.digest} onValue={(d) => setPrefs({ ...prefs, digest: d })} options={[["none", "None"], ["daily", "Daily"], ["weekly", "Weekly"]]} />
          <button type="submit" disabled={busy}>
            {busy ? "Saving…" : "Save preferences"}
          </button>
          {saved && <p role="status">Preferences saved.</p>}
        </>
      )}
    </form>
  );
}
