// Browser tests of the payments, availability, analytics and review pages, through the UI,
// against a fresh `agora serve` (with an admin made by `agora admin create`, which has no UI).
// A client in New York books a provider in Paris; they run a contract in milestones paid with
// sandbox cards (docs/payments.md "The sandbox"); the provider is paid out; both review.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { launch, startAgora } from "./harness.mjs";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const shots = join(web, "screenshots");
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const PASSWORD = "correct horse battery 9";
const stamp = Date.now().toString(36);
const dana = { first: "Dana", last: "Client", email: `dana-${stamp}@example.com`, role: "client" };
const eric = { first: "Eric", last: "Maker", email: `eric-${stamp}@example.com`, role: "provider" };
const admin = { email: `root-${stamp}@example.com`, password: "a strong admin secret 1" };

let agora, browser, ctxC, ctxP, client, provider;
const problems = [];
const state = {};

function watch(page, who) {
  page.on("console", (m) => {
    // Refused requests (a declined card, 4xx) are part of the flows under test.
    if (m.type() === "error" && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) problems.push(`${who} console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${who} pageerror: ${e.message}`));
}

before(async () => {
  agora = await startAgora({ admin });
  browser = await launch();
  // The two live in different time zones: slots are shown in the viewer's.
  ctxC = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: "America/New_York", locale: "en-GB" });
  ctxP = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: "Europe/Paris", locale: "en-GB" });
  client = await ctxC.newPage();
  provider = await ctxP.newPage();
  watch(client, "dana");
  watch(provider, "eric");
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

test("a provider makes a profile and a service, and sets working hours in Paris", async () => {
  await signup(client, dana);
  await signup(provider, eric);
  await provider.getByRole("link", { name: "My profile" }).click();
  await provider.getByLabel("About you").fill("Furniture maker.");
  await provider.getByLabel("Hourly rate ($)").fill("50");
  await provider.getByRole("button", { name: "Create profile" }).click();
  await provider.getByRole("link", { name: "See your public profile" }).waitFor();
  // Working hours: the zone defaults to the browser's; every day 09:00-17:00.
  const hours = provider.getByRole("form", { name: "Working hours" });
  await hours.waitFor();
  assert.equal(await hours.getByLabel("Time zone").inputValue(), "Europe/Paris");
  await hours.getByLabel("Open on Saturday").check();
  await hours.getByLabel("Open on Sunday").check();
  // A range that ends before it starts is refused with the envelope's field error.
  await hours.getByLabel("Monday until").fill("08:00");
  await hours.getByRole("button", { name: "Save working hours" }).click();
  await hours.getByRole("alert").waitFor();
  assert.match(await hours.getByRole("alert").textContent(), /mon/i);
  await hours.getByLabel("Monday until").fill("17:00");
  await hours.getByRole("button", { name: "Save working hours" }).click();
  await hours.getByText("Working hours saved.").waitFor();
  await provider.reload();
  await provider.getByRole("button", { name: "Clear working hours" }).waitFor();
  assert.equal(await provider.getByLabel("Saturday from").inputValue(), "09:00");

  await provider.getByLabel("Service title").fill("Oak table repair");
  await provider.getByLabel("Service description").fill("I repair and refinish solid oak tables.");
  await provider.getByLabel("Price ($)").fill("120");
  await provider.getByLabel("Duration (minutes)").fill("60");
  await provider.getByRole("button", { name: "Publish service" }).click();
  await provider.waitForURL(/\/services\/[0-9a-f-]{36}$/);
  state.serviceUrl = new URL(provider.url()).pathname;
});

