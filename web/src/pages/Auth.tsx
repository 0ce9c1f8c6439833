import { useState } from "preact/hooks";
import { api } from "../api/http.ts";
import { login, logout, reloadMe, session, signup } from "../api/session.ts";
import { useStore } from "../store.ts";
import { location, navigate } from "../router.ts";
import { ErrorBox, Field, Select, useSubmit, useTitle, date, label } from "../ui/kit.tsx";

function nextPath(): string {
  const n = location.get().query.get("next");
  return n && n.startsWith("/") && !n.startsWith("//") ? n : "/";
}

export function Login() {
  useTitle("Log in");
  const [id, setId] = useState("");
  const [pw, setPw] = useState("");
  const [submit, busy, error] = useSubmit(async () => {
    await login(id.trim(), pw);
    navigate(nextPath(), true);
  });
  return (
    <section class="page narrow">
      <h1>Log in</h1>
      <form onSubmit={submit} class="card form" noValidate>
        <ErrorBox error={error} />
        <Field label="Email or username" name="email" autocomplete="username" required value={id} onValue={setId} error={error} />
        <Field label="Password" name="password" type="password" autocomplete="current-password" required value={pw} onValue={setPw} error={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
        <p class="muted">
          <a href="/reset-password">Forgot your password?</a> · New here? <a href="/signup">Create an account</a>
        </p>
      </form>
    </section>
  );
}

export function Signup() {
  useTitle("Sign up");
  const [f, setF] = useState({ email: "", password: "", role: "client", username: "", first_name: "", last_name: "" });
  const set = (k: keyof typeof f) => (v: string) => setF({ ...f, [k]: v });
  const [submit, busy, error] = useSubmit(async () => {
    const body: Record<string, string> = { email: f.email.trim(), password: f.password, role: f.role };
    for (const k of ["username", "first_name", "last_name"] as const) if (f[k].trim()) body[k] = f[k].trim();
    await signup(body as never);
    navigate(f.role === "client" ? "/jobs/mine" : "/jobs", true);
  });
  return (
    <section class="page narrow">
      <h1>Create your account</h1>
      <form onSubmit={submit} class="card form" noValidate>
        <ErrorBox error={error} />
        <fieldset class="roles">
          <legend>I want to</legend>
          {[
            ["client", "Hire: post jobs and book services"],
            ["provider", "Offer services and send proposals"],
            ["worker", "Find work and send proposals"],
          ].map(([v, t]) => (
            <label key={v} class="radio">
              <input type="radio" name="role" value={v} checked={f.role === v} onChange={() => set("role")(v)} />
              <span>
                <strong>{label(v)}</strong> {t}
              </span>
            </label>
          ))}
        </fieldset>
        <div class="row2">
          <Field label="First name" name="first_name" autocomplete="given-name" value={f.first_name} onValue={set("first_name")} error={error} />
          <Field label="Last name" name="last_name" autocomplete="family-name" value={f.last_name} onValue={set("last_name")} error={error} />
        </div>
        <Field label="Username (optional)" name="username" autocomplete="username" value={f.username} onValue={set("username")} error={error} />
        <Field label="Email" name="email" type="email" autocomplete="email" required value={f.email} onValue={set("email")} error={error} />
        <Field
          label="Password"
          name="password"
          type="password"
          autocomplete="new-password"
          required
          hint="10 to 128 characters, with at least two of letters, digits and other characters."
          value={f.password}
          onValue={set("password")}
          error={error}
        />
        <button type="submit" disabled={busy}>
          {busy ? "Creating account…" : "Create account"}
        </button>
        <p class="muted">
          Already have an account? <a href="/login">Log in</a>
        </p>
      </form>
    </section>
  );
}

/** `/reset-password` asks for the email; `/reset-password?token=` (the emailed link) sets the new password. */
export function ResetPassword() {
  const token = useStore(location).query.get("token");
  return token ? <ResetConfirm token={token} /> : <ResetRequest />;
}

function ResetRequest() {
  useTitle("Reset password");
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const [submit, busy, error] = useSubmit(async () => {
    await api("/api/auth/password-reset", { method: "POST", body: { email: email.trim() }, auth: false });
    setSent(true);
  });
  return (
    <section class="page narrow">
      <h1>Reset your password</h1>
      {sent ? (
        <div class="card" role="status">
          <p>If an account uses that address, an email with a reset link is on its way. The link works once, within an hour.</p>
          <p>
            <a href="/login">Back to log in</a>
          </p>
        </div>
      ) : (
        <form onSubmit={submit} class="card form" noValidate>
          <ErrorBox error={error} />
          <Field label="Email" name="email" type="email" autocomplete="email" required value={email} onValue={setEmail} error={error} />
          <button type="submit" disabled={busy}>
            {busy ? "Sending…" : "Send reset link"}
          </button>
        </form>
      )}
    </section>
  );
}

function ResetConfirm({ token }: { token: string }) {
  useTitle("Choose a new password");
  const [pw, setPw] = useState("");
  const [done, setDone] = useState(false);
  const [submit, busy, error] = useSubmit(async () => {
    await api("/api/auth/password-reset/confirm", { method: "POST", body: { token, new_password: pw }, auth: false });
    setDone(true);
  });
  return (
    <section class="page narrow">
      <h1>Choose a new password</h1>
      {done ? (
        <div class="card" role="status">
          <p>Your password is changed and every session was signed out.</p>
          <p>
            <a href="/login">Log in with the new password</a>
          </p>
        </div>
      ) : (
        <form onSubmit={submit} class="card form" noValidate>
          <ErrorBox error={error} />
          <Field label="New password" name="new_password" type="password" autocomplete="new-password" required value={pw} onValue={setPw} error={error} hint="10 to 128 characters, with at least two of letters, digits and other characters." />
          <button type="submit" disabled={busy}>
            {busy ? "Saving…" : "Set new password"}
          </button>
        </form>
      )}
    </section>
  );
}

/** `/verify-email?token=` (the emailed link) confirms the address. */
export function VerifyEmail() {
  useTitle("Verify email");
  const token = useStore(location).query.get("token");
  const s = useStore(session);
  const [done, setDone] = useState(false);
  const [submit, busy, error] = useSubmit(async () => {
    await api("/api/auth/verify-email", { method: "POST", body: { token }, auth: false });
    setDone(true);
    if (s.status === "signed-in") await reloadMe();
  });
  return (
    <section class="page narrow">
      <h1>Verify your email address</h1>
      {!token ? (
        <div class="card">
          <p>This page confirms an address with the link from the verification email. Open the link from the email, or ask for a new one on your <a href="/account">account page</a>.</p>
        </div>
      ) : done ? (
        <div class="card" role="status">
          <p>Thank you: your email address is verified.</p>
          <p>
            <a href="/">Continue</a>
          </p>
        </div>
      ) : (
        <form onSubmit={submit} class="card form">
          <ErrorBox error={error} />
          <p>Confirm the email address of your Agora account.</p>
          <button type="submit" disabled={busy}>
            {busy ? "Verifying…" : "Verify my email"}
          </button>
        </form>
      )}
    </section>
  );
}

export function Account() {
  useTitle("Account");
  const s = useStore(session);
  const user = s.status === "signed-in" ? s.user : null;
  const [names, setNames] = useState({ first_name: user?.first_name ?? "", last_name: user?.last_name ?? "", username: user?.username ?? "" });
  const [saved, setSaved] = useState(false);
  const [resent, setResent] = useState(false);
  const [save, saving, saveError] = useSubmit(async () => {
    setSaved(false);
    await api("/api/auth/me", { method: "PATCH", body: { first_name: names.first_name.trim(), last_name: names.last_name.trim(), ...(names.username.trim() ? { username: names.username.trim() } : {}) } });
    await reloadMe();
    setSaved(true);
  });
  const [resend, resending, resendError] = useSubmit(async () => {
    await api("/api/auth/verify-email/resend", { method: "POST" });
    setResent(true);
  });
  const [pw, setPw] = useState({ old_password: "", new_password: "" });
  const [pwDone, setPwDone] = useState(false);
  const [change, changing, changeError] = useSubmit(async () => {
    await api("/api/auth/password/change", { method: "POST", body: pw });
    setPwDone(true);
    setPw({ old_password: "", new_password: "" });
  });
  if (!user) return null;
  return (
    <section class="page narrow">
      <h1>Your account</h1>
      <div class="card">
        <dl class="facts">
          <dt>Email</dt>
          <dd>{user.email}</dd>
          <dt>Role</dt>
          <dd>{label(user.role)}</dd>
          <dt>Member since</dt>
          <dd>{date(user.created_at)}</dd>
          <dt>Email verified</dt>
          <dd>{user.email_verified ? "Yes" : "Not yet"}</dd>
        </dl>
        {!user.email_verified && (
          <div>
            <ErrorBox error={resendError} />
            {resent ? (
              <p role="status">A new verification email is on its way.</p>
            ) : (
              <button type="button" class="secondary" onClick={() => resend()} disabled={resending}>
                Send the verification email again
              </button>
            )}
          </div>
        )}
      </div>
      <form class="card form" onSubmit={save} noValidate>
        <h2>Profile</h2>
        <ErrorBox error={saveError} />
        <div class="row2">
          <Field label="First name" name="first_name" value={names.first_name} onValue={(v) => setNames({ ...names, first_name: v })} error={saveError} />
          <Field label="Last name" name="last_name" value={names.last_name} onValue={(v) => setNames({ ...names, last_name: v })} error={saveError} />
        </div>
        <Field label="Username" name="username" value={names.username} onValue={(v) => setNames({ ...names, username: v })} error={saveError} />
        <button type="submit" disabled={saving}>
          Save profile
        </button>
        {saved && <p role="status">Saved.</p>}
      </form>
      <form class="card form" onSubmit={change} noValidate>
        <h2>Password</h2>
        <ErrorBox error={changeError} />
        <Field label="Current password" name="old_password" type="password" autocomplete="current-password" value={pw.old_password} onValue={(v) => setPw({ ...pw, old_password: v })} error={changeError} />
        <Field label="New password" name="new_password" type="password" autocomplete="new-password" value={pw.new_password} onValue={(v) => setPw({ ...pw, new_password: v })} error={changeError} />
        <button type="submit" disabled={changing}>
          Change password
        </button>
        {pwDone && <p role="status">Password changed; your other sessions were signed out.</p>}
      </form>
      <p>
        <button type="button" class="secondary" onClick={() => void logout().finally(() => navigate("/login"))}>
          Log out
        </button>
      </p>
    </section>
  );
}

export { Select };
