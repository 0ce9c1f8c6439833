// Token refresh: 401 -> one shared refresh -> retry; WebSocket 4001 -> refresh -> reconnect;
// rotation (a refresh token works once); browser sessions with the cookie and X-CSRF-Token.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { AgoraClient, AgoraError } from "../dist/index.js";
import { newUser, nextEvent, sleep, startAgora, waitUntil } from "./support/helpers.mjs";

/** A fetch that counts the requests to each path. */
function countingFetch() {
  const counts = new Map();
  const f = (url, init) => {
    const path = new URL(url).pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    return fetch(url, init);
  };
  return { fetch: f, count: (path) => counts.get(path) ?? 0 };
}

/** A fetch with a cookie jar (what a browser does for the session cookies). */
function cookieJarFetch() {
  const jar = new Map();
  const f = async (url, init = {}) => {
    const headers = new Headers(init.headers);
    if (jar.size > 0) headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await fetch(url, { ...init, headers });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const maxAge = attrs.map((a) => a.trim().toLowerCase()).find((a) => a.startsWith("max-age="));
      if (value === "" || maxAge === "max-age=0") jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  };
  return { fetch: f, jar };
}

describe("token refresh", () => {
  let server;
  before(async () => {
    // Access tokens live 1 s (plus the server's 5 s leeway), so a test can see them expire.
    server = await startAgora({ AGORA_ACCESS_TOKEN_TTL_SECS: "1" });
  });
  after(async () => {
    await server?.dispose();
  });

  test("401 on REST -> one refresh shared by concurrent requests -> retried; rotation stores the new pair", async () => {
    const c = countingFetch();
    const expired = [];
    const user = newUser();
    const setup = new AgoraClient({ baseUrl: server.baseUrl });
    await setup.auth.register(user);
    const agora = new AgoraClient({ baseUrl: server.baseUrl, fetch: c.fetch, onSessionExpired: (e) => expired.push(e) });
    const login = await agora.auth.login({ email: user.email, password: user.password });
    const first = agora.http.getTokens();
    assert.equal(first.refresh, login.refresh);

    // Let the access token expire for real (exp + leeway).
    await sleep(7000);
    const meCallsBefore = c.count("/api/auth/me");
    const answers = await Promise.all(Array.from({ length: 5 }, () => agora.auth.me()));
    for (const me of answers) assert.equal(me.id, login.user.id);
    assert.equal(c.count("/api/auth/refresh"), 1, "five concurrent 401s made exactly one refresh");
    assert.equal(agora.http.refreshCount, 1);
    assert.equal(c.count("/api/auth/me") - meCallsBefore, 10, "each request: once refused, once retried");
    const second = agora.http.getTokens();
    assert.notEqual(second.access, first.access);
    assert.notEqual(second.refresh, first.refresh, "the refresh token was rotated");

    // The spent refresh token is refused (and revokes the session: that is the server's reuse detection).
    const reuse = await fetch(`${server.baseUrl}/api/auth/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh: first.refresh }),
    });
    assert.equal(reuse.status, 401);
    assert.equal((await reuse.json()).error.code, "refresh_token_reused");
    // Now the whole family is revoked: the SDK's refresh fails, it tells the app once and forgets the tokens.
    await assert.rejects(agora.auth.me(), (e) => e instanceof AgoraError && e.status === 401);
    assert.equal(expired.length, 1);
    assert.equal(agora.http.getTokens().access, null);
    assert.equal(agora.http.getTokens().refresh, null);
  });

  test("WebSocket close 4001 with an expired token -> refresh -> reconnect; REST and socket share the refresh", async () => {
    const c = countingFetch();
    const user = newUser();
    const agora = new AgoraClient({ baseUrl: server.baseUrl, fetch: c.fetch, WebSocket });
    const reg = await agora.auth.register(user);
    const firstAccess = agora.http.accessToken;
    await sleep(7000);

    const rt = agora.realtime({ backoff: { initialMs: 100, maxMs: 500 } });
    const closes = [];
    rt.on("close", (e) => closes.push(e));
    const hello = nextEvent(rt, "hello");
    rt.connect();
    // A REST call at the same moment, with the same expired token.
    const me = await agora.auth.me();
    assert.equal(me.id, reg.user.id);
    assert.equal((await hello).user_id, reg.user.id);
    assert.equal(closes[0]?.code, 4001, "the server refused the expired token with 4001");
    assert.equal(c.count("/api/auth/refresh"), 1, "one refresh for the socket and the REST call");
    assert.notEqual(agora.http.accessToken, firstAccess);
    assert.equal(rt.state, "open");
    rt.close();
  });

  test("an unrefreshable session ends in state `unauthorized`, not a reconnect loop", async () => {
    const agora = new AgoraClient({ baseUrl: server.baseUrl, WebSocket, tokens: { access: "not-a-jwt", refresh: "not-a-jwt-either" } });
    const rt = agora.realtime({ backoff: { initialMs: 50, maxMs: 100 } });
    rt.connect();
    await waitUntil(() => rt.state === "unauthorized", () => `state unauthorized (is ${rt.state})`);
    const connects = rt.stats.connects;
    await sleep(500);
    assert.equal(rt.stats.connects, connects, "no further connection attempts");
    assert.equal(connects, 1);
    rt.close();
  });
});

describe("browser session (cookie + X-CSRF-Token)", () => {
  let server;
  before(async () => {
    server = await startAgora();
  });
  after(async () => {
    await server?.dispose();
  });

  test("sessionLogin keeps no refresh token; refresh and logout use the cookie with the CSRF header", async () => {
    const user = newUser();
    await new AgoraClient({ baseUrl: server.baseUrl }).auth.register(user);
    const browser = cookieJarFetch();
    const agora = new AgoraClient({ baseUrl: server.baseUrl, fetch: browser.fetch });
    const s = await agora.auth.sessionLogin({ username: user.username, password: user.password });
    assert.equal(typeof s.csrf, "string");
    assert.equal(agora.http.getTokens().refresh, null, "the refresh token is not readable by the app");
    assert.equal(agora.http.getTokens().csrf, s.csrf);
    assert.ok(browser.jar.has("agora_refresh"), "the refresh cookie was set");
    const cookieBefore = browser.jar.get("agora_refresh");

    // Without the CSRF header the cookie refresh is refused.
    const noCsrf = await browser.fetch(`${server.baseUrl}/api/auth/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(noCsrf.status, 403);
    assert.equal((await noCsrf.json()).error.code, "csrf_failed");

    const before = agora.http.accessToken;
    const tokens = await agora.auth.refresh();
    assert.notEqual(tokens.access, before);
    assert.notEqual(browser.jar.get("agora_refresh"), cookieBefore, "the cookie was rotated");
    assert.equal((await agora.auth.me()).id, s.user.id);

    await agora.auth.logout();
    assert.equal(agora.http.accessToken, null);
    assert.equal(browser.jar.has("agora_refresh"), false, "logout cleared the cookie");
    const after = await fetch(`${server.baseUrl}/api/auth/me`, { headers: { authorization: `Bearer ${tokens.access}` } });
    assert.equal(after.status, 401, "the access token stopped working");
  });
});