test("a client sees free slots in her own time zone and books one", async () => {
  await client.goto(`${agora.base}${state.serviceUrl}`);
  await client.getByRole("heading", { name: "Free times" }).waitFor();
  await client.getByText("Times are in your time zone, America/New_York (the provider works in Europe/Paris)").waitFor();
  // 09:00 in Paris is 03:00 in New York in December; 16:00 is the last one-hour start (10:00).
  const tomorrow = client.getByTestId("slot").filter({ hasText: "03:00" }).first();
  await tomorrow.waitFor();
  assert.equal(await client.getByTestId("slot").filter({ hasText: "11:00" }).count(), 0, "nothing after 17:00 Paris time");
  // Another range of days: from four days ahead, for two days.
  const day = (n) => {
    const d = new Date(Date.now() + n * 86400000);
    return d.toLocaleDateString("en-CA", { timeZone: "America/New_York" });
  };
  await client.getByLabel("From day").fill(day(4));
  await client.getByLabel("To day").fill(day(5));
  await client.getByRole("button", { name: "Show free times" }).click();
  await client.getByTestId("slot").first().waitFor();
  const groups = await client.locator(".slot-day h3").allTextContents();
  assert.equal(groups.length, 2, `two days shown: ${groups}`);
  assert.equal(await client.getByTestId("slot").count(), 16, "eight one-hour slots a day");
  const first = client.getByTestId("slot").first();
  state.slotStart = await first.getAttribute("data-start");
  assert.match(state.slotStart, /T08:00:00Z$/, "09:00 Paris is 08:00 UTC");
  await first.click();
  assert.equal(await first.getAttribute("aria-pressed"), "true");
  await client.getByTestId("picked").filter({ hasText: "03:00–04:00" }).waitFor();
  await client.getByRole("button", { name: "Book this time" }).click();
  await client.waitForURL(/\/bookings\/[0-9a-f-]{36}$/);
  state.bookingUrl = new URL(client.url()).pathname;
  await client.locator(".badge", { hasText: "Requested" }).waitFor();
  // The slot is held: it is no longer offered.
  await client.goto(`${agora.base}${state.serviceUrl}`);
  await client.getByLabel("From day").fill(day(4));
  await client.getByLabel("To day").fill(day(5));
  await client.getByRole("button", { name: "Show free times" }).click();
  await client.getByTestId("slot").first().waitFor();
  assert.equal(await client.locator(`[data-start="${state.slotStart}"]`).count(), 0, "the booked slot is taken");
  assert.equal(await client.getByTestId("slot").count(), 15);
});

