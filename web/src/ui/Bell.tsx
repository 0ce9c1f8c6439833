import { useEffect, useRef, useState } from "preact/hooks";
import { useStore } from "../store.ts";
import { unread } from "../api/realtime.ts";
import { markAllRead, markRead, recent } from "../api/notifications.ts";
import { navigate } from "../router.ts";
import { date } from "./kit.tsx";

export function Bell() {
  const u = useStore(unread);
  const list = useStore(recent);
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const panel = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (!panel.current?.contains(e.target as Node) && !button.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", close);
    panel.current?.querySelector<HTMLElement>("a,button")?.focus();
    return () => document.removeEventListener("mousedown", close);
  }, [open]);

  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Escape") {
      setOpen(false);
      button.current?.focus();
    }
  };

  const go = (id: string, url: string | null) => {
    setOpen(false);
    void markRead(id).catch(() => {});
    if (url && url.startsWith("/")) navigate(url);
  };

  return (
    <div class="bell" onKeyDown={onKey}>
      <button
        ref={button}
        type="button"
        class="icon"
        aria-expanded={open}
        aria-controls="bell-panel"
        aria-label={u.notifications ? `Notifications, ${u.notifications} unread` : "Notifications"}
        onClick={() => setOpen(!open)}
      >
        <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
          <path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1Z" />
        </svg>
        {u.notifications > 0 && (
          <span class="count bell-count" data-testid="bell-count" aria-hidden="true">
            {u.notifications > 99 ? "99+" : u.notifications}
          </span>
        )}
      </button>
      {open && (
        <div id="bell-panel" class="panel" ref={panel} role="region" aria-label="Recent notifications">
          <div class="panel-head">
            <strong>Notifications</strong>
            <button type="button" class="link" onClick={() => void markAllRead()} disabled={u.notifications === 0}>
              Mark all read
            </button>
          </div>
          {list.length === 0 ? (
            <p class="empty">No notifications yet.</p>
          ) : (
            <ul class="notes">
              {list.slice(0, 8).map((n) => (
                <li key={n.id} class={n.read ? "" : "unread"}>
                  <a
                    href={n.action_url ?? "/alerts"}
                    onClick={(e) => {
                      e.preventDefault();
                      go(n.id, n.action_url ?? "/alerts");
                    }}
                  >
                    <strong>{n.title}</strong>
                    <span>{n.message}</span>
                    <time dateTime={n.created_at}>{date(n.created_at, true)}</time>
                    {!n.read && <span class="sr-only">(unread)</span>}
                  </a>
                </li>
              ))}
            </ul>
          )}
          <a class="panel-foot" href="/alerts" onClick={() => setOpen(false)}>
            All notifications and settings
          </a>
        </div>
      )}
    </div>
  );
}
