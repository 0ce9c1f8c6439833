// REST helpers against a real agora process, and every SDK route against /api/schema.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AgoraClient, AgoraError, ROUTES } from "../dist/index.js";
import { newUser, outbox, startAgora, waitUntil } from "./support/helpers.mjs";

const usd = (amount) => ({ amount, currency: "USD" });

/** The `Token: ...` of the newest email to `to` whose subject matches. */
async function emailedToken(dataDir, to, subject) {
  return waitUntil(() => {
    const mails = outbox(dataDir).filter((m) => m.includes(`To: ${to}`) && subject.test(/^Subject: (.*)$/m.exec(m)?.[1] ?? ""));
    const last = mails[mails.length - 1];
    return last ? /^Token: (\S+)$/m.exec(last)?.[1] : undefined;
  }, `an email "${subject}" to ${to}`);
}

describe("REST", () => {
  let server;
  before(async () => {
    server = await startAgora();
  });
  after(async () => {
    await server?.dispose();
  });

  test("every route the SDK calls exists with its method in the server's OpenAPI document", async () => {
    const schema = await (await fetch(`${server.baseUrl}/api/schema`)).json();
    assert.match(schema.openapi, /^3\./);
    const missing = [];
    for (const [name, [method, path]] of Object.entries(ROUTES)) {
      const item = schema.paths[path];
      if (!item || !item[method.toLowerCase()]) missing.push(`${name}: ${method} ${path}`);
    }
    assert.deepEqual(missing, []);
    assert.ok(Object.keys(ROUTES).length >= 60);
  });

  test("errors from the envelope are typed AgoraErrors with status, code, message and fields", async () => {
    const agora = new AgoraClient({ baseUrl: server.baseUrl });
    await assert.rejects(agora.auth.register({ email: "not-an-email", password: "short", role: "client" }), (e) => {
      assert.ok(e instanceof AgoraError);
      assert.equal(e.status, 400);
      assert.equal(e.code, "validation_failed");
      assert.ok(Array.isArray(e.fields.email) && e.fields.email.length > 0, "fields.email");
      assert.ok(Array.isArray(e.fields.password) && e.fields.password.length > 0, "fields.password");
      assert.equal(typeof e.requestId, "string");
      return true;
    });
    const user = newUser();
    await agora.auth.register(user);
    await assert.rejects(new AgoraClient({ baseUrl: server.baseUrl }).auth.register(user), (e) => e.status === 409 && e.code === "email_taken");
    const wrong = new AgoraClient({ baseUrl: server.baseUrl });
    await assert.rejects(wrong.auth.login({ email: user.email, password: "wrong password 123" }), (e) => e.status === 401 && e.code === "invalid_credentials");
    assert.equal(wrong.http.refreshCount, 0, "a refused login is not a reason to refresh");
    await assert.rejects(agora.jobs.get("00000000-0000-7000-8000-000000000000"), (e) => e.status === 404 && e.code === "not_found");
    const down = new AgoraClient({ baseUrl: "http://127.0.0.1:9" });
    await assert.rejects(down.auth.me(), (e) => e instanceof AgoraError && e.status === 0 && e.code === "network_error");
  });

  test("auth: me, update, verify email, password reset request/confirm, verify token, logout", async () => {
    const agora = new AgoraClient({ baseUrl: server.baseUrl });
    const user = newUser();
    const reg = await agora.auth.register(user);
    assert.equal(reg.user.email, user.email);
    assert.equal(reg.user.email_verified, false);
    assert.deepEqual(await agora.auth.verifyToken(reg.access), {});

    const updated = await agora.auth.updateMe({ first_name: "Ada", last_name: "Lovelace" });
    assert.equal(updated.first_name, "Ada");
    assert.equal((await agora.auth.me()).last_name, "Lovelace");
    assert.equal((await agora.users.get(reg.user.id)).first_name, "Ada");

    const verifyToken = await emailedToken(server.dataDir, user.email, /verify/i);
    await agora.auth.verifyEmail(verifyToken);
    assert.equal((await agora.auth.me()).email_verified, true);
    await assert.rejects(agora.auth.verifyEmail(verifyToken), (e) => e.status === 400 && e.code === "invalid_token", "single use");

    await agora.auth.requestPasswordReset(user.email);
    const resetToken = await emailedToken(server.dataDir, user.email, /reset/i);
    const newPassword = "another long secret 42";
    await agora.auth.confirmPasswordReset(resetToken, newPassword);
    const fresh = new AgoraClient({ baseUrl: server.baseUrl });
    await assert.rejects(fresh.auth.login({ email: user.email, password: user.password }), (e) => e.code === "invalid_credentials");
    const login = await fresh.auth.login({ username: user.username, password: newPassword });
    assert.equal(login.user.id, reg.user.id);

    const access = fresh.http.accessToken;
    await fresh.auth.logout();
    assert.equal(fresh.http.accessToken, null);
    await assert.rejects(fresh.auth.verifyToken(access), (e) => e.status === 401);
  });

  test("marketplace: services, providers, jobs, proposals, contracts, bookings, reviews, likes", async () => {
    const pro = new AgoraClient({ baseUrl: server.baseUrl });
    const cli = new AgoraClient({ baseUrl: server.baseUrl });
    const proUser = (await pro.auth.register(newUser("provider"))).user;
    const cliUser = (await cli.auth.register(newUser("client"))).user;

    const profile = await pro.providers.create({ bio: "Twenty years of plumbing", hourly_rate: usd(6000), city: "Lyon" });
    assert.equal(profile.user_id, proUser.id);
    assert.equal((await pro.providers.get(profile.id)).city, "Lyon");
    const lyon = await cli.providers.list({ city: "Lyon" });
    assert.ok(lyon.results.some((p) => p.id === profile.id));

    const prices = [3000, 1000, 2000];
    const services = [];
    for (const [i, price] of prices.entries()) {
      services.push(await pro.services.create({ title: `Leak repair ${i}`, description: "Fixes leaks under sinks", price: usd(price), duration_minutes: 60 }));
    }
    // Cursor paging with a filter and an ordering.
    const page1 = await cli.services.list({ provider: profile.id, ordering: "price", limit: 2 });
    assert.deepEqual(page1.results.map((s) => s.price.amount), [1000, 2000]);
    assert.equal(typeof page1.next_cursor, "string");
    const page2 = await cli.services.list({ provider: profile.id, ordering: "price", limit: 2, cursor: page1.next_cursor });
    assert.deepEqual(page2.results.map((s) => s.price.amount), [3000]);
    assert.equal(page2.next_cursor, null);
    const all = [];
    for await (const s of cli.services.all({ provider: profile.id, ordering: "-price", limit: 1 })) all.push(s.price.amount);
    assert.deepEqual(all, [3000, 2000, 1000]);
    const cheap = await cli.services.list({ provider: profile.id, price_max: 1500 });
    assert.deepEqual(cheap.results.map((s) => s.id), [services[1].id]);
    assert.equal((await pro.providers.services(profile.id)).results.length, 3);

    // Likes.
    assert.deepEqual(await cli.services.like(services[0].id), { liked: true, likes_count: 1 });
    assert.deepEqual(await cli.likes.like(services[0].id), { liked: true, likes_count: 1 }, "idempotent");
    assert.equal((await cli.services.get(services[0].id)).liked, true);
    assert.deepEqual(await cli.services.unlike(services[0].id), { liked: false, likes_count: 0 });

    // Jobs and proposals.
    const job = await cli.jobs.post({ title: "Fix the kitchen sink", description: "It drips all night", budget_min: usd(5000), budget_max: usd(9000) });
    assert.equal(job.status, "open");
    assert.ok((await pro.jobs.list({ limit: 100 })).results.some((j) => j.id === job.id), "providers see open jobs");
    assert.deepEqual((await cli.jobs.mine()).results.map((j) => j.id), [job.id]);
    const proposal = await pro.proposals.send({ job_id: job.id, rate: usd(7000), message: "Tomorrow morning" });
    assert.equal(proposal.status, "pending");
    assert.deepEqual((await cli.jobs.proposals(job.id)).results.map((p) => p.id), [proposal.id]);
    assert.deepEqual((await pro.proposals.list()).results.map((p) => p.id), [proposal.id]);
    const withdrawn = await pro.proposals.withdraw(proposal.id);
    assert.equal(withdrawn.status, "withdrawn");

    const job2 = await cli.jobs.post({ title: "Replace a tap", description: "The old one is broken" });
    const p2 = await pro.proposals.send({ job_id: job2.id, rate: usd(4000) });
    const contract = await cli.proposals.accept(p2.id);
    assert.equal(contract.status, "pending");
    assert.equal(contract.proposal_id, p2.id);
    assert.deepEqual(contract.agreed_rate, usd(4000));
    await assert.rejects(cli.proposals.accept(p2.id), (e) => e instanceof AgoraError && e.status === 409, "accept is exactly once");
    assert.equal((await cli.jobs.get(job2.id)).status, "in_progress");
    assert.ok((await pro.contracts.list()).results.some((c) => c.id === contract.id));
    assert.equal((await pro.contracts.get(contract.id)).client_id, cliUser.id);
    await assert.rejects(cli.contracts.setStatus(contract.id, "active"), (e) => e.status === 409 && e.code === "funding_required");
    const cancelled = await cli.contracts.setStatus(contract.id, "cancelled", "found someone closer");
    assert.equal(cancelled.status, "cancelled");
    assert.deepEqual((await cli.contracts.list({ status: "cancelled" })).results.map((c) => c.id), [contract.id]);
    const events = await cli.contracts.events(contract.id);
    assert.ok(events.results.some((e) => e.to === "cancelled"), "the history has the cancellation");

    // Bookings.
    const start = new Date(Date.now() + 3 * 86400_000);
    start.setUTCMinutes(0, 0, 0);
    const end = new Date(start.getTime() + 3600_000);
    const booking = await cli.bookings.create({ service_id: services[1].id, start_at: start.toISOString(), end_at: end.toISOString(), note: "Ring twice" });
    assert.equal(booking.status, "requested");
    assert.deepEqual(booking.price, usd(1000));
    assert.deepEqual((await cli.bookings.list({ role: "client" })).results.map((b) => b.id), [booking.id]);
    assert.deepEqual((await pro.bookings.list({ role: "provider", status: "requested" })).results.map((b) => b.id), [booking.id]);
    const declined = await pro.bookings.setStatus(booking.id, "declined");
    assert.equal(declined.status, "declined");
    assert.equal((await cli.bookings.get(booking.id)).status, "declined");

    // Reviews: nothing completed yet, so none, and reviewing a cancelled contract is refused.
    assert.deepEqual((await cli.reviews.list({ reviewee_id: proUser.id })).results, []);
    await assert.rejects(cli.reviews.create({ contract_id: contract.id, rating: 5 }), (e) => e instanceof AgoraError && e.status >= 400 && e.status < 500);
    await assert.rejects(cli.reviews.list({}), (e) => e.status === 400, "at least one filter");
    assert.deepEqual((await cli.providers.reviews(profile.id)).results, []);
    assert.deepEqual((await cli.services.reviews(services[1].id)).results, []);
  });

  test("conversations and notifications", async () => {
    const a = new AgoraClient({ baseUrl: server.baseUrl });
    const b = new AgoraClient({ baseUrl: server.baseUrl });
    await a.auth.register(newUser());
    const bUser = (await b.auth.register(newUser("provider"))).user;
    const conv = await a.conversations.create({ participant_ids: [bUser.id] });
    assert.equal(conv.kind, "direct");
    assert.equal(conv.last_seq, 0);
    const again = await a.conversations.create({ participant_ids: [bUser.id] });
    assert.equal(again.id, conv.id, "a direct conversation is unique per pair");

    const sent = [];
    for (let i = 1; i <= 5; i++) sent.push(await a.conversations.send(conv.id, `m${i}`, `rest-${i}`));
    assert.deepEqual(sent.map((m) => m.seq), [1, 2, 3, 4, 5]);
    const retried = await a.conversations.send(conv.id, "m5", "rest-5");
    assert.equal(retried.id, sent[4].id, "same client_msg_id: the original");

    const first = await b.conversations.history(conv.id, { limit: 2 });
    assert.deepEqual(first.results.map((m) => m.seq), [5, 4]);
    const second = await b.conversations.history(conv.id, { limit: 2, cursor: first.next_cursor });
    assert.deepEqual(second.results.map((m) => m.seq), [3, 2]);
    const older = await b.conversations.history(conv.id, { before_seq: 2 });
    assert.deepEqual(older.results.map((m) => m.body), ["m1"]);

    const listed = (await b.conversations.list()).results.find((c) => c.id === conv.id);
    assert.equal(listed.last_seq, 5);
    assert.equal(listed.unread_count, 5);
    assert.deepEqual(await b.conversations.markRead(conv.id, 3), { conversation_id: conv.id, seq: 3 });
    assert.equal((await b.conversations.get(conv.id)).read_seq, 3);

    const edited = await a.messages.edit(sent[0].id, "m1 (edited)");
    assert.equal(edited.body, "m1 (edited)");
    await a.messages.remove(sent[1].id);
    const h = await b.conversations.history(conv.id, { before_seq: 3 });
    assert.deepEqual(h.results.map((m) => [m.seq, m.body, m.deleted]), [[2, "", true], [1, "m1 (edited)", false]]);

    // b was offline: one `message` notification for the burst.
    const notes = await b.notifications.list({ unread: true });
    assert.ok(notes.results.length >= 1);
    assert.equal(notes.results[0].type, "message");
    assert.ok((await b.notifications.unreadCount()).count >= 1);
    const read = await b.notifications.markRead(notes.results[0].id);
    assert.equal(read.read, true);
    await b.notifications.markAllRead();
    assert.equal((await b.notifications.unreadCount()).count, 0);
    assert.deepEqual((await b.notifications.list({ unread: true })).results, []);

    const prefs = await b.notifications.preferences();
    assert.equal(prefs.types.message.in_app, true);
    const changed = await b.notifications.updatePreferences({ digest: "daily", types: { message: { email: false } } });
    assert.equal(changed.digest, "daily");
    assert.equal(changed.types.message.email, false);
    assert.equal(changed.types.message.in_app, true, "a partial document leaves the rest");
    await b.notifications.remove(notes.results[0].id);
    assert.equal((await b.notifications.list()).results.some((n) => n.id === notes.results[0].id), false);
  });
});