test("a client splits a contract, funds a milestone with a sandbox card, the worker submits, the client approves, the worker's wallet shows it", async () => {
  await client.goto(`${agora.base}/jobs/new`);
  await client.getByLabel("Title").fill("Restore six oak chairs");
  await client.getByLabel("Description").fill("Six dining chairs, loose joints and scratched finish.");
  await client.getByRole("button", { name: "Post job" }).click();
  await client.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
  const jobUrl = new URL(client.url()).pathname;
  await provider.goto(`${agora.base}${jobUrl}`);
  await provider.getByLabel("Your price ($)").fill("300");
  await provider.getByRole("button", { name: "Send proposal" }).click();
  await provider.getByTestId("proposal").waitFor();
  await client.getByTestId("proposal").waitFor({ timeout: 10000 });
  await client.getByRole("button", { name: "Accept proposal" }).click();
  await client.waitForURL(/\/contracts\/[0-9a-f-]{36}$/);
  state.contractUrl = new URL(client.url()).pathname;

  // One milestone for the whole amount until the client splits it.
  const ms = client.getByTestId("milestones");
  await ms.getByTestId("milestone").waitFor();
  assert.equal(await ms.getByTestId("milestone").count(), 1);
  await ms.getByRole("button", { name: "Split into milestones" }).click();
  await ms.getByLabel("Title of milestone 1").fill("Joints");
  await ms.getByLabel("Amount of milestone 1 (USD)").fill("100");
  await ms.getByRole("button", { name: "Add a milestone" }).click();
  await ms.getByLabel("Title of milestone 2").fill("Finish");
  assert.equal(await ms.getByLabel("Amount of milestone 2 (USD)").inputValue(), "200", "the rest is offered");
  await ms.getByLabel("Amount of milestone 2 (USD)").fill("150");
  await ms.getByTestId("split-left").filter({ hasText: "$50.00 still to assign" }).waitFor();
  await ms.getByRole("button", { name: "Save milestones" }).click();
  await ms.getByRole("alert").waitFor();
  assert.match(await ms.getByRole("alert").textContent(), /sum|agreed|total|amount/i);
  await ms.getByLabel("Amount of milestone 2 (USD)").fill("200");
  await ms.getByRole("button", { name: "Save milestones" }).click();
  await ms.getByText("Milestones saved.").waitFor();
  await ms.getByTestId("milestone").nth(1).waitFor();
  assert.deepEqual(await ms.locator("[data-testid=milestone] strong").allTextContents(), ["Joints", "Finish"]);

  // The payment step: no card yet, so the card form opens. A declined card says so.
  await ms.getByRole("button", { name: "Fund “Joints”" }).click();
  await ms.getByLabel("Card number").fill("4000 0000 0000 0002");
  await ms.getByLabel("Expiry (MM/YY)").fill("12/30");
  await ms.getByLabel("CVC").fill("123");
  await ms.getByRole("button", { name: "Save card" }).click();
  await ms.getByLabel("Pay with").waitFor();
  await ms.getByRole("button", { name: "Fund milestone: $100.00" }).click();
  const declined = ms.getByRole("alert");
  await declined.waitFor();
  assert.match(await declined.textContent(), /declined/i);
  await ms.screenshot({ path: join(shots, "contract-pay-step-declined-desktop.png") });
  // A card that fails the Luhn check never reaches the gateway.
  await ms.getByRole("button", { name: "Add another card" }).click();
  await ms.getByLabel("Card number").fill("4242 4242 4242 4241");
  await ms.getByLabel("Expiry (MM/YY)").fill("12/30");
  await ms.getByLabel("CVC").fill("123");
  await ms.getByRole("button", { name: "Save card" }).click();
  await ms.getByLabel("Card number").and(ms.locator("[aria-invalid=true]")).waitFor();
  await ms.getByLabel("Card number").fill("4242 4242 4242 4242");
  await ms.getByRole("button", { name: "Save card" }).click();
  await ms.getByRole("form", { name: "Add a card" }).waitFor({ state: "detached" });
  // The new card is the one chosen.
  assert.match(await ms.getByLabel("Pay with").locator("option:checked").textContent(), /Visa ending 4242/);
  assert.equal(await ms.getByLabel("Pay with").locator("option").count(), 2);
  await ms.getByRole("button", { name: "Fund milestone: $100.00" }).click();
  await ms.getByText("Paid $100.00: “Joints” is funded").waitFor();
  await client.getByTestId("contract-status").filter({ hasText: "Active" }).waitFor();
  assert.equal((await ms.getByTestId("escrow").textContent()).trim(), "$100.00");
  await ms.getByTestId("milestone").first().locator(".badge", { hasText: "Funded" }).waitFor();

  // The worker sees it funded (live, from the payment notification) and submits.
  await provider.goto(`${agora.base}${state.contractUrl}`);
  const pms = provider.getByTestId("milestones");
  await pms.getByRole("button", { name: "Submit “Joints” for approval" }).click();
  await pms.getByText("Submitted “Joints”").waitFor();
  // The client's page was not reloaded: the notification brings the submission.
  await ms.getByRole("button", { name: "Approve “Joints”" }).waitFor({ timeout: 10000 });
  await ms.getByRole("button", { name: "Approve “Joints”" }).click();
  await ms.getByRole("button", { name: "Confirm: approve and release" }).click();
  await ms.getByText("Released “Joints” to the provider.").waitFor();
  await ms.getByTestId("milestone").first().locator(".badge", { hasText: "Released" }).waitFor();
  assert.equal((await ms.getByTestId("escrow").textContent()).trim(), "$0.00");

  // The wallet: $100 released less the 10 % fee.
  await provider.getByRole("link", { name: "Wallet" }).click();
  await provider.getByRole("heading", { name: "Wallet", level: 1 }).waitFor();
  assert.equal((await provider.getByTestId("available-USD").textContent()).trim(), "$90.00");
  assert.equal((await provider.getByTestId("held-USD").textContent()).trim(), "$0.00");
  const ledger = provider.getByTestId("ledger");
  await ledger.getByText("Released to you").waitFor();
  await ledger.getByText("Milestone funded (held for you)").waitFor();
  assert.match(await ledger.locator("tr", { hasText: "Released to you" }).textContent(), /\+\$90\.00/);
});

