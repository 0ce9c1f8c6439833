// Chat attachments in real headless Chromium against a fresh `agora serve`: two people in a
// conversation; one attaches a PNG (with the file picker), a PDF (dropped on the
// conversation) and a WAV, sees each upload's progress and sends them in one message with an
// empty body; the other sees the thumbnail (which opens the large image), the PDF's download
// link (name, size, page count) and the audio player with its duration and waveform, live
// and after a reload. Refusals are shown from the envelope: HTML named .jpg (415), a file
// over the (lowered) document cap (413), a truncated PNG (422). A slow upload is cancelled.
// A voice note is recorded with Chromium's fake microphone. The service gallery: the owner
// adds and reorders images on /profile, the service page shows them. axe, layout shift,
// screenshots at phone and desktop widths.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdirSync } from "node:fs";
import { deflateSync, crc32 } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import { CHROMIUM, rest, startAgora } from "./harness.mjs";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const shots = join(web, "screenshots");
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const PASSWORD = "correct horse battery 9";
const stamp = Date.now().toString(36);
const ann = { first: "Ann", last: "Client", email: `ann-${stamp}@example.com`, role: "client" };
const ben = { first: "Ben", last: "Provider", email: `ben-${stamp}@example.com`, role: "provider" };

// --- files made here -------------------------------------------------------------------

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** A w x h RGB PNG: a gradient with a band, so the thumbnail is visibly that picture. */
export function png(w, h, hue = 0) {
  const rows = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + w * 3);
    for (let x = 0; x < w; x++) {
      const band = Math.abs(y - h / 2) < h / 10;
      row[1 + x * 3] = band ? 250 : (x * 255 / w + hue) % 256;
      row[2 + x * 3] = band ? 200 : (y * 255) / h;
      row[3 + x * 3] = band ? 40 : 160;
    }
    rows.push(row);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(Buffer.concat(rows))), chunk("IEND", Buffer.alloc(0))]);
}

/** A valid PDF of `pages` pages (with its xref table and %%EOF). */
function pdf(pages) {
  const objs = [];
  const kids = Array.from({ length: pages }, (_, i) => `${4 + i * 2} 0 R`).join(" ");
  objs.push("<< /Type /Catalog /Pages 2 0 R >>");
  objs.push(`<< /Type /Pages /Kids [${kids}] /Count ${pages} >>`);
  objs.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  for (let i = 0; i < pages; i++) {
    const text = `BT /F1 24 Tf 72 720 Td (Brief, page ${i + 1}) Tj ET`;
    objs.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${5 + i * 2} 0 R >>`);
    objs.push(`<< /Length ${text.length} >>\nstream\n${text}\nendstream`);
  }
  let out = "%PDF-1.4\n";
  const offsets = [];
  objs.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("")}`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

/** `secs` of a 440 Hz tone rising and falling, 8 kHz 16-bit mono WAV. */
function wav(secs) {
  const rate = 8000;
  const n = Math.round(rate * secs);
  const data = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) {
    const env = Math.sin((Math.PI * i) / n);
    data.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * env * 28000), i * 2);
  }
  const h = Buffer.alloc(44);
  h.write("RIFF", 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write("WAVE", 8);
  h.write("fmt ", 12);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write("data", 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

// --- set-up ----------------------------------------------------------------------------

let agora, browser, ctxA, ctxB, pageA, pageB, convUrl;
const problems = [];

function watch(page, who) {
  page.on("console", (m) => {
    // Refused uploads (4xx) are part of what is tested here.
    if (m.type() === "error" && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) problems.push(`${who} console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${who} pageerror: ${e.message}`));
}

before(async () => {
  // A low document cap, so a 413 needs no large file.
  agora = await startAgora({ env: { AGORA_ATTACHMENT_DOCUMENT_MAX_BYTES: "200000" } });
  // Chromium's fake microphone, so MediaRecorder has something to record.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
  });
  ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 }, permissions: ["microphone"], acceptDownloads: true });
  ctxB = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  pageA = await ctxA.newPage();
  pageB = await ctxB.newPage();
  watch(pageA, "ann");
  watch(pageB, "ben");
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

const pick = (page, files) => page.locator("#attach-files").setInputFiles(files);
const upload = (page, name) => page.getByTestId("upload").filter({ hasText: name });

