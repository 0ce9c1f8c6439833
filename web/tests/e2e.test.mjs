// Browser end-to-end tests of the web app in real headless Chromium against a fresh
// `agora serve` (AGORA_BIN) that serves web/dist. Run: AGORA_BIN=... npm run test:e2e
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdirSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { launch, mailMatching, rest, startAgora } from "./harness.mjs";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const shots = join(web, "screenshots");
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const PASSWORD = "correct horse battery 9";
const stamp = Date.now().toString(36);
const alice = { first: "Alice", last: "Client", email: `alice-${stamp}@example.com`, role: "client" };
const bob = { first: "Bob", last: "Provider", email: `bob-${stamp}@example.com`, role: "provider" };

let agora, browser, ctxA, ctxB, pageA, pageB;
const problems = []; // CSP refusals and uncaught errors, per page
const state = {};

function watch(page, who) {
  page.on("console", (m) => {
    // Refused requests (4xx) are part of the flows under test (a spent reset token, a wrong password).
    if (m.type() === "error" && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) problems.push(`${who} console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${who} pageerror: ${e.message}`));
}

before(async () => {
  agora = await startAgora();
  browser = await launch();
  ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  ctxB = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  pageA = await ctxA.newPage();
  pageB = await ctxB.newPage();
  watch(pageA, "alice");
  watch(pageB, "bob");
});

after(async () => {
  await browser?.close();
  await agora?.stop();
});

async function signup(page, who) {
  await page.goto(`${agora.base}/signup`);
  await page.getByLabel(new RegExp(`^${who.role === "client" ? "Client" : "Provider"}`)).check();
  await page.getByLabel("First name").fill(who.first);
  await page.getByLabel("Last name").fill(who.last);
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.locator(".who", { hasText: `${who.first} ${who.last}` }).waitFor();
  await page.locator(".conn-online").waitFor();
}

test("the initial JavaScript stays within 150 KB gzipped", () => {
  const html = readFileSync(join(web, "dist/index.html"), "utf8");
  const refs = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
  assert.ok(refs.some((r) => r.endsWith(".js")), "index.html references a script under /assets/");
  assert.ok(!/<script(?![^>]*src=)[^>]*>/.test(html), "no inline script in index.html");
  assert.ok(!/<style/.test(html), "no inline style in index.html");
  let js = 0;
  for (const r of refs.filter((r) => r.endsWith(".js"))) {
    const file = join(web, "dist", r);
    js += gzipSync(readFileSync(file), { level: 9 }).length;
    assert.ok(statSync(`${file}.gz`).size > 0 && statSync(`${file}.br`).size > 0, `${r} has .gz and .br copies`);
  }
  console.log(`# budget: initial JS ${(js / 1024).toFixed(1)} KB gzipped (limit 150 KB)`);
  assert.ok(js <= 150 * 1024, `initial JS is ${js} bytes gzipped`);
});

test("the first page is usable within a second on localhost", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  watch(page, "anonymous");
  await page.goto(`${agora.base}/services`); // warm the server's first-request paths
  // Measured in the page: milliseconds from the navigation's start until the heading is shown
  // and the list has answered (here its empty state), polled every animation frame. Three
  // loads, the best one counts (the machine may be busy with other work).
  const runs = [];
  for (let i = 0; i < 3; i++) {
    await page.goto(`${agora.base}/services`, { waitUntil: "commit" });
    const handle = await page.waitForFunction(
      () => (document.querySelector("main h1")?.textContent === "Services" && document.querySelector(".empty") ? Math.round(performance.now()) : null),
      null,
      { polling: "raf", timeout: 10000 },
    );
    runs.push(await handle.jsonValue());
  }
  const ms = Math.min(...runs);
  console.log(`# budget: first usable page ${ms} ms (best of ${runs.join(", ")} ms; limit 1000 ms)`);
  assert.ok(ms < 1000, `first usable page took ${ms} ms`);
  // The CSP the server sends is the app's, and the app runs under it.
  const res = await page.request.get(`${agora.base}/services`);
  assert.match(res.headers()["content-security-policy"] ?? "", /script-src 'self'/);
  await ctx.close();
});