test("the worker adds a bank account and is paid out; the client's payments list has a receipt", async () => {
  await provider.getByRole("button", { name: "Add a bank account" }).click();
  await provider.getByLabel("Account holder").fill("Eric Maker");
  await provider.getByLabel("IBAN").fill("DE89 3704 0044 0532 0130 01");
  await provider.getByRole("button", { name: "Save bank account" }).click();
  await provider.getByRole("alert").waitFor();
  assert.match(await provider.getByRole("alert").textContent(), /iban/i);
  await provider.getByLabel("IBAN").fill("DE89 3704 0044 0532 0130 00");
  await provider.getByRole("button", { name: "Save bank account" }).click();
  await provider.getByText("Eric Maker · DE ···· 3000").waitFor();
  // More than is available is refused by the ledger.
  await provider.getByLabel("Amount (USD)").fill("95");
  await provider.getByRole("button", { name: "Request payout" }).click();
  await provider.getByRole("alert").waitFor();
  assert.match(await provider.getByRole("alert").textContent(), /insufficient|less than|enough/i);
  await provider.getByLabel("Amount (USD)").fill("40");
  await provider.getByRole("button", { name: "Request payout" }).click();
  await provider.getByText("Payout of $40.00 requested").waitFor();
  await provider.getByTestId("available-USD").filter({ hasText: "$50.00" }).waitFor();
  await provider.getByTestId("payout").first().waitFor();
  // The sandbox pays it a second later (a signed webhook); the payment notification refreshes the page.
  const deadline = Date.now() + 15000;
  while (!(await provider.getByTestId("payout").first().locator(".badge", { hasText: "Paid" }).count())) {
    assert.ok(Date.now() < deadline, "the payout is paid within 15 s");
    await provider.waitForTimeout(1000);
    await provider.reload();
    await provider.getByTestId("payout").first().waitFor();
  }
  await provider.getByTestId("ledger").getByText("Payout requested").waitFor();

  // The client's saved cards are on her wallet page: the declined one goes.
  await client.goto(`${agora.base}/wallet`);
  await client.getByTestId("card").nth(1).waitFor();
  assert.equal(await client.getByTestId("card").count(), 2);
  await client.getByRole("button", { name: "Remove the card ending 0002" }).click();
  await client.getByTestId("card").filter({ hasText: "0002" }).waitFor({ state: "detached" });
  assert.equal(await client.getByTestId("card").count(), 1);
  await client.getByRole("link", { name: "Payments and receipts" }).click();
  await client.waitForURL(/\/payments$/);
  const paid = client.getByTestId("payment").filter({ hasText: "$100.00 paid to Eric Maker" }).filter({ hasText: "Succeeded" });
  await paid.waitFor();
  assert.match(await paid.textContent(), /Visa ending 4242/);
  assert.equal(await client.getByTestId("payment").filter({ hasText: "Failed" }).count(), 1, "the declined attempt is listed too");
  await paid.getByRole("link", { name: "$100.00 paid to Eric Maker" }).click();
  await client.waitForURL(/\/payments\/[0-9a-f-]{36}$/);
  state.receiptUrl = new URL(client.url()).pathname;
  await client.getByRole("heading", { name: "Receipt" }).waitFor();
  assert.match(await client.getByTestId("receipt-number").textContent(), /^AG-/);
  assert.equal((await client.getByTestId("receipt-total").textContent()).trim(), "$100.00");
  await client.getByText("Restore six oak chairs: Joints").waitFor();
});