test("two people in a conversation", async () => {
  await signup(pageA, ann);
  await signup(pageB, ben);
  const a = await rest(agora.base, "/api/auth/login", { method: "POST", body: { email: ann.email, password: PASSWORD } });
  const me = await rest(agora.base, "/api/auth/me", { token: (await rest(agora.base, "/api/auth/login", { method: "POST", body: { email: ben.email, password: PASSWORD } })).access });
  const conv = await rest(agora.base, "/api/conversations", { method: "POST", token: a.access, body: { participant_ids: [me.id] } });
  convUrl = `/conversations/${conv.id}`;
  await pageA.goto(`${agora.base}${convUrl}`);
  await pageA.getByText("No messages yet. Say hello!").waitFor();
  await pageB.goto(`${agora.base}${convUrl}`);
  await pageB.getByText("No messages yet. Say hello!").waitFor();
});

test("a PNG (picker), a PDF (dropped) and a WAV are uploaded with progress and sent with an empty body", async () => {
  const send = pageA.getByRole("button", { name: "Send" });
  assert.equal(await send.isDisabled(), true, "nothing to send yet");
  await pick(pageA, [
    { name: "site-photo.png", mimeType: "image/png", buffer: png(640, 420) },
    { name: "voice-memo.wav", mimeType: "audio/wav", buffer: wav(2) },
  ]);
  // Dropped on the conversation.
  const dt = await pageA.evaluateHandle((b64) => {
    const d = new DataTransfer();
    d.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], "brief.pdf", { type: "application/pdf" }));
    return d;
  }, pdf(3).toString("base64"));
  await pageA.locator(".conv").dispatchEvent("dragover", { dataTransfer: dt });
  await pageA.locator(".conv").dispatchEvent("drop", { dataTransfer: dt });
  for (const name of ["site-photo.png", "voice-memo.wav", "brief.pdf"]) {
    await upload(pageA, name).and(pageA.locator('[data-state="done"]')).waitFor({ timeout: 15000 });
  }
  assert.equal(await pageA.getByTestId("upload-error").count(), 0);
  assert.equal(await send.isDisabled(), false, "files alone may be sent");
  await send.click();
  const mine = pageA.getByTestId("message").filter({ has: pageA.getByTestId("attachment") });
  await mine.getByTestId("thumbnail").waitFor({ timeout: 10000 });
  assert.equal(await pageA.getByTestId("upload").count(), 0, "the composer's files are cleared");
  await mine.and(pageA.locator("[data-seq]")).waitFor({ timeout: 5000 });
});

async function checkReceived(page) {
  const msg = page.getByTestId("message").filter({ has: page.getByTestId("attachment") }).first();
  await msg.waitFor({ timeout: 10000 });
  // The thumbnail is drawn (a signed link that loaded).
  const img = msg.getByTestId("thumbnail");
  await img.waitFor();
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout: 10000 });
  assert.match(await img.getAttribute("src"), /\/api\/attachments\/[0-9a-f-]+\/content\?v=small&exp=\d+&sig=[0-9a-f]+/);
  assert.equal(await img.getAttribute("alt"), "site-photo.png");
  // The PDF: a download link with its name, size and page count.
  const doc = msg.getByTestId("download");
  assert.match(await doc.textContent(), /brief\.pdf.*KB.*3 pages/s);
  // The WAV: a player, its duration and the waveform from the server's peaks.
  const audio = msg.locator('[data-kind="audio"]');
  assert.match(await audio.getByTestId("duration").textContent(), /^0:02 · /);
  await audio.getByTestId("waveform").waitFor();
  assert.equal(await audio.locator("rect").count(), 64);
  assert.match((await audio.getByTestId("audio").getAttribute("src")) ?? "", /\/content\?v=original&exp=/);
  return msg;
}

test("the other side sees the thumbnail, the download and the player live", async () => {
  const msg = await checkReceived(pageB);
  // The download is the PDF itself.
  const [download] = await Promise.all([pageB.waitForEvent("download"), msg.getByTestId("download").click()]);
  assert.equal(download.suggestedFilename(), "brief.pdf");
  const bytes = readFileSync(await download.path());
  assert.equal(bytes.subarray(0, 5).toString(), "%PDF-");
  // The thumbnail opens the large image.
  await msg.getByRole("button", { name: "Open image site-photo.png" }).click();
  const full = pageB.getByTestId("full-image");
  await full.waitFor();
  await pageB.waitForFunction((el) => el.complete && el.naturalWidth > 0, await full.elementHandle(), { timeout: 10000 });
  assert.match(await full.getAttribute("src"), /v=large/);
  await pageB.getByRole("dialog").getByRole("button", { name: "Close" }).click();
  await full.waitFor({ state: "detached" });
});

