// Test helpers: a real `agora` process on a free port with a fresh data dir.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";

export const PASSWORD = "correct horse battery 9";

/** The agora binary from AGORA_BIN; throws a clear message when it is missing. */
export function agoraBin() {
  const bin = process.env.AGORA_BIN;
  if (!bin) throw new Error("AGORA_BIN is not set: point it at an agora binary (e.g. target/debug/agora)");
  if (!existsSync(bin)) throw new Error(`AGORA_BIN=${bin} does not exist`);
  return bin;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `agora serve` on a free port with a fresh temporary data dir (rate limits off).
 * `restart()` starts it again on the same port and data dir; `stop(signal)` ends it.
 */
export async function startAgora(extraEnv = {}) {
  const bin = agoraBin();
  const dataDir = mkdtempSync(join(tmpdir(), "agora-sdk-test-"));
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    AGORA_DATA_DIR: dataDir,
    AGORA_LISTEN: `127.0.0.1:${port}`,
    AGORA_RATE_LIMITS: "off",
    AGORA_LOG: process.env.AGORA_TEST_LOG ?? "warn",
    ...extraEnv,
  };
  let child = null;
  let log = "";

  async function launch() {
    child = spawn(bin, ["serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
    const mine = child;
    mine.stdout.on("data", (d) => (log += d));
    mine.stderr.on("data", (d) => (log += d));
    let exited = null;
    mine.on("exit", (code, signal) => (exited = { code, signal }));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited) throw new Error(`agora exited early (${JSON.stringify(exited)}):\n${log.slice(-4000)}`);
      try {
        const res = await fetch(`${baseUrl}/api/ready`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`agora not ready after 30 s:\n${log.slice(-4000)}`);
      await sleep(50);
    }
  }

  async function stop(signal = "SIGTERM") {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise((resolve) => {
      c.once("exit", resolve);
      c.kill(signal);
    });
  }

  await launch();
  return {
    baseUrl,
    dataDir,
    get pid() {
      return child?.pid;
    },
    get log() {
      return log;
    },
    /** SIGSTOP / SIGCONT: a server that is there but silent. */
    pause() {
      child?.kill("SIGSTOP");
    },
    resume() {
      child?.kill("SIGCONT");
    },
    stop,
    restart: async (signal = "SIGKILL") => {
      await stop(signal);
      await launch();
    },
    async dispose() {
      if (child) {
        child.kill("SIGCONT");
        await stop("SIGKILL");
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

let counter = 0;
/** A unique user for this test run. */
export function newUser(role = "client") {
  counter += 1;
  const tag = `${process.pid}x${Date.now().toString(36)}x${counter}`;
  return { email: `u${tag}@example.com`, password: PASSWORD, role, username: `u${tag}`.slice(0, 32) };
}

/** The emails written to the outbox of a data dir, oldest first. */
export function outbox(dataDir) {
  const dir = join(dataDir, "outbox");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".eml"))
    .sort()
    .map((f) => readFileSync(join(dir, f), "utf8"));
}

/**
 * Waits until `predicate()` is true, polling; throws `what` with the last state on timeout.
 */
export async function waitUntil(predicate, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await predicate();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === "function" ? what() : what}`);
    await sleep(20);
  }
}

/** Waits for one event of an emitter (optionally matching `filter`). */
export function nextEvent(emitter, event, filter = () => true, timeoutMs = 15_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for event ${event}`));
    }, timeoutMs);
    const off = emitter.on(event, (arg) => {
      if (!filter(arg)) return;
      clearTimeout(timer);
      off();
      resolve(arg);
    });
  });
}

/**
 * A `ws` WebSocket subclass that records every instance and every frame written, so tests
 * can kill a socket abruptly (`terminate()`: the TCP connection is destroyed, no close
 * handshake) and check what went on the wire.
 */
export function recordingWebSocket() {
  const sockets = [];
  const sent = [];
  class RecordingWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      sockets.push(this);
    }
    send(data, ...rest) {
      sent.push(data);
      return super.send(data, ...rest);
    }
  }
  return { WebSocket: RecordingWebSocket, sockets, sent, last: () => sockets[sockets.length - 1] };
}