test("the contract completes, the client reviews it, edits and deletes the review, the provider replies", async () => {
  const ms = client.getByTestId("milestones");
  await client.goto(`${agora.base}${state.contractUrl}`);
  // A card whose charge is answered later by the gateway's webhook: pending, then paid.
  await ms.getByRole("button", { name: "Fund “Finish”" }).click();
  await ms.getByRole("button", { name: "Add another card" }).click();
  await ms.getByLabel("Card number").fill("4000 0000 0000 3220");
  await ms.getByLabel("Expiry (MM/YY)").fill("01/31");
  await ms.getByLabel("CVC").fill("321");
  await ms.getByRole("button", { name: "Save card" }).click();
  await ms.getByRole("form", { name: "Add a card" }).waitFor({ state: "detached" });
  await ms.getByRole("button", { name: "Fund milestone: $200.00" }).click();
  await ms.getByText("Payment of $200.00 is pending").waitFor();
  await ms.getByText("Paid $200.00: “Finish” is funded").waitFor({ timeout: 15000 });
  await ms.getByTestId("milestone").nth(1).locator(".badge", { hasText: "Funded" }).waitFor();
  assert.equal((await ms.getByTestId("escrow").textContent()).trim(), "$200.00");
  await provider.goto(`${agora.base}${state.contractUrl}`);
  await provider.getByRole("button", { name: "Submit “Finish” for approval" }).click();
  await provider.getByText("Submitted “Finish”").waitFor();
  await provider.getByRole("button", { name: "Mark as delivered" }).click();
  await provider.getByRole("button", { name: "Confirm: mark as delivered" }).click();
  await provider.getByTestId("contract-status").filter({ hasText: "Delivered" }).waitFor();
  // No review before the contract is completed.
  assert.equal(await provider.getByRole("form", { name: "Write a review" }).count(), 0);
  await client.reload();
  await client.getByRole("button", { name: "Approve and complete" }).click();
  await client.getByRole("button", { name: "Confirm: approve and complete" }).click();
  await client.getByTestId("contract-status").filter({ hasText: "Completed" }).waitFor();
  // Completing released the submitted milestone.
  await ms.getByTestId("milestone").nth(1).locator(".badge", { hasText: "Released" }).waitFor({ timeout: 10000 });

  const form = client.getByRole("form", { name: "Write a review" });
  await form.waitFor();
  await form.getByRole("button", { name: "Post review" }).click();
  await form.getByRole("alert").waitFor();
  assert.match(await form.getByRole("alert").textContent(), /rating/i);
  await form.getByLabel("4 stars").check();
  await form.getByLabel("Your review").fill("Careful work, chairs like new.");
  await form.getByRole("button", { name: "Post review" }).click();
  const mine = client.getByTestId("my-review");
  await mine.waitFor();
  assert.match(await mine.textContent(), /4 out of 5|★★★★☆/);
  await mine.getByRole("button", { name: "Edit review" }).click();
  const edit = client.getByRole("form", { name: "Edit your review" });
  await edit.getByLabel("5 stars").check();
  await edit.getByLabel("Your review").fill("Careful work, chairs like new. On time too.");
  await edit.getByRole("button", { name: "Save review" }).click();
  await mine.getByText("On time too.").waitFor();
  assert.equal(await mine.locator(".stars").getAttribute("aria-label"), "5 out of 5");

  await provider.reload();
  const ofMe = provider.getByTestId("review-of-me");
  await ofMe.waitFor();
  assert.match(await ofMe.textContent(), /On time too\./);
  await ofMe.getByLabel("Your reply").fill("Thank you, Dana!");
  await ofMe.getByRole("button", { name: "Post reply" }).click();
  await ofMe.getByText("Your reply: Thank you, Dana!").waitFor();
  // The review and its reply show on the service-free provider page and to the client.
  await client.reload();
  await mine.getByText("Thank you, Dana!").waitFor();
  await mine.getByRole("button", { name: "Delete review" }).click();
  await mine.getByRole("button", { name: "Confirm: delete review" }).click();
  await client.getByRole("form", { name: "Write a review" }).waitFor();
  assert.equal(await client.getByTestId("my-review").count(), 0);
  // Write it again, for the analytics below.
  await client.getByLabel("5 stars").check();
  await client.getByRole("button", { name: "Post review" }).click();
  await client.getByTestId("my-review").waitFor();
  // The provider replies from his public profile's review list too.
  await provider.goto(`${agora.base}/profile`);
  await provider.getByRole("link", { name: "See your public profile" }).click();
  await provider.getByRole("heading", { name: "Eric Maker" }).waitFor();
  await provider.getByLabel("Your reply").fill("Glad the chairs are back in use.");
  await provider.getByRole("button", { name: "Post reply" }).click();
  await provider.getByText("Reply: Glad the chairs are back in use.").waitFor();
  await client.reload();
  await client.getByTestId("my-review").getByText("Glad the chairs are back in use.").waitFor();
});