test("after a reload the attachments are there, with fresh signed links", async () => {
  const before = await pageB.getByTestId("thumbnail").getAttribute("src");
  await pageB.reload();
  await checkReceived(pageB);
  await pageA.reload();
  await checkReceived(pageA);
  // The conversation list names the file message.
  await pageB.goto(`${agora.base}/conversations`);
  await pageB.getByTestId("conversation").filter({ hasText: "3 attachments" }).waitFor();
  assert.ok(before);
});

test("an expired signed link is refused by the server, and the app asks for a fresh one", async () => {
  await pageB.goto(`${agora.base}${convUrl}`);
  const src = await pageB.getByTestId("thumbnail").getAttribute("src");
  const expired = src.replace(/exp=\d+/, "exp=1000");
  const r = await pageB.request.get(`${agora.base}${expired}`);
  assert.equal(r.status(), 403, "a changed expiry breaks the signature");
  // The app's cache hands out no link past its expiry: pretend the clock moved 10 minutes.
  await pageB.evaluate(() => {
    const real = Date.now;
    Date.now = () => real() + 10 * 60 * 1000;
  });
  const requests = [];
  pageB.on("request", (q) => q.url().match(/\/api\/attachments\/[0-9a-f-]+$/) && requests.push(q.url()));
  const [download] = await Promise.all([pageB.waitForEvent("download"), pageB.getByTestId("download").first().click()]);
  assert.equal(download.suggestedFilename(), "brief.pdf");
  assert.ok(requests.length >= 1, "a fresh link was asked for before the download");
  await pageB.reload();
});

test("refusals are shown from the envelope: HTML named .jpg (415), too large (413), unreadable (422)", async () => {
  await pageA.goto(`${agora.base}${convUrl}`);
  await pick(pageA, [
    { name: "holiday.jpg", mimeType: "image/jpeg", buffer: Buffer.from("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>") },
    { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("a plain line of notes\n".repeat(12000)) },
    { name: "broken.png", mimeType: "image/png", buffer: png(200, 200).subarray(0, 120) },
  ]);
  const err415 = upload(pageA, "holiday.jpg").getByTestId("upload-error");
  await err415.waitFor({ timeout: 15000 });
  assert.match(await err415.textContent(), /holiday\.jpg: This type of file is not accepted\. .+/);
  const err413 = upload(pageA, "notes.txt").getByTestId("upload-error");
  await err413.waitFor({ timeout: 15000 });
  assert.match(await err413.textContent(), /notes\.txt: The file is too large\. .+/);
  const err422 = upload(pageA, "broken.png").getByTestId("upload-error");
  await err422.waitFor({ timeout: 15000 });
  assert.match(await err422.textContent(), /broken\.png: The file could not be read\. .+/);
  assert.equal(await pageA.getByRole("button", { name: "Send" }).isDisabled(), true, "refused files are never sent");
  await pageA.screenshot({ path: join(shots, "attachments-refused-desktop.png") });
  for (const name of ["holiday.jpg", "notes.txt", "broken.png"]) await upload(pageA, name).getByRole("button", { name: /Remove/ }).click();
  assert.equal(await pageA.getByTestId("upload").count(), 0);
});

test("an upload in progress shows its progress and can be cancelled", async () => {
  // Each chunk is held back for a while, so the upload is seen under way.
  await pageA.route("**/api/uploads/*", async (route) => {
    if (route.request().method() === "PATCH") await new Promise((r) => setTimeout(r, 1500));
    // A cancelled request is already gone.
    await route.continue().catch(() => {});
  });
  await pick(pageA, [{ name: "big-photo.png", mimeType: "image/png", buffer: png(1600, 1200, 80) }]);
  const row = upload(pageA, "big-photo.png");
  await row.locator("progress").waitFor();
  assert.equal(await row.getAttribute("data-state"), "uploading");
  assert.equal(await pageA.getByRole("button", { name: "Send" }).isDisabled(), true, "no send while a file is uploading");
  await row.getByRole("button", { name: "Cancel big-photo.png" }).click();
  await row.waitFor({ state: "detached" });
  await pageA.unroute("**/api/uploads/*");
  assert.equal(await pageA.getByTestId("upload").count(), 0);
});

test("at most 10 files per message", async () => {
  const many = Array.from({ length: 11 }, (_, i) => ({ name: `tile-${i + 1}.png`, mimeType: "image/png", buffer: png(32, 32, i * 20) }));
  await pick(pageA, many);
  await pageA.getByText("At most 10 files per message: 1 left out.").waitFor();
  assert.equal(await pageA.getByTestId("upload").count(), 10);
  assert.equal(await pageA.getByTestId("attach").isDisabled(), true);
  for (let i = 0; i < 10; i++) await pageA.getByTestId("upload").first().getByRole("button").click();
  assert.equal(await pageA.getByTestId("upload").count(), 0);
});