test("two people sign up: a client and a provider", async () => {
  await signup(pageA, alice);
  await signup(pageB, bob);
  assert.equal(new URL(pageA.url()).pathname, "/jobs/mine");
  assert.equal(new URL(pageB.url()).pathname, "/jobs");
  // The access token is kept in memory only: nothing in storage, the refresh cookie is HttpOnly.
  const stored = await pageA.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage));
  assert.ok(!/eyJ/.test(stored), "no JWT in web storage");
  const refresh = (await ctxA.cookies()).find((c) => c.name === "agora_refresh");
  assert.ok(refresh?.httpOnly, "the refresh cookie is HttpOnly");
});

test("a signup with a weak password shows the envelope's field error", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${agora.base}/signup`);
  await page.getByLabel("Email").fill(`weak-${stamp}@example.com`);
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /password/i);
  assert.equal(await page.getByLabel("Password").getAttribute("aria-invalid"), "true");
  await ctx.close();
});

test("the client posts a job, the provider proposes, the bell rings live, the client accepts", async () => {
  await pageA.getByRole("link", { name: "Post a job" }).first().click();
  await pageA.getByLabel("Title").fill("Design a logo for a bakery");
  await pageA.getByLabel("Description").fill("A friendly logo for a small neighbourhood bakery, in two colours, with source files.");
  await pageA.getByLabel("Budget from ($)").fill("200");
  await pageA.getByLabel("Budget up to ($)").fill("450");
  await pageA.getByRole("button", { name: "Post job" }).click();
  await pageA.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
  state.jobUrl = new URL(pageA.url()).pathname;
  await pageA.getByRole("heading", { name: "Design a logo for a bakery" }).waitFor();
  await pageA.getByText("No proposals yet").waitFor();
  assert.equal(await pageA.getByTestId("bell-count").count(), 0, "no unread notification yet");

  await pageB.goto(`${agora.base}/jobs`);
  await pageB.getByRole("link", { name: "Design a logo for a bakery" }).click();
  await pageB.getByLabel("Your price ($)").fill("380");
  await pageB.getByLabel("Message to the client").fill("Hi Alice, I design logos for food shops. Happy to help!");
  await pageB.getByRole("button", { name: "Send proposal" }).click();
  await pageB.getByTestId("proposal").waitFor();
  assert.match(await pageB.getByTestId("proposal").textContent(), /\$380\.00/);
  assert.ok(await pageB.getByRole("button", { name: "Withdraw proposal" }).isVisible());

  // Alice never reloads: the bell's count and the proposal list update from the socket.
  await pageA.getByTestId("bell-count").waitFor({ timeout: 10000 });
  assert.equal((await pageA.getByTestId("bell-count").textContent()).trim(), "1");
  await pageA.getByTestId("proposal").waitFor({ timeout: 10000 });
  await pageA.getByRole("button", { name: /Notifications, 1 unread/ }).click();
  const panel = pageA.getByRole("region", { name: "Recent notifications" });
  await panel.waitFor();
  assert.match(await panel.textContent(), /New proposal/);
  await pageA.screenshot({ path: join(shots, "bell-open-desktop.png") });
  await pageA.keyboard.press("Escape");
  assert.equal(await panel.count(), 0, "Escape closes the bell's panel");

  await pageA.getByRole("button", { name: "Accept proposal" }).click();
  await pageA.waitForURL(/\/contracts\/[0-9a-f-]{36}$/);
  state.contractUrl = new URL(pageA.url()).pathname;
  assert.match(await pageA.getByTestId("contract-status").textContent(), /Pending/);
  await pageA.getByText("proposal accepted").waitFor();

  await pageB.goto(`${agora.base}/contracts`);
  const row = pageB.getByTestId("contract");
  await row.waitFor();
  assert.match(await row.textContent(), /Design a logo for a bakery/);
  assert.match(await row.textContent(), /Pending/);
  await row.getByRole("link").click();
  await pageB.waitForURL(`${agora.base}${state.contractUrl}`);
  assert.match(await pageB.getByTestId("contract-status").textContent(), /Pending/);
});

test("a withdrawn proposal can no longer be accepted (the provider withdraws a second one)", async () => {
  // Alice posts another job; Bob proposes and withdraws; Alice sees it withdrawn.
  await pageA.goto(`${agora.base}/jobs/new`);
  await pageA.getByLabel("Title").fill("Bake-sale flyer");
  await pageA.getByLabel("Description").fill("One A5 flyer for a weekend bake sale.");
  await pageA.getByRole("button", { name: "Post job" }).click();
  await pageA.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
  const url = new URL(pageA.url()).pathname;
  await pageB.goto(`${agora.base}${url}`);
  await pageB.getByLabel("Your price ($)").fill("60");
  await pageB.getByRole("button", { name: "Send proposal" }).click();
  await pageB.getByRole("button", { name: "Withdraw proposal" }).click();
  await pageB.getByTestId("proposal").filter({ hasText: "Withdrawn" }).waitFor();
  await pageA.reload();
  await pageA.getByTestId("proposal").filter({ hasText: "Withdrawn" }).waitFor();
  assert.equal(await pageA.getByRole("button", { name: "Accept proposal" }).count(), 0);
});

test("the two chat live: typing indicator, messages both ways, a read receipt", async () => {
  await pageA.goto(`${agora.base}${state.contractUrl}`);
  await pageA.getByRole("button", { name: "Message" }).click();
  await pageA.waitForURL(/\/conversations\/[0-9a-f-]{36}$/);
  state.convUrl = new URL(pageA.url()).pathname;
  await pageA.getByText("No messages yet. Say hello!").waitFor();

  await pageB.goto(`${agora.base}${state.convUrl}`);
  await pageB.getByText("No messages yet. Say hello!").waitFor();
  await pageB.getByTestId("presence").filter({ hasText: "Online" }).waitFor({ timeout: 10000 });

  await pageA.getByLabel("Message", { exact: true }).fill("Hi Bob, when can you start?");
  await pageB.getByTestId("typing").filter({ hasText: "Alice Client is typing…" }).waitFor({ timeout: 5000 });
  await pageA.getByRole("button", { name: "Send" }).click();
  await pageB.getByTestId("message").filter({ hasText: "Hi Bob, when can you start?" }).waitFor({ timeout: 5000 });
  // Sending clears the indicator.
  await pageB.getByTestId("typing").filter({ hasText: /^$/ }).waitFor({ timeout: 5000 });
  // Bob has the conversation open, so it is read: Alice sees the receipt.
  await pageA.getByTestId("seen").waitFor({ timeout: 5000 });

  await pageB.getByLabel("Message", { exact: true }).fill("Tomorrow morning works for me.");
  await pageA.getByTestId("typing").filter({ hasText: "Bob Provider is typing…" }).waitFor({ timeout: 5000 });
  await pageB.getByLabel("Message", { exact: true }).press("Enter");
  await pageA.getByTestId("message").filter({ hasText: "Tomorrow morning works for me." }).waitFor({ timeout: 5000 });
  await pageB.getByTestId("seen").waitFor({ timeout: 5000 });
  const seqs = await pageA.getByTestId("message").evaluateAll((els) => els.map((e) => e.dataset.seq));
  assert.deepEqual(seqs, ["1", "2"], "both messages stored, in order, once each");
});

test("a message sent while the other is elsewhere shows as unread in the conversation list", async () => {
  await pageB.goto(`${agora.base}/conversations`);
  await pageB.getByTestId("conversation").waitFor();
  await pageA.getByLabel("Message", { exact: true }).fill("One more thing: two colours only.");
  await pageA.getByLabel("Message", { exact: true }).press("Enter");
  const unread = pageB.getByTestId("conversation").getByTestId("unread");
  await unread.waitFor({ timeout: 5000 });
  assert.equal((await unread.textContent()).trim(), "1 unread");
  assert.match(await pageB.getByTestId("conversation").textContent(), /two colours only/);
  await pageB.getByTestId("conversation").click();
  await pageB.getByTestId("message").filter({ hasText: "two colours only" }).waitFor();
  await unread.waitFor({ state: "detached", timeout: 5000 });
});

test("reloading mid-conversation loses nothing", async () => {
  await pageA.reload();
  await pageA.locator(".who", { hasText: "Alice Client" }).waitFor();
  assert.equal(new URL(pageA.url()).pathname, state.convUrl, "still on the conversation, still signed in");
  await pageA.getByTestId("message").filter({ hasText: "two colours only" }).waitFor();
  const bodies = await pageA.getByTestId("message").allTextContents();
  assert.equal(bodies.length, 3, `three messages after the reload: ${bodies.join(" | ")}`);
  assert.match(bodies[0], /when can you start/);
  assert.match(bodies[1], /Tomorrow morning/);
  assert.match(bodies[2], /two colours only/);
  await pageA.getByTestId("seen").waitFor({ timeout: 5000 });
  // The socket is back: a new message still goes both ways live.
  await pageA.locator(".conn-online").waitFor();
  await pageB.getByLabel("Message", { exact: true }).fill("Noted!");
  await pageB.getByLabel("Message", { exact: true }).press("Enter");
  await pageA.getByTestId("message").filter({ hasText: "Noted!" }).waitFor({ timeout: 5000 });
});

test("a fresh tab of the sender shows Seen from the server's read cursors", async () => {
  // Alice's newest own message (seq 3) was read by Bob. A new browser context has no cache
  // of any read frame, and nobody reads anything while it opens: "Seen" comes from read_seqs.
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  watch(page, "alice (fresh tab)");
  await page.goto(`${agora.base}/login?next=${encodeURIComponent(state.convUrl)}`);
  await page.getByLabel("Email or username").fill(alice.email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL((u) => u.pathname === state.convUrl);
  await page.getByTestId("message").filter({ hasText: "Noted!" }).waitFor({ timeout: 5000 });
  const seen = page.getByTestId("seen");
  await seen.waitFor({ timeout: 5000 });
  assert.equal(await seen.count(), 1, "one Seen marker");
  const seenOn = await page.getByTestId("message").filter({ has: seen }).getAttribute("data-seq");
  assert.equal(seenOn, "3", "Seen marks Alice's newest message that Bob read");
  const cached = await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith("agora.reads.")));
  assert.deepEqual(cached, [], "no per-tab receipt cache");
  await ctx.close();
});

test("history paging: older messages load on demand, in order", async () => {
  // 35 more messages from Bob through the API (a second session of his), then Alice reopens.
  const login = await rest(agora.base, "/api/auth/login", { method: "POST", body: { email: bob.email, password: PASSWORD } });
  const convId = state.convUrl.split("/").pop();
  for (let i = 1; i <= 35; i++) {
    await rest(agora.base, `/api/conversations/${convId}/messages`, { method: "POST", token: login.access, body: { body: `Batch message ${i}`, client_msg_id: `e2e-batch-${i}` } });
  }
  await pageA.goto(`${agora.base}${state.convUrl}`);
  await pageA.getByTestId("message").filter({ hasText: "Batch message 35" }).waitFor();
  const first = await pageA.getByTestId("message").count();
  assert.equal(first, 30, "the first page holds 30 messages");
  await pageA.getByRole("button", { name: "Load earlier messages" }).click();
  await pageA.getByTestId("message").filter({ hasText: "when can you start" }).waitFor();
  const seqs = (await pageA.getByTestId("message").evaluateAll((els) => els.map((e) => Number(e.dataset.seq))));
  assert.equal(seqs.length, 39);
  assert.deepEqual(seqs, Array.from({ length: 39 }, (_, i) => i + 1), "every seq once, in order");
  assert.equal(await pageA.getByRole("button", { name: "Load earlier messages" }).count(), 0, "nothing older is left");
});

test("presence: the other side goes offline when the last tab closes, and back online", async () => {
  await pageA.goto(`${agora.base}${state.convUrl}`);
  await pageA.getByTestId("presence").filter({ hasText: "Online" }).waitFor({ timeout: 10000 });
  await pageB.close();
  await pageA.getByTestId("presence").filter({ hasText: "Offline" }).waitFor({ timeout: 10000 });
  pageB = await ctxB.newPage();
  watch(pageB, "bob");
  await pageB.goto(`${agora.base}/conversations`);
  await pageB.locator(".conn-online").waitFor();
  await pageA.getByTestId("presence").filter({ hasText: "Online" }).waitFor({ timeout: 10000 });
});

test("password reset by the emailed link, and email verification", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  watch(page, "reset");
  await page.goto(`${agora.base}/login`);
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await page.getByLabel("Email").fill(bob.email);
  await page.getByRole("button", { name: "Send reset link" }).click();
  await page.getByText("an email with a reset link is on its way").waitFor();
  const token = await mailMatching(agora.outbox, /\/reset-password\?token=([A-Za-z0-9_-]+)/);
  await page.goto(`${agora.base}/reset-password?token=${token}`);
  await page.getByLabel("New password").fill("a brand new secret 42");
  await page.getByRole("button", { name: "Set new password" }).click();
  await page.getByText("Your password is changed").waitFor();
  // A used token is refused with the server's message.
  await page.goto(`${agora.base}/reset-password?token=${token}`);
  await page.getByLabel("New password").fill("another new secret 43");
  await page.getByRole("button", { name: "Set new password" }).click();
  await page.getByRole("alert").waitFor();
  // Log in with the new password.
  await page.goto(`${agora.base}/login`);
  await page.getByLabel("Email or username").fill(bob.email);
  await page.getByLabel("Password").fill("a brand new secret 42");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator(".who", { hasText: "Bob Provider" }).waitFor();

  const vtoken = await mailMatching(agora.outbox, /\/verify-email\?token=([A-Za-z0-9_-]+)/);
  await page.goto(`${agora.base}/verify-email?token=${vtoken}`);
  await page.getByRole("button", { name: "Verify my email" }).click();
  await page.getByText("your email address is verified").waitFor();
  await page.goto(`${agora.base}/account`);
  await page.locator("dd", { hasText: /^Yes$/ }).waitFor();
  await ctx.close();
  // The reset signed Bob's sessions out; log the main page back in for what follows.
  await pageB.goto(`${agora.base}/login`);
  await pageB.getByLabel("Email or username").fill(bob.email);
  await pageB.getByLabel("Password").fill("a brand new secret 42");
  await pageB.getByRole("button", { name: "Log in" }).click();
  await pageB.locator(".who", { hasText: "Bob Provider" }).waitFor();
});

test("notification preferences are saved", async () => {
  await pageA.goto(`${agora.base}/alerts`);
  await pageA.getByRole("heading", { name: "New proposal" }).first().waitFor();
  const box = pageA.getByLabel("Message by email");
  await box.waitFor();
  const was = await box.isChecked();
  await box.setChecked(!was);
  await pageA.getByLabel("Email digest").selectOption("daily");
  await pageA.getByRole("button", { name: "Save preferences" }).click();
  await pageA.getByText("Preferences saved.").waitFor();
  await pageA.reload();
  await pageA.getByLabel("Message by email").waitFor();
  assert.equal(await pageA.getByLabel("Message by email").isChecked(), !was);
  assert.equal(await pageA.getByLabel("Email digest").inputValue(), "daily");
  // Mark all read clears the bell's count.
  await pageA.getByTestId("bell-count").waitFor();
  await pageA.getByRole("button", { name: "Mark all read" }).click();
  await pageA.getByTestId("bell-count").waitFor({ state: "detached", timeout: 5000 });
  await pageA.locator(".notes-page .unread").first().waitFor({ state: "detached", timeout: 5000 });
  assert.equal(await pageA.locator(".notes-page .unread").count(), 0, "no notification left unread");
});

test("services and providers: browse, search, like, reviews section", async () => {
  // A third person signs up as a provider, makes her profile and offers a service.
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  watch(page, "carol");
  await signup(page, { first: "Carol", last: "Baker", email: `carol-${stamp}@example.com`, role: "provider" });
  await page.getByRole("link", { name: "My profile" }).click();
  await page.getByLabel("About you").fill("Pastry chef and cake designer.");
  await page.getByLabel("Hourly rate ($)").fill("40");
  await page.getByLabel("City").fill("Lyon");
  await page.getByLabel("Country").fill("France");
  await page.getByRole("button", { name: "Create profile" }).click();
  await page.getByRole("link", { name: "See your public profile" }).waitFor();
  state.providerUrl = new URL(await page.getByRole("link", { name: "See your public profile" }).evaluate((a) => a.href)).pathname;
  await page.getByLabel("Service title").fill("Wedding cake design");
  await page.getByLabel("Service description").fill("A three-tier wedding cake designed with you.");
  await page.getByLabel("Price ($)").fill("350");
  await page.getByLabel("Duration (minutes)").fill("120");
  await page.getByLabel("Tags (comma-separated)").fill("cakes, weddings");
  await page.getByRole("button", { name: "Publish service" }).click();
  await page.waitForURL(/\/services\/[0-9a-f-]{36}$/);
  state.serviceUrl = new URL(page.url()).pathname;
  await page.getByRole("heading", { name: "Wedding cake design" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "♡ Like" }).count(), 0, "no liking one's own service");
  await ctx.close();

  await pageA.goto(`${agora.base}/services`);
  await pageA.getByRole("link", { name: "Wedding cake design" }).waitFor();
  await pageA.getByLabel("Search", { exact: true }).fill("wedding");
  await pageA.getByLabel("Order by").selectOption("price");
  await pageA.getByRole("button", { name: "Search" }).click();
  await pageA.waitForURL(/q=wedding/);
  assert.match(pageA.url(), /ordering=price/);
  await pageA.getByRole("link", { name: "Wedding cake design" }).waitFor();
  await pageA.getByLabel("Search", { exact: true }).fill("plumbing");
  await pageA.getByRole("button", { name: "Search" }).click();
  await pageA.getByText("No services match").waitFor();

  await pageA.goto(`${agora.base}${state.serviceUrl}`);
  await pageA.getByRole("heading", { name: "Wedding cake design" }).waitFor();
  assert.equal((await pageA.getByTestId("likes").textContent()).trim(), "0");
  await pageA.getByRole("button", { name: "♡ Like" }).click();
  await pageA.getByRole("button", { name: "♥ Liked" }).waitFor();
  assert.equal((await pageA.getByTestId("likes").textContent()).trim(), "1");
  await pageA.reload();
  await pageA.getByRole("button", { name: "♥ Liked" }).waitFor();
  await pageA.getByText("No reviews yet.").waitFor();

  await pageA.goto(`${agora.base}/providers?city=Lyon`);
  await pageA.getByRole("link", { name: "Carol Baker" }).click();
  await pageA.getByRole("heading", { name: "Carol Baker" }).waitFor();
  await pageA.getByRole("link", { name: "Wedding cake design" }).waitFor();
});

test("a booking request from a service page, listed on both sides", async () => {
  await pageA.goto(`${agora.base}${state.serviceUrl}`);
  const start = new Date(Date.now() + 3 * 86400000);
  start.setHours(10, 0, 0, 0);
  const local = `${start.getFullYear()}-${String(start.getMonth() + 1).padStart(2, "0")}-${String(start.getDate()).padStart(2, "0")}T10:00`;
  await pageA.getByLabel("Start").fill(local);
  await pageA.getByRole("button", { name: "Request booking" }).click();
  await pageA.waitForURL(/\/bookings\/[0-9a-f-]{36}$/);
  state.bookingUrl = new URL(pageA.url()).pathname;
  await pageA.getByText("Requested").first().waitFor();
  await pageA.goto(`${agora.base}/bookings`);
  await pageA.getByRole("link", { name: "Wedding cake design" }).waitFor();
  // The iCalendar export (fetched with the bearer token, handed over as a file) ...
  const [download] = await Promise.all([pageA.waitForEvent("download"), pageA.getByRole("button", { name: "Download my bookings (.ics)" }).click()]);
  assert.equal(download.suggestedFilename(), "agora-bookings.ics");
  const ics = readFileSync(await download.path(), "utf8");
  assert.match(ics, /BEGIN:VCALENDAR/);
  assert.match(ics, /BEGIN:VEVENT/);
  // ... and the private subscription link, which works without a login.
  await pageA.getByRole("button", { name: "Get a calendar subscription link" }).click();
  const feed = await pageA.getByLabel("Private calendar feed address").inputValue();
  assert.match(feed, /\/api\/calendar\/feed\/[^/]+\.ics$/);
  const res = await fetch(feed);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /BEGIN:VCALENDAR/);
});

test("the provider answers the booking: a refused confirm shows the server's reason, a decline shows live", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  watch(page, "carol");
  await page.goto(`${agora.base}/login?next=${encodeURIComponent(state.bookingUrl)}`);
  await page.getByLabel("Email or username").fill(`carol-${stamp}@example.com`);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${agora.base}${state.bookingUrl}`);
  await pageA.goto(`${agora.base}${state.bookingUrl}`);
  await pageA.locator(".badge", { hasText: "Requested" }).waitFor();
  // Confirming charges the client's saved card; Alice has none, and the envelope says so.
  await page.getByRole("button", { name: "Confirm" }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /payment method|card/i);
  await page.getByRole("button", { name: "Decline" }).click();
  await page.locator(".badge", { hasText: "Declined" }).waitFor();
  await pageA.locator(".badge", { hasText: "Declined" }).waitFor({ timeout: 10000 });
  await ctx.close();
});

