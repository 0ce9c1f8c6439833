import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { useStore } from "../store.ts";
import { navigate } from "../router.ts";
import { api, type Page } from "../api/http.ts";
import { session } from "../api/session.ts";
import * as rt from "../api/realtime.ts";
import type { Conversation, ConversationDetail, Message, User } from "../api/types.ts";
import { displayName, getUser } from "../api/users.ts";
import { Empty, ErrorBox, Loading, useSubmit, useTitle } from "../ui/kit.tsx";
import { Attachments } from "../ui/Attachments.tsx";
import { MAX_FILES, bytes, recordingType, snapshot, upload, type Attachment, type MessageAttachment } from "../api/attachments.ts";
import { AgoraError, describe } from "../api/http.ts";

/** "Message" button: opens (or creates) the direct conversation with a user. */
export function StartChat({ userId, label = "Send a message" }: { userId: string; label?: string }) {
  const s = useStore(session);
  const [start, busy, error] = useSubmit(async () => {
    const c = await api<Conversation>("/api/conversations", { method: "POST", body: { participant_ids: [userId] } });
    navigate(`/conversations/${c.id}`);
  });
  if (s.status !== "signed-in" || s.user.id === userId) return null;
  return (
    <div>
      <ErrorBox error={error} />
      <button type="button" class="secondary" onClick={() => start()} disabled={busy}>
        {label}
      </button>
    </div>
  );
}

function useUsers(ids: string[]): Record<string, User> {
  const [users, setUsers] = useState<Record<string, User>>({});
  const key = [...new Set(ids)].sort().join(",");
  useEffect(() => {
    for (const id of new Set(ids)) {
      if (users[id]) continue;
      getUser(id).then((u) => setUsers((m) => ({ ...m, [id]: u })), () => {});
    }
  }, [key]);
  return users;
}

function title(c: Conversation, me: string, users: Record<string, User>): string {
  if (c.title) return c.title;
  const others = c.participant_ids.filter((p) => p !== me);
  return others.map((o) => displayName(users[o])).join(", ") || "Just you";
}

export function Chat({ params }: { params: Record<string, string> }) {
  const s = useStore(session);
  const me = s.status === "signed-in" ? s.user.id : "";
  const [convs, setConvs] = useState<Conversation[] | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [n, setN] = useState(0);
  const online = useStore(rt.online);
  const openId = params.id;
  const openRef = useRef(openId);
  openRef.current = openId;
  useTitle("Messages");

  useEffect(() => {
    api<Page<Conversation>>("/api/conversations", { query: { limit: 100 } }).then(
      (p) => {
        setConvs(p.results);
        for (const c of p.results) rt.track(c.id, c.last_seq);
      },
      setError,
    );
  }, [n]);

  useEffect(
    () =>
      rt.onFrame((f) => {
        if (f.type === "message") {
          setConvs((list) => {
            if (!list) return list;
            const c = list.find((x) => x.id === f.conversation_id);
            if (!c) {
              setN((x) => x + 1);
              return list;
            }
            if (f.seq <= c.last_seq) return list;
            const mineOrOpen = f.sender_id === me || openRef.current === c.id;
            const next = { ...c, last_seq: f.seq, last_message: f, last_activity_at: f.sent_at, unread_count: mineOrOpen ? c.unread_count : c.unread_count + 1 };
            return [next, ...list.filter((x) => x.id !== c.id)];
          });
        } else if (f.type === "read" && f.user_id === me) {
          setConvs((list) => list?.map((c) => (c.id === f.conversation_id ? { ...c, read_seq: Math.max(c.read_seq, f.seq), unread_count: Math.max(0, c.last_seq - Math.max(c.read_seq, f.seq)) } : c)));
        } else if (f.type === "synced") {
          setN((x) => x + 1);
        }
      }),
    [me],
  );

  const users = useUsers((convs ?? []).flatMap((c) => c.participant_ids));
  const open = convs?.find((c) => c.id === openId);

  return (
    <section class={`page chat${openId ? " has-open" : ""}`}>
      <h1 class={openId ? "sr-only" : ""}>Messages</h1>
      <div class="chat-grid">
        <nav class="conv-list card" aria-label="Conversations">
          <ErrorBox error={error} />
          {!convs ? (
            <Loading what="Loading conversations" />
          ) : convs.length === 0 ? (
            <Empty>No conversations yet. Start one from a provider's page, a proposal or a contract.</Empty>
          ) : (
            <ul>
              {convs.map((c) => {
                const other = c.participant_ids.find((p) => p !== me);
                return (
                  <li key={c.id}>
                    <a href={`/conversations/${c.id}`} aria-current={c.id === openId ? "page" : undefined} data-testid="conversation">
                      <span class="conv-title">
                        {other && c.kind === "direct" && (
                          <>
                            <span class={`dot${online.has(other) ? " on" : ""}`} aria-hidden="true" />
                            <span class="sr-only">{online.has(other) ? "(online)" : "(offline)"}</span>
                          </>
                        )}
                        {title(c, me, users)}
                      </span>
                      {c.unread_count > 0 && (
                        <span class="count" data-testid="unread">
                          {c.unread_count}
                          <span class="sr-only"> unread</span>
                        </span>
                      )}
                      <span class="conv-last">{c.last_message ? (c.last_message.deleted ? "Message deleted" : c.last_message.body || filesLine(c.last_message.attachments)) : "No messages yet"}</span>
                    </a>
                  </li>
                );
              })}
            </ul>
          )}
        </nav>
        {openId ? (
          <ConversationPane key={openId} id={openId} me={me} conv={open} users={users} onRead={(seq) => setConvs((list) => list?.map((c) => (c.id === openId ? { ...c, read_seq: Math.max(c.read_seq, seq), unread_count: 0 } : c)))} />
        ) : (
          <div class="card conv-empty">
            <p>Choose a conversation.</p>
          </div>
        )}
      </div>
    </section>
  );
}