test("a voice note recorded with MediaRecorder is uploaded and sent", async () => {
  const supported = await pageA.evaluate(() => typeof MediaRecorder !== "undefined" && ["audio/ogg;codecs=opus", "audio/webm;codecs=opus", "audio/webm"].some((t) => MediaRecorder.isTypeSupported(t)));
  assert.equal(await pageA.getByTestId("record").count(), supported ? 1 : 0, "the record button shows exactly where MediaRecorder can record audio");
  if (!supported) return;
  await pageA.getByRole("button", { name: "Record a voice note" }).click();
  await pageA.getByTestId("record-stop").waitFor();
  await pageA.waitForTimeout(1800);
  await pageA.getByRole("button", { name: /Stop recording/ }).click();
  const row = pageA.getByTestId("upload").filter({ hasText: /voice-note-.*\.(ogg|webm)/ });
  await row.and(pageA.locator('[data-state="done"], [data-state="failed"]')).waitFor({ timeout: 15000 });
  assert.equal(await row.getAttribute("data-state"), "done", await row.textContent());
  await pageA.getByLabel("Message", { exact: true }).fill("And a voice note");
  await pageA.getByRole("button", { name: "Send" }).click();
  const note = pageB.getByTestId("message").filter({ hasText: "And a voice note" });
  await note.locator('[data-kind="audio"]').waitFor({ timeout: 10000 });
  // The server gives WebM from MediaRecorder no duration; the player finds it once loaded.
  await note.getByTestId("audio").evaluate((a) => a.load());
  await note.getByTestId("duration").filter({ hasText: /^(0:0[1-3] · )?\d+(\.\d)? KB$/ }).waitFor({ timeout: 10000 });
});

test("a browser without MediaRecorder gets no record button", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await ctx.addInitScript(() => {
    delete window.MediaRecorder;
  });
  const page = await ctx.newPage();
  await page.goto(`${agora.base}/login`);
  await page.getByLabel("Email or username").fill(ben.email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator(".who").waitFor();
  await page.goto(`${agora.base}${convUrl}`);
  await page.getByTestId("attach").waitFor();
  assert.equal(await page.getByTestId("record").count(), 0);
  await ctx.close();
});

test("service gallery: the owner adds and reorders images on /profile, the service page shows them", async () => {
  await pageB.goto(`${agora.base}/profile`);
  await pageB.getByLabel("About you").fill("Builder of garden sheds.");
  await pageB.getByLabel("Hourly rate ($)").fill("35");
  await pageB.getByLabel("City").fill("Leeds");
  await pageB.getByLabel("Country").fill("United Kingdom");
  await pageB.getByRole("button", { name: "Create profile" }).click();
  await pageB.getByRole("link", { name: "See your public profile" }).waitFor();
  await pageB.getByText("No services yet").waitFor();
  await pageB.getByLabel("Service title").fill("Garden shed building");
  await pageB.getByLabel("Service description").fill("A wooden shed built in your garden in two days.");
  await pageB.getByLabel("Price ($)").fill("900");
  await pageB.getByRole("button", { name: "Publish service" }).click();
  await pageB.waitForURL(/\/services\/[0-9a-f-]{36}$/);
  const serviceUrl = new URL(pageB.url()).pathname;
  assert.equal(await pageB.getByTestId("gallery-image").count(), 0, "no gallery yet");

  await pageB.goto(`${agora.base}/profile`);
  const editor = pageB.getByTestId("gallery-editor").filter({ hasText: "Garden shed building" });
  await editor.getByText("No images yet.").waitFor();
  await editor.getByTestId("gallery-add").setInputFiles([
    { name: "shed-front.png", mimeType: "image/png", buffer: png(400, 300, 0) },
    { name: "shed-side.png", mimeType: "image/png", buffer: png(300, 400, 120) },
  ]);
  await editor.getByText("2 images added.").waitFor({ timeout: 15000 });
  const order = () => editor.getByTestId("gallery-item").locator("img").evaluateAll((els) => els.map((e) => `${e.naturalWidth}x${e.naturalHeight}`));
  await pageB.waitForFunction(() => [...document.querySelectorAll("[data-testid=gallery-item] img")].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 10000 });
  const first = await order();
  assert.equal(first.length, 2);
  await editor.getByRole("button", { name: "Down (image 1)" }).click();
  await editor.getByText("Image 1 moved to place 2.").waitFor();
  await pageB.waitForFunction(() => [...document.querySelectorAll("[data-testid=gallery-item] img")].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 10000 });
  assert.deepEqual(await order(), [first[1], first[0]], "the images swapped places");
  // A file that is not an image is refused by the server's rule for galleries.
  await editor.getByTestId("gallery-add").setInputFiles([{ name: "brief.pdf", mimeType: "application/pdf", buffer: pdf(1) }]);
  await editor.getByRole("alert").waitFor({ timeout: 15000 });
  assert.match(await editor.getByRole("alert").textContent(), /cannot be attached to a gallery|not allowed|type/i);
  await pageB.screenshot({ path: join(shots, "profile-gallery-desktop.png"), fullPage: true });

  // Anyone sees them on the service page, in the new order (the links need no token).
  const anon = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await anon.newPage();
  watch(page, "anonymous");
  await page.goto(`${agora.base}${serviceUrl}`);
  await page.getByTestId("gallery-image").first().waitFor();
  await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=gallery-image]")].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 10000 });
  const shown = await page.getByTestId("gallery-image").evaluateAll((els) => els.map((e) => `${e.naturalWidth}x${e.naturalHeight}`));
  assert.deepEqual(shown, [first[1], first[0]]);
  await page.screenshot({ path: join(shots, "service-gallery-phone.png") });
  await page.getByRole("button", { name: "Open image 1 of 2" }).click();
  await page.getByTestId("gallery-full").waitFor();
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  assert.deepEqual(bad, []);
  await anon.close();
});