test("a contract status change shows on the other side live, with its history", async () => {
  await pageB.goto(`${agora.base}${state.contractUrl}`);
  await pageB.getByTestId("contract-status").filter({ hasText: "Pending" }).waitFor();
  await pageA.goto(`${agora.base}${state.contractUrl}`);
  await pageA.getByRole("button", { name: "Cancel contract" }).click();
  await pageA.getByLabel("Reason (optional)").fill("Plans changed");
  await pageA.getByRole("button", { name: "Confirm: cancel contract" }).click();
  await pageA.getByTestId("contract-status").filter({ hasText: "Cancelled" }).waitFor();
  await pageA.getByText("(Plans changed)").waitFor();
  // Bob's page was not reloaded: the contract notification refreshes it.
  await pageB.getByTestId("contract-status").filter({ hasText: "Cancelled" }).waitFor({ timeout: 10000 });
  await pageB.getByText("(Plans changed)").waitFor();
  assert.equal(await pageB.getByRole("button", { name: "Cancel contract" }).count(), 0, "no action is left on a cancelled contract");
});

const pages = () => [
  ["login", null, "/login"],
  ["signup", null, "/signup"],
  ["reset-password", null, "/reset-password"],
  ["verify-email", null, "/verify-email"],
  ["services", pageA, "/services"],
  ["service", pageA, state.serviceUrl],
  ["providers", pageA, "/providers"],
  ["provider", pageA, state.providerUrl],
  ["profile", pageB, "/profile"],
  ["jobs-open", pageB, "/jobs"],
  ["jobs-mine", pageA, "/jobs/mine"],
  ["job-new", pageA, "/jobs/new"],
  ["job", pageA, state.jobUrl],
  ["proposals", pageB, "/proposals"],
  ["contracts", pageA, "/contracts"],
  ["contract", pageB, state.contractUrl],
  ["conversations", pageB, "/conversations"],
  ["conversation", pageA, state.convUrl],
  ["notifications", pageA, "/alerts"],
  ["bookings", pageA, "/bookings"],
  ["booking", pageA, state.bookingUrl],
  ["account", pageA, "/account"],
  ["not-found", null, "/no-such-page"],
];

