// Test harness: one `agora serve` per run (fresh temp data dir, free port, binary from
// AGORA_BIN) and headless Chromium through playwright-core.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, existsSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts `agora serve`; `admin: {email, password}` first makes that admin account with
 * `agora admin create` in the same data dir (registration cannot make admins); `env` adds
 * settings (`AGORA_<KEY>`). */
export async function startAgora({ admin, env: extra = {} } = {}) {
  const bin = process.env.AGORA_BIN;
  if (!bin || !existsSync(bin)) throw new Error(`AGORA_BIN must name the agora binary (got ${bin ?? "nothing"})`);
  const dataDir = mkdtempSync(join(tmpdir(), "agora-web-e2e-"));
  const port = await freePort();
  const log = [];
  const env = {
    ...process.env,
    AGORA_DATA_DIR: dataDir,
    AGORA_LISTEN: `127.0.0.1:${port}`,
    AGORA_PUBLIC_URL: `http://localhost:${port}`,
    AGORA_LOG: "warn",
    // Several sign-ups, logins and a password reset run within one minute from one address.
    AGORA_RATE_AUTH_PER_MIN: "1000",
    ...extra,
  };
  if (admin) {
    const made = spawnSync(bin, ["admin", "create", "--email", admin.email, "--password", admin.password], { env, encoding: "utf8" });
    if (made.status !== 0) throw new Error(`agora admin create failed (${made.status}):\n${made.stdout}${made.stderr}`);
  }
  const child = spawn(bin, ["serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.on("data", (d) => log.push(String(d)));
  child.stderr.on("data", (d) => log.push(String(d)));
  const base = `http://localhost:${port}`;
  const deadline = Date.now() + 30000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`agora exited with ${child.exitCode}:\n${log.join("")}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/api/health`);
      if (r.ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`agora did not become healthy:\n${log.join("")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    dataDir,
    log,
    outbox: join(dataDir, "outbox"),
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
}

/** The newest outbox mail whose decoded text matches `re`; answers the first capture group. */
export async function mailMatching(outbox, re, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(outbox)) {
      const files = readdirSync(outbox).filter((f) => f.endsWith(".eml")).sort().reverse();
      for (const f of files) {
        const raw = readFileSync(join(outbox, f), "utf8");
        const text = decodeMail(raw);
        const m = text.match(re);
        if (m) return m[1];
      }
    }
    if (Date.now() > deadline) throw new Error(`no mail in ${outbox} matches ${re}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function decodeMail(raw) {
  let text = raw;
  if (/content-transfer-encoding:\s*quoted-printable/i.test(raw)) {
    text = raw.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
  } else if (/content-transfer-encoding:\s*base64/i.test(raw)) {
    const body = raw.split(/\r?\n\r?\n/).slice(1).join("\n").replace(/\s+/g, "");
    text = raw + Buffer.from(body, "base64").toString("utf8");
  }
  return text;
}

/** REST with a bearer token, for test set-up the UI has no page for (a provider's profile and service). */
export async function rest(base, path, { token, method = "GET", body } = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}