test("the client picks the card for her booking; the provider's confirmation charges it and holds it for him", async () => {
  await client.goto(`${agora.base}${state.bookingUrl}`);
  await client.getByText("is charged to your newest saved card").waitFor();
  await client.getByRole("button", { name: "Choose the card" }).click();
  await client.getByLabel("Pay with").selectOption({ label: "Visa ending 4242 (expires 12/2030)" });
  await client.getByRole("button", { name: "Pay with this card on confirmation: $120.00" }).click();
  await client.getByText("Card saved for this booking.").waitFor();
  await client.getByText("is charged to the card you chose").waitFor();
  await provider.goto(`${agora.base}${state.bookingUrl}`);
  await provider.getByRole("button", { name: "Confirm", exact: true }).click();
  await provider.locator(".badge", { hasText: "Confirmed" }).or(provider.getByRole("alert")).first().waitFor();
  assert.equal(await provider.getByRole("alert").count(), 0, `confirmed: ${await provider.getByRole("alert").allTextContents()}`);
  await provider.locator(".facts dd", { hasText: "Yes" }).waitFor();
  await client.locator(".badge", { hasText: "Confirmed" }).waitFor({ timeout: 10000 });
  await provider.goto(`${agora.base}/wallet`);
  assert.equal((await provider.getByTestId("held-USD").textContent()).trim(), "$120.00");
  await client.goto(`${agora.base}/payments`);
  await client.getByTestId("payment").filter({ hasText: "$120.00 paid to Eric Maker" }).getByRole("link", { name: "Booking" }).waitFor();
});