test("every page: 0 serious or critical axe violations; screenshots at phone and desktop width", async () => {
  const anon = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const anonPage = await anon.newPage();
  watch(anonPage, "anonymous");
  const failures = [];
  let worstShift = 0;
  for (const [name, owner, path] of pages()) {
    assert.ok(path, `${name} has a path`);
    const page = owner ?? anonPage;
    for (const [label, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
      await page.setViewportSize(viewport);
      await page.goto(`${agora.base}${path}`);
      await page.locator("main h1").first().waitFor({ state: "attached" }).catch(() => assert.fail(`${name} (${label}): no h1 at ${page.url()}`));
      await page.waitForFunction(() => !document.querySelector(".loading"), null, { timeout: 10000 });
      await page.waitForTimeout(150);
      await page.screenshot({ path: join(shots, `${name}-${label}.png`), fullPage: false });
      // Layout shift while the page loaded (Chromium's layout-shift entries, as CLS counts them).
      const cls = await page.evaluate(
        () =>
          new Promise((resolve) => {
            let sum = 0;
            const why = [];
            new PerformanceObserver((list) => {
              for (const e of list.getEntries()) {
                if (e.hadRecentInput) continue;
                sum += e.value;
                for (const src of e.sources ?? []) {
                  const n = src.node;
                  why.push(`${e.value.toFixed(3)} ${n ? `${n.nodeName}.${n.className ?? ""} "${(n.textContent ?? "").slice(0, 30)}"` : "?"} y ${Math.round(src.previousRect.y)}->${Math.round(src.currentRect.y)} h ${Math.round(src.previousRect.height)}->${Math.round(src.currentRect.height)}`);
                }
              }
            }).observe({ type: "layout-shift", buffered: true });
            setTimeout(() => resolve(sum), 50);
            window.__shiftWhy = why;
          }),
      );
      worstShift = Math.max(worstShift, cls);
      if (cls > 0.02) console.log(`# layout shift: ${name} (${label}) ${cls.toFixed(3)}${process.env.DEBUG_CLS ? ` ${JSON.stringify(await page.evaluate(() => window.__shiftWhy))}` : ""}`);
      if (cls >= 0.05) failures.push(`${name} (${label}): layout shift ${cls.toFixed(3)}`);
      {
        await page.evaluate(axeSource);
        const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
        for (const v of result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")) {
          failures.push(`${name} (${label}): ${v.id} [${v.impact}] ${v.help}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
        }
      }
      // Nothing may overflow the phone's width.
      if (label === "phone") {
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        if (wide > 390) failures.push(`${name} (phone): the page is ${wide}px wide`);
      }
    }
  }
  // The phone menu, opened.
  await pageA.setViewportSize({ width: 390, height: 844 });
  await pageA.goto(`${agora.base}/jobs/mine`);
  await pageA.getByRole("button", { name: "Menu" }).click();
  await pageA.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Contracts" }).waitFor();
  await pageA.screenshot({ path: join(shots, "menu-open-phone.png") });
  await pageA.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Contracts" }).click();
  await pageA.waitForURL(/\/contracts$/);
  assert.equal(await pageA.getByRole("navigation", { name: "Main" }).isVisible(), false, "the menu closes after navigating");
  console.log(`# layout shift: worst page ${worstShift.toFixed(3)} (limit 0.05)`);
  await anon.close();
  for (const p of [pageA, pageB]) await p.setViewportSize({ width: 1280, height: 800 });
  assert.deepEqual(failures, [], failures.join("\n"));
});

test("keyboard: the skip link and the form order work without a mouse", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${agora.base}/login`);
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Skip to content");
  await page.keyboard.press("Enter");
  await page.getByLabel("Email or username").focus();
  await page.keyboard.type("nobody@example.com");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "f-password");
  await page.keyboard.type("wrong password 99");
  await page.keyboard.press("Enter");
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /invalid|credentials|wrong/i);
  await ctx.close();
});

test("log out ends the session, also after a reload", async () => {
  await pageA.goto(`${agora.base}/jobs/mine`);
  await pageA.getByRole("button", { name: "Log out" }).first().click();
  await pageA.waitForURL(/\/login$/);
  await pageA.reload();
  await pageA.getByRole("link", { name: "Sign up" }).waitFor();
  await pageA.goto(`${agora.base}/contracts`);
  await pageA.waitForURL(/\/login\?next=/);
});

test("no CSP refusal and no uncaught error in any page", () => {
  assert.deepEqual(problems, [], problems.join("\n"));
});