test("the conversation with attachments: 0 serious or critical axe violations, no layout shift, screenshots", async () => {
  const failures = [];
  for (const [label, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
    for (const [who, page] of [["sender", pageA], ["receiver", pageB]]) {
      await page.setViewportSize(viewport);
      await page.goto(`${agora.base}${convUrl}`);
      await page.getByTestId("thumbnail").first().waitFor({ timeout: 10000 });
      await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=thumbnail]")].every((i) => i.complete), null, { timeout: 10000 });
      await page.waitForTimeout(200);
      await page.screenshot({ path: join(shots, `conversation-attachments-${who}-${label}.png`) });
      const cls = await page.evaluate(
        () =>
          new Promise((resolve) => {
            let sum = 0;
            new PerformanceObserver((list) => {
              for (const e of list.getEntries()) {
                if (e.hadRecentInput) continue;
                sum += e.value;
                for (const src of e.sources ?? []) {
                  const n = src.node;
                  why.push(`${e.value.toFixed(3)} ${n ? `${n.nodeName}.${n.className ?? ""} "${(n.textContent ?? "").slice(0, 30)}"` : "?"} x ${Math.round(src.previousRect.x)}->${Math.round(src.currentRect.x)} y ${Math.round(src.previousRect.y)}->${Math.round(src.currentRect.y)} w ${Math.round(src.previousRect.width)}->${Math.round(src.currentRect.width)}`);
                }
              }
            }).observe({ type: "layout-shift", buffered: true });
            const why = [];
            window.__shiftWhy = why;
            setTimeout(() => resolve(sum), 50);
          }),
      );
      console.log(`# layout shift: conversation with attachments, ${who} (${label}) ${cls.toFixed(3)}${process.env.DEBUG_CLS ? ` ${JSON.stringify(await page.evaluate(() => window.__shiftWhy))}` : ""}`);
      if (cls >= 0.05) failures.push(`${who} (${label}): layout shift ${cls.toFixed(3)}`);
      await page.evaluate(axeSource);
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
      for (const v of result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")) {
        failures.push(`${who} (${label}): ${v.id} [${v.impact}] ${v.help}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
      }
      if (label === "phone") {
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        if (wide > 390) failures.push(`${who} (phone): the page is ${wide}px wide`);
      }
    }
  }
  // The lightbox at phone width.
  await pageB.getByRole("button", { name: "Open image site-photo.png" }).first().click();
  await pageB.getByTestId("full-image").waitFor();
  await pageB.waitForFunction(() => document.querySelector("[data-testid=full-image]")?.complete, null, { timeout: 10000 });
  await pageB.screenshot({ path: join(shots, "attachment-lightbox-phone.png") });
  await pageB.keyboard.press("Escape");
  for (const p of [pageA, pageB]) await p.setViewportSize({ width: 1280, height: 800 });
  assert.deepEqual(failures, [], failures.join("\n"));
});

test("no CSP refusal and no uncaught error", () => {
  assert.deepEqual(problems, [], problems.join("\n"));
});
