// The signed-in user. The access token lives in memory only (http.ts); a reload restores the
// session from the HttpOnly refresh cookie (docs/auth.md "Browser sessions").
import { api, csrfCookie, onSessionLost, refreshAccess, setSession } from "./http.ts";
import type { User } from "./types.ts";
import { store } from "../store.ts";

export type SessionState = { status: "loading" } | { status: "anonymous" } | { status: "signed-in"; user: User };

export const session = store<SessionState>({ status: "loading" });

onSessionLost(() => session.set({ status: "anonymous" }));

export function currentUser(): User | null {
  const s = session.get();
  return s.status === "signed-in" ? s.user : null;
}

export async function restore(): Promise<void> {
  if (!csrfCookie()) {
    session.set({ status: "anonymous" });
    return;
  }
  try {
    const token = await refreshAccess();
    if (!token) {
      session.set({ status: "anonymous" });
      return;
    }
    const user = await api<User>("/api/auth/me");
    session.set({ status: "signed-in", user });
  } catch {
    session.set({ status: "anonymous" });
  }
}

interface SessionResponse {
  user: User;
  access: string;
  csrf: string;
}

export async function login(identifier: string, password: string): Promise<User> {
  const body = identifier.includes("@") ? { email: identifier, password } : { username: identifier, password };
  const res = await api<SessionResponse>("/api/auth/session", { method: "POST", body, auth: false });
  setSession(res.access, res.csrf);
  session.set({ status: "signed-in", user: res.user });
  return res.user;
}

export interface SignupFields {
  email: string;
  password: string;
  role: string;
  username?: string;
  first_name?: string;
  last_name?: string;
}

/** Registers, then starts a cookie session. The token pair registration answers is ended at once,
 * so no refresh token is ever kept where scripts can read it. */
export async function signup(fields: SignupFields): Promise<User> {
  const reg = await api<{ access: string; refresh: string }>("/api/auth/register", { method: "POST", body: fields, auth: false });
  await api("/api/auth/logout", {
    method: "POST",
    body: { refresh: reg.refresh },
    headers: { authorization: `Bearer ${reg.access}` },
    auth: false,
  }).catch(() => {});
  return login(fields.email, fields.password);
}

export async function logout(): Promise<void> {
  const csrf = csrfCookie();
  try {
    await api("/api/auth/logout", { method: "POST", body: {}, headers: csrf ? { "x-csrf-token": csrf } : {} });
  } finally {
    setSession(null, null);
    session.set({ status: "anonymous" });
  }
}

export async function reloadMe(): Promise<void> {
  const user = await api<User>("/api/auth/me");
  session.set({ status: "signed-in", user });
}