async function adminPage() {
  if (state.admin) return state.admin;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  watch(page, "admin");
  await page.goto(`${agora.base}/login`);
  await page.getByLabel("Email or username").fill(admin.email);
  await page.getByLabel("Password").fill(admin.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator(".conn-online").waitFor();
  state.adminCtx = ctx;
  state.admin = page;
  return page;
}

test("the worker refunds part of a funded milestone; the client disputes; an admin splits the escrow", async () => {
  await client.goto(`${agora.base}/jobs/new`);
  await client.getByLabel("Title").fill("Varnish a bookcase");
  await client.getByLabel("Description").fill("One tall pine bookcase, clear varnish.");
  await client.getByRole("button", { name: "Post job" }).click();
  await client.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
  await provider.goto(client.url());
  await provider.getByLabel("Your price ($)").fill("100");
  await provider.getByRole("button", { name: "Send proposal" }).click();
  await provider.getByTestId("proposal").waitFor();
  await client.getByRole("button", { name: "Accept proposal" }).click({ timeout: 10000 });
  await client.waitForURL(/\/contracts\/[0-9a-f-]{36}$/);
  state.disputeUrl = new URL(client.url()).pathname;
  const ms = client.getByTestId("milestones");
  await ms.getByRole("button", { name: "Fund “Varnish a bookcase”" }).click();
  await ms.getByLabel("Pay with").selectOption({ label: "Visa ending 4242 (expires 12/2030)" });
  await ms.getByRole("button", { name: "Fund milestone: $100.00" }).click();
  await ms.getByText("Paid $100.00").waitFor();

  await provider.goto(`${agora.base}${state.disputeUrl}`);
  const pms = provider.getByTestId("milestones");
  await pms.getByRole("button", { name: "Refund “Varnish a bookcase”" }).click();
  assert.equal(await pms.getByLabel("Amount to refund (USD)").inputValue(), "100");
  await pms.getByLabel("Amount to refund (USD)").fill("30");
  await pms.getByRole("button", { name: "Confirm: refund" }).click();
  await pms.getByText("Refunded $30.00 of “Varnish a bookcase” to the client's card (partially refunded).").waitFor();
  await pms.getByTestId("escrow").filter({ hasText: "$70.00" }).waitFor();
  assert.match(await pms.getByTestId("milestone").textContent(), /\$70\.00 held · \$30\.00 refunded/);

  await client.reload();
  await client.getByRole("button", { name: "Open a dispute" }).click();
  await client.getByLabel("Reason (optional)").fill("The varnish is uneven");
  await client.getByRole("button", { name: "Confirm: open a dispute" }).click();
  await client.getByTestId("contract-status").filter({ hasText: "Disputed" }).waitFor();
  await client.getByText("escrow is frozen until an admin resolves").waitFor();

  const page = await adminPage();
  await page.goto(`${agora.base}${state.disputeUrl}`);
  const ams = page.getByTestId("milestones");
  await ams.getByRole("heading", { name: "Resolve the dispute" }).waitFor();
  await ams.getByLabel("Release to the provider (USD)").fill("50");
  await ams.getByLabel("Refund to the client (USD)").fill("10");
  await ams.getByTestId("resolve-left").filter({ hasText: "$10.00 left." }).waitFor();
  await ams.getByRole("button", { name: "Resolve dispute" }).click();
  await ams.getByRole("alert").waitFor();
  assert.match(await ams.getByRole("alert").textContent(), /escrow|sum|70/i);
  await ams.getByLabel("Refund to the client (USD)").fill("20");
  await ams.getByRole("button", { name: "Resolve dispute" }).click();
  await page.getByTestId("contract-status").filter({ hasText: "Completed" }).waitFor();
  assert.equal((await ams.getByTestId("escrow").textContent()).trim(), "$0.00");
  // $50 released less the 10 % fee joins the $230 left after the payout.
  await provider.goto(`${agora.base}/wallet`);
  await provider.getByTestId("available-USD").filter({ hasText: "$275.00" }).waitFor();
});

test("analytics: the provider sees his figures in a chart, the client hers, the admin dashboard renders for an admin only", async () => {
  // Views of the service were recorded when Dana opened it; the rollup runs every second.
  await provider.goto(`${agora.base}/insights`);
  await provider.getByRole("heading", { name: "Analytics: provider", level: 1 }).waitFor();
  const deadline = Date.now() + 20000;
  for (;;) {
    await provider.getByTestId("stat-service-views").waitFor();
    const views = Number(await provider.getByTestId("stat-service-views").textContent());
    const earned = await provider.getByTestId("stat-earnings").textContent();
    if (views >= 1 && /\$315\.00/.test(earned)) break;
    assert.ok(Date.now() < deadline, `views ${views}, earnings ${earned}`);
    await provider.waitForTimeout(1000);
    await provider.reload();
  }
  const chart = provider.getByTestId("chart-activity");
  await chart.locator("canvas").waitFor();
  assert.equal(await chart.getAttribute("data-drawn"), "true");
  assert.equal(await chart.getAttribute("role"), "img");
  assert.match(await chart.getAttribute("aria-label"), /Service views [1-9]\d* in all/);
  await provider.getByTestId("chart-earnings-USD").locator("canvas").waitFor();
  // The text alternative: the same figures in a table.
  await provider.getByText("Show the figures as a table").first().click();
  const rows = provider.locator(".chart").first().locator("tbody tr");
  assert.ok((await rows.count()) >= 30, "one row per day of the range");
  assert.match(await provider.getByTestId("services-table").textContent(), /Oak table repair/);
  // A shorter range.
  await provider.getByRole("button", { name: "Last 7 days" }).click();
  await provider.waitForURL(/from=\d{4}-\d\d-\d\d&to=/);
  await provider.waitForFunction(() => document.querySelector(".chart tbody")?.rows.length === 7, null, { timeout: 10000 });
  // The same figures as CSV (format=csv, fetched with the token).
  const [download] = await Promise.all([provider.waitForEvent("download"), provider.getByRole("button", { name: "Download the daily figures (CSV)" }).click()]);
  assert.match(download.suggestedFilename(), /^agora-provider-daily-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv$/);
  const csv = readFileSync(await download.path(), "utf8").trim().split("\n");
  assert.match(csv[0], /^date,service_views,likes,bookings,/);
  assert.equal(csv.length, 8, "a header and seven days");
  assert.ok(csv.slice(1).some((l) => /,[1-9]/.test(l)), "some day has figures");

  await client.goto(`${agora.base}/insights`);
  await client.getByRole("heading", { name: "Analytics: client", level: 1 }).waitFor();
  await client.getByTestId("chart-activity").locator("canvas").waitFor();
  assert.ok(Number(await client.getByTestId("stat-jobs").textContent()) >= 1);
  await client.goto(`${agora.base}/insights/admin`);
  await client.getByText("The platform dashboard is for admins.").waitFor();

  const page = await adminPage();
  await page.getByRole("link", { name: "Analytics" }).click();
  await page.getByRole("heading", { name: "Platform dashboard", level: 1 }).waitFor();
  for (const id of ["traffic", "people", "market"]) await page.getByTestId(`chart-${id}`).locator("canvas").waitFor();
  // The two registrations (an admin made on the command line is not a registration).
  assert.match(await page.getByTestId("stat-users").textContent(), /^2 \(2 new\)/);
  await page.getByRole("heading", { name: "Contracts by status" }).waitFor();
  // The ledger's fee report: 10 % of the $100 and $200 milestones and of the dispute's $50.
  assert.match(await page.getByTestId("fee-totals").textContent(), /\$35\.00 from 3 releases/);
  // The app reports the pages it shows (POST /api/analytics/events, a few seconds later).
  const until = Date.now() + 20000;
  while (Number(await page.getByTestId("stat-page-views").textContent()) < 10) {
    assert.ok(Date.now() < until, `page views: ${await page.getByTestId("stat-page-views").textContent()}`);
    await page.waitForTimeout(1000);
    await page.reload();
    await page.getByTestId("stat-page-views").waitFor();
  }
});

const pages = () => [
  ["service-slots", client, state.serviceUrl],
  ["profile-hours", provider, "/profile"],
  ["contract-milestones", client, state.contractUrl],
  ["contract-milestones-worker", provider, state.contractUrl],
  ["contract-resolved-admin", state.admin, state.disputeUrl],
  ["wallet", provider, "/wallet"],
  ["wallet-empty", client, "/wallet"],
  ["payments", client, "/payments"],
  ["receipt", client, state.receiptUrl],
  ["booking-pay", client, state.bookingUrl],
  ["analytics-provider", provider, "/insights"],
  ["analytics-client", client, "/insights"],
  ["analytics-admin", state.admin, "/insights"],
];

test("the new pages: 0 serious or critical axe violations, no layout shift, screenshots at phone and desktop width", async () => {
  const failures = [];
  let worst = 0;
  for (const [name, page, path] of pages()) {
    assert.ok(path && page, `${name} has a page and a path`);
    for (const [label, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
      await page.setViewportSize(viewport);
      await page.goto(`${agora.base}${path}`);
      await page.locator("main h1").first().waitFor({ state: "attached" });
      await page.waitForFunction(() => !document.querySelector(".loading") && [...document.querySelectorAll(".chart-box")].every((b) => b.dataset.drawn), null, { timeout: 10000 });
      await page.waitForTimeout(150);
      await page.screenshot({ path: join(shots, `${name}-${label}.png`), fullPage: true });
      const cls = await page.evaluate(
        () =>
          new Promise((resolve) => {
            let sum = 0;
            new PerformanceObserver((list) => {
              for (const e of list.getEntries()) if (!e.hadRecentInput) sum += e.value;
            }).observe({ type: "layout-shift", buffered: true });
            setTimeout(() => resolve(sum), 50);
          }),
      );
      worst = Math.max(worst, cls);
      if (cls >= 0.05) failures.push(`${name} (${label}): layout shift ${cls.toFixed(3)}`);
      await page.evaluate(axeSource);
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
      for (const v of result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")) {
        failures.push(`${name} (${label}): ${v.id} [${v.impact}] ${v.help}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
      }
      if (label === "phone") {
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        if (wide > 390) failures.push(`${name} (phone): the page is ${wide}px wide`);
      }
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  }
  console.log(`# layout shift: worst new page ${worst.toFixed(3)} (limit 0.05)`);
  await state.adminCtx?.close();
  assert.deepEqual(failures, [], failures.join("\n"));
});

test("no CSP refusal and no uncaught error on the new pages", () => {
  assert.deepEqual(problems, [], problems.join("\n"));
});