type Shown = Message & { pending?: "sending" | "failed"; local?: boolean };

function filesLine(files: MessageAttachment[] | undefined): string {
  if (!files?.length) return "";
  return files.length === 1 ? `Attachment: ${files[0].name}` : `${files.length} attachments`;
}

/** A file on its way: uploading (with progress), done (its attachment), or refused. */
interface Outgoing {
  key: number;
  name: string;
  size: number;
  sent: number;
  state: "uploading" | "done" | "failed";
  error?: unknown;
  attachment?: Attachment;
  abort: AbortController;
}

/** The refusal of an upload as one sentence, naming the rule (the envelope's message comes with it). */
function refusalText(e: unknown): string {
  if (e instanceof AgoraError) {
    const why =
      e.status === 415
        ? "This type of file is not accepted."
        : e.status === 413
          ? e.code === "quota_exceeded"
            ? "Your storage for attachments is full."
            : e.code === "media_too_long"
              ? "The recording is too long."
              : "The file is too large."
          : e.status === 422
            ? e.code === "hostile_file"
              ? "The file was refused as unsafe."
              : "The file could not be read."
            : "";
    return why ? `${why} ${describe(e)}` : describe(e);
  }
  return describe(e);
}

function ConversationPane({ id, me, conv: listed, users: listUsers, onRead }: { id: string; me: string; conv?: Conversation; users: Record<string, User>; onRead: (seq: number) => void }) {
  const [conv, setConv] = useState<Conversation | undefined>(listed);
  const [msgs, setMsgs] = useState<Shown[] | undefined>(undefined);
  const [older, setOlder] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [text, setText] = useState("");
  const [files, setFiles] = useState<Outgoing[]>([]);
  const [fileNote, setFileNote] = useState("");
  const [dragging, setDragging] = useState(false);
  const fileKey = useRef(0);
  const picker = useRef<HTMLInputElement>(null);
  const [typing, setTyping] = useState<Record<string, number>>({});
  // The other members' read cursors: the detail's read_seqs, then the live read frames.
  const [reads, setReads] = useState<Record<string, number>>({});
  const status = useStore(rt.status);
  const online = useStore(rt.online);
  const list = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  const lastTyping = useRef(0);
  const typingTimer = useRef<number | undefined>(undefined);
  const readSent = useRef(0);
  const counter = useRef(0);
  const msgsRef = useRef<Shown[] | undefined>(undefined);
  msgsRef.current = msgs;
  const users = { ...listUsers, ...useUsers(conv?.participant_ids ?? []) };

  useEffect(() => {
    api<ConversationDetail>(`/api/conversations/${id}`).then((c) => {
      setConv(c);
      const seqs = Object.entries(c.read_seqs ?? {}).filter(([u]) => u !== me);
      setReads((r) => ({ ...r, ...Object.fromEntries(seqs.map(([u, seq]) => [u, Math.max(r[u] ?? 0, seq)])) }));
    }, setError);
    api<Page<Message>>(`/api/conversations/${id}/messages`, { query: { limit: 30 } }).then((p) => {
      const asc = [...p.results].reverse();
      setMsgs((cur) => merge(cur ?? [], asc));
      setOlder(p.next_cursor);
      rt.track(id, asc.length ? asc[asc.length - 1].seq : 0);
    }, setError);
  }, [id]);

  // Live frames for this conversation.
  useEffect(
    () =>
      rt.onFrame((f) => {
        if (f.type === "message" && f.conversation_id === id) {
          const cur = msgsRef.current ?? [];
          const top = cur.reduce((m, x) => (x.pending ? m : Math.max(m, x.seq)), 0);
          setMsgs((c) => merge(c ?? [], [f]));
          if (f.sender_id !== me) setTyping((t) => ({ ...t, [f.sender_id]: 0 }));
          if (top && f.seq > top + 1) fillGap(top);
        } else if (f.type === "ack" && f.conversation_id === id) {
          setMsgs((c) => merge((c ?? []).map((m) => (m.client_msg_id === f.client_msg_id ? { ...m, id: f.message_id, seq: f.seq, sent_at: f.sent_at, pending: undefined } : m)), []));
        } else if (f.type === "error" && f.ref) {
          setMsgs((c) => c?.map((m) => (m.pending && m.client_msg_id === f.ref ? { ...m, pending: "failed" } : m)));
          if (f.ref === id && f.code !== "rate_limited") setError(new Error(f.message));
        } else if (f.type === "message_edited" && f.conversation_id === id) {
          setMsgs((c) => c?.map((m) => (m.seq === f.seq && !m.pending ? { ...m, body: f.body, edited_at: f.edited_at } : m)));
        } else if (f.type === "message_deleted" && f.conversation_id === id) {
          setMsgs((c) => c?.map((m) => (m.seq === f.seq && !m.pending ? { ...m, body: "", deleted: true } : m)));
        } else if (f.type === "read" && f.conversation_id === id) {
          if (f.user_id !== me) setReads((r) => ({ ...r, [f.user_id]: Math.max(r[f.user_id] ?? 0, f.seq) }));
          else readSent.current = Math.max(readSent.current, f.seq);
        } else if (f.type === "typing" && f.conversation_id === id && f.user_id !== me) {
          setTyping((t) => ({ ...t, [f.user_id]: f.active ? Date.now() + 6000 : 0 }));
        }
      }),
    [id, me],
  );

  // Expire typing indicators whose stop frame never came.
  useEffect(() => {
    const t = window.setInterval(() => setTyping((cur) => (Object.values(cur).some((v) => v && v < Date.now()) ? Object.fromEntries(Object.entries(cur).map(([k, v]) => [k, v && v < Date.now() ? 0 : v])) : cur)), 1000);
    return () => clearInterval(t);
  }, []);

  function fillGap(after: number) {
    api<Page<Message>>(`/api/conversations/${id}/messages`, { query: { limit: 100 } }).then((p) => setMsgs((c) => merge(c ?? [], p.results.filter((m) => m.seq > after))), () => {});
  }

  // Mark read while the conversation is on screen.
  const highest = (msgs ?? []).reduce((m, x) => (x.pending ? m : Math.max(m, x.seq)), 0);
  useEffect(() => {
    const mark = () => {
      if (document.visibilityState !== "visible" || !highest || highest <= readSent.current || highest <= (conv?.read_seq ?? 0)) return;
      readSent.current = highest;
      if (!rt.markRead(id, highest)) void api(`/api/conversations/${id}/read`, { method: "POST", body: { seq: highest } }).catch(() => {});
      onRead(highest);
    };
    mark();
    document.addEventListener("visibilitychange", mark);
    return () => document.removeEventListener("visibilitychange", mark);
  }, [highest, conv?.read_seq, status]);

  useLayoutEffect(() => {
    const el = list.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [msgs?.length, msgs?.[msgs.length - 1]?.seq]);

  const loadOlder = async () => {
    if (!older || !msgs) return;
    setLoadingOlder(true);
    const el = list.current;
    const before = el ? el.scrollHeight - el.scrollTop : 0;
    try {
      const p = await api<Page<Message>>(`/api/conversations/${id}/messages`, { query: { before_seq: older, limit: 30 } });
      stick.current = false;
      setMsgs((c) => merge(c ?? [], p.results));
      setOlder(p.next_cursor);
      requestAnimationFrame(() => {
        if (el) el.scrollTop = el.scrollHeight - before;
      });
    } catch (e) {
      setError(e);
    } finally {
      setLoadingOlder(false);
    }
  };

  const sendTyping = (active: boolean) => {
    if (active) {
      const now = Date.now();
      if (now - lastTyping.current > 3000) {
        lastTyping.current = now;
        rt.typing(id, true);
      }
      clearTimeout(typingTimer.current);
      typingTimer.current = window.setTimeout(() => sendTyping(false), 4000);
    } else if (lastTyping.current) {
      lastTyping.current = 0;
      clearTimeout(typingTimer.current);
      rt.typing(id, false);
    }
  };

  const uploading = files.some((f) => f.state === "uploading");
  const ready = files.filter((f) => f.state === "done" && f.attachment).map((f) => f.attachment!);
  const canSend = !uploading && (text.trim().length > 0 || ready.length > 0);

  const send = (e: Event) => {
    e.preventDefault();
    const body = text.trim();
    if (!canSend) return;
    counter.current += 1;
    const cmid = `web-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${counter.current}`;
    const attachments = ready.map(snapshot);
    const draft: Shown = { id: cmid, conversation_id: id, seq: Number.MAX_SAFE_INTEGER, sender_id: me, body, sent_at: new Date().toISOString(), client_msg_id: cmid, deleted: false, pending: "sending", local: true, ...(attachments.length ? { attachments } : {}) };
    stick.current = true;
    setMsgs((c) => [...(c ?? []), draft]);
    setText("");
    setFiles([]);
    setFileNote("");
    sendTyping(false);
    deliver(cmid, body, attachments.map((a) => a.id));
  };

  /** Starts uploading the chosen or dropped files (at most MAX_FILES per message). */
  const addFiles = (list: FileList | File[] | null) => {
    const chosen = [...(list ?? [])];
    if (!chosen.length) return;
    const room = MAX_FILES - files.length;
    const taken = chosen.slice(0, Math.max(0, room));
    setFileNote(chosen.length > taken.length ? `At most ${MAX_FILES} files per message: ${chosen.length - taken.length} left out.` : "");
    for (const file of taken) startUpload(file, file.name);
  };

  const startUpload = (file: Blob, name: string) => {
    fileKey.current += 1;
    const key = fileKey.current;
    const abort = new AbortController();
    const patch = (p: Partial<Outgoing>) => setFiles((fs) => fs.map((f) => (f.key === key ? { ...f, ...p } : f)));
    setFiles((fs) => [...fs, { key, name, size: file.size, sent: 0, state: "uploading", abort }]);
    upload(file, name, (sent) => patch({ sent }), abort.signal).then(
      (attachment) => patch({ state: "done", attachment, sent: file.size }),
      (error) => {
        if (abort.signal.aborted) return;
        patch({ state: "failed", error });
      },
    );
  };

  const removeFile = (key: number) => {
    setFiles((fs) => {
      fs.find((f) => f.key === key)?.abort.abort();
      return fs.filter((f) => f.key !== key);
    });
  };

  /** Over the socket (queued while offline, retried until acked); over REST when there is no socket at all. */
  const deliver = (cmid: string, body: string, attachmentIds: string[] = []) => {
    const sent = (m: { message_id?: string; id?: string; seq: number; sent_at: string }) =>
      setMsgs((c) => merge((c ?? []).map((x) => (x.client_msg_id === cmid ? { ...x, id: m.message_id ?? m.id ?? x.id, seq: m.seq, sent_at: m.sent_at, pending: undefined } : x)), []));
    const failed = () => setMsgs((c) => c?.map((x) => (x.client_msg_id === cmid && x.pending ? { ...x, pending: "failed" } : x)));
    if (rt.status.get() !== "offline") rt.send(id, body, cmid, attachmentIds).then(sent, failed);
    else api<Message>(`/api/conversations/${id}/messages`, { method: "POST", body: { body, client_msg_id: cmid, attachment_ids: attachmentIds } }).then(sent, failed);
  };

  const retry = (m: Shown) => {
    setMsgs((c) => c?.map((x) => (x.client_msg_id === m.client_msg_id ? { ...x, pending: "sending" } : x)));
    deliver(m.client_msg_id!, m.body, (m.attachments ?? []).map((a) => a.id));
  };

  const others = (conv?.participant_ids ?? []).filter((p) => p !== me);
  const whoTypes = Object.entries(typing).filter(([, v]) => v > Date.now()).map(([k]) => displayName(users[k]));
  const peerRead = others.length ? Math.min(...others.map((o) => reads[o] ?? 0)) : 0;
  const lastMineSeen = (msgs ?? []).filter((m) => m.sender_id === me && !m.pending && m.seq <= peerRead).reduce((m, x) => Math.max(m, x.seq), 0);
  const heading = conv ? title(conv, me, users) : "Conversation";
  const directPeer = conv?.kind === "direct" ? others[0] : undefined;

  return (
    <div
      class={`conv card${dragging ? " dragging" : ""}`}
      aria-labelledby="conv-title"
      onDragOver={(e) => {
        if (!e.dataTransfer?.types.includes("Files")) return;
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={(e) => {
        if (e.currentTarget === e.target) setDragging(false);
      }}
      onDrop={(e) => {
        if (!e.dataTransfer?.files.length) return;
        e.preventDefault();
        setDragging(false);
        addFiles(e.dataTransfer.files);
      }}
    >
      <div class="conv-head">
        <a class="back" href="/conversations">
          ‹ <span class="sr-only">Back to </span>all conversations
        </a>
        <h2 id="conv-title">{heading}</h2>
        {directPeer && (
          <span class="presence" data-testid="presence">
            <span class={`dot${online.has(directPeer) ? " on" : ""}`} aria-hidden="true" />
            {online.has(directPeer) ? "Online" : "Offline"}
          </span>
        )}
      </div>
      <ErrorBox error={error} />
      {!msgs ? (
        <div class="messages">
          <Loading what="Loading messages" />
        </div>
      ) : (
        <ol
          class="messages"
          ref={list}
          aria-label="Messages"
          tabIndex={0}
          onScroll={(e) => {
            const el = e.currentTarget as HTMLElement;
            stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
          }}
        >
          {older && (
            <li class="older">
              <button type="button" class="secondary" onClick={() => void loadOlder()} disabled={loadingOlder}>
                {loadingOlder ? "Loading…" : "Load earlier messages"}
              </button>
            </li>
          )}
          {msgs.length === 0 && <li class="empty">No messages yet. Say hello!</li>}
          {msgs.map((m) => (
            <li key={m.client_msg_id ?? m.id} class={`msg${m.sender_id === me ? " mine" : ""}${m.pending ? ` ${m.pending}` : ""}${!m.deleted && m.attachments?.length ? " has-files" : ""}`} data-testid="message" data-seq={m.pending ? undefined : m.seq}>
              <span class="sr-only">{m.sender_id === me ? "You" : displayName(users[m.sender_id])}: </span>
              {(m.deleted || m.body) && <span class="body">{m.deleted ? <em>Message deleted</em> : m.body}</span>}
              {!m.deleted && m.attachments && m.attachments.length > 0 && <Attachments items={m.attachments} mine={m.sender_id === me} />}
              <span class="when">
                <time dateTime={m.sent_at}>{new Date(m.sent_at).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" })}</time>
                {m.edited_at && !m.deleted && " · edited"}
                {m.pending === "sending" && " · sending…"}
                {m.pending === "failed" && (
                  <>
                    {" · not sent "}
                    <button type="button" class="link" onClick={() => retry(m)}>
                      Retry
                    </button>
                  </>
                )}
                {!m.pending && m.sender_id === me && m.seq === lastMineSeen && (
                  <span class="seen" data-testid="seen">
                    {" · Seen"}
                  </span>
                )}
              </span>
            </li>
          ))}
        </ol>
      )}
      <p class="typing" aria-live="polite" data-testid="typing">
        {whoTypes.length ? `${whoTypes.join(", ")} ${whoTypes.length > 1 ? "are" : "is"} typing…` : ""}
      </p>
      {(files.length > 0 || fileNote) && (
        <div class="outgoing">
          {fileNote && (
            <p class="field-error" role="alert">
              {fileNote}
            </p>
          )}
          <ul aria-label="Files to send">
            {files.map((f) => (
              <li key={f.key} class={`out-file ${f.state}`} data-testid="upload" data-state={f.state}>
                <span class="file-name">{f.name}</span>
                <span class="file-meta">{bytes(f.size)}</span>
                {f.state === "uploading" && <progress max={f.size || 1} value={f.sent} aria-label={`Uploading ${f.name}`} />}
                {f.state === "done" && <span class="ok-note">Ready</span>}
                {f.state === "failed" && (
                  <span class="field-error" role="alert" data-testid="upload-error">
                    {f.name}: {refusalText(f.error)}
                  </span>
                )}
                <button type="button" class="secondary small-btn" onClick={() => removeFile(f.key)}>
                  {f.state === "uploading" ? "Cancel" : "Remove"}
                  <span class="sr-only"> {f.name}</span>
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
      <form class="composer" onSubmit={send}>
        <input
          ref={picker}
          id="attach-files"
          type="file"
          multiple
          class="sr-only"
          tabIndex={-1}
          aria-hidden="true"
          onChange={(e) => {
            const input = e.target as HTMLInputElement;
            addFiles(input.files);
            input.value = "";
          }}
        />
        <button type="button" class="secondary icon-btn" title="Attach files (or drop them here)" onClick={() => picker.current?.click()} disabled={files.length >= MAX_FILES} data-testid="attach">
          <span aria-hidden="true">+</span>
          <span class="sr-only">Attach files</span>
        </button>
        <VoiceNote disabled={files.length >= MAX_FILES} onRecorded={(blob, name) => startUpload(blob, name)} />
        <label for="composer" class="sr-only">
          Message
        </label>
        <textarea
          id="composer"
          rows={2}
          maxLength={4000}
          value={text}
          placeholder="Write a message…"
          onInput={(e) => {
            const v = (e.target as HTMLTextAreaElement).value;
            setText(v);
            sendTyping(v.length > 0);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) send(e);
          }}
        />
        <button type="submit" disabled={!canSend}>
          Send
        </button>
      </form>
      <p class="muted small conn-note" aria-live="polite">
        {status === "connecting" ? "Connecting… messages are sent once the connection is up." : status === "offline" ? "Offline: messages are sent when the connection is back." : ""}
      </p>
    </div>
  );
}

/** Sorted by seq, deduped by seq (pending drafts stay at the end, deduped by client_msg_id). */
function merge(cur: Shown[], incoming: Shown[]): Shown[] {
  const bySeq = new Map<number, Shown>();
  const drafts: Shown[] = [];
  for (const m of [...cur, ...incoming]) {
    if (m.pending) {
      drafts.push(m);
      continue;
    }
    const had = bySeq.get(m.seq);
    if (had && !had.local && m.local) continue;
    bySeq.set(m.seq, m);
  }
  const sent = new Set([...bySeq.values()].map((m) => m.client_msg_id).filter(Boolean));
  const rest = drafts.filter((d) => !sent.has(d.client_msg_id));
  return [...[...bySeq.values()].sort((a, b) => a.seq - b.seq), ...rest];
}

/** Records a voice note with MediaRecorder (Ogg/Opus or WebM), shown only where it works. */
function VoiceNote({ onRecorded, disabled }: { onRecorded: (blob: Blob, name: string) => void; disabled: boolean }) {
  const [type] = useState(recordingType);
  const [rec, setRec] = useState<{ r: MediaRecorder; started: number } | null>(null);
  const [secs, setSecs] = useState(0);
  const [error, setError] = useState("");
  useEffect(() => {
    if (!rec) return;
    const t = window.setInterval(() => setSecs(Math.floor((Date.now() - rec.started) / 1000)), 500);
    return () => clearInterval(t);
  }, [rec]);
  if (!type) return null;
  const start = async () => {
    setError("");
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      setError("The microphone could not be used. Allow it in the browser to record a voice note.");
      return;
    }
    const r = new MediaRecorder(stream, { mimeType: type });
    const chunks: Blob[] = [];
    r.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    r.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      const blob = new Blob(chunks, { type: r.mimeType || type });
      const ext = (r.mimeType || type).includes("ogg") ? "ogg" : "webm";
      const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
      if (blob.size) onRecorded(blob, `voice-note-${stamp}.${ext}`);
    };
    r.start(250);
    setSecs(0);
    setRec({ r, started: Date.now() });
  };
  const stop = () => {
    rec?.r.stop();
    setRec(null);
  };
  return (
    <>
      {rec ? (
        <button type="button" class="danger icon-btn" title="Stop recording and attach the voice note" onClick={stop} data-testid="record-stop">
          <span aria-hidden="true">■</span> {Math.floor(secs / 60)}:{String(secs % 60).padStart(2, "0")}
          <span class="sr-only">Stop recording and attach the voice note</span>
        </button>
      ) : (
        <button type="button" class="secondary icon-btn" title="Record a voice note" onClick={() => void start()} disabled={disabled} data-testid="record">
          <span aria-hidden="true" class="rec-dot">●</span>
          <span class="sr-only">Record a voice note</span>
        </button>
      )}
      {error && (
        <span class="rec-error field-error" role="alert">
          {error}
        </span>
      )}
    </>
  );
}
