// Drive the chapters' live widgets (web/cgan.js) in headless Chromium and print what tests/test_live_widgets.py
// needs as JSON:   node web/check_widgets.mjs BASE_URL
// For every page: its widgets' states, console errors, requests that left 127.0.0.1 (blocked: the book is
// offline), the files the widgets loaded before and after scrolling to them (they start when near the screen),
// which controls Tab reaches and their labels, and the widths at 390 px.
// Then per widget: pixels before and after input, and the in-page GAN's distance figure over its steps.
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base] = process.argv.slice(2);
const PAGES = {
  toygan: "notebooks/02_minimax_game.html",
  picker: "notebooks/07_conditional_gan.html",
  slider: "notebooks/10_latent_space.html",
  number: "notebooks/11_writing_numbers.html",
};
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "cgan-chromium-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});

async function open(path, width = 1280) {
  const page = await context.newPage();
  await page.setViewportSize({ width, height: 900 });
  const info = { consoleErrors: [], offsite: [], widgetBytes: {} };
  page.on("console", (m) => { if (m.type() === "error") info.consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => info.consoleErrors.push(String(e)));
  page.on("response", async (r) => {
    const url = new URL(r.url());
    if (!url.pathname.includes("/_static/demo/")) return;
    try { info.widgetBytes[url.pathname.split("/").pop()] = (await r.body()).length; } catch { /* redirect */ }
  });
  await page.route("**/*", (route) => {
    const url = route.request().url();
    // the browser's own favicon probe (the theme links none): not a page error
    if (new URL(url).pathname === "/favicon.ico") return route.fulfill({ status: 204, body: "" });
    if (new URL(url).hostname === "127.0.0.1" || url.startsWith("data:")) return route.continue();
    info.offsite.push(url);
    return route.abort();
  });
  await page.goto(`${base}/${path}`, { waitUntil: "load" });
  await page.waitForTimeout(500);
  info.loadedBeforeScroll = Object.keys(info.widgetBytes);
  // widgets start when they come near the screen: scroll each into view
  await page.$$eval("[data-cgan-widget]", (ws) => ws.forEach((w) => w.scrollIntoView()));
  await page.waitForFunction(() => [...document.querySelectorAll("[data-cgan-widget]")]
    .every((w) => ["ready", "error"].includes(w.dataset.state)), null, { timeout: 90000 });
  info.states = await page.$$eval("[data-cgan-widget]", (ws) => ws.map((w) => [w.dataset.cganWidget, w.dataset.state]));
  return [page, info];
}

// Every control inside a widget: its label (what a screen reader says) and whether Tab reaches it.
async function keyboard(page) {
  const controls = await page.$$eval("[data-cgan-widget] :is(button, input, select)", (els) => els.map((e, i) => {
    e.dataset.cganProbe = String(i);
    const label = e.labels && e.labels.length ? e.labels[0].textContent : (e.getAttribute("aria-label") || "");
    return { probe: i, tag: e.tagName.toLowerCase(), name: (label || e.textContent || "").trim() };
  }));
  const reached = new Set();
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  for (let i = 0; i < 600 && reached.size < controls.length; i++) {
    await page.keyboard.press("Tab");
    const probe = await page.evaluate(() => document.activeElement?.dataset?.cganProbe);
    if (probe !== undefined) reached.add(Number(probe));
  }
  return controls.map((c) => ({ ...c, reached: reached.has(c.probe) }));
}

const pixels = (page, selector) => page.$eval(selector, (c) => {
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  return { width: c.width, height: c.height, grey: Array.from(d.filter((_, i) => i % 4 === 0)) };
});
const drawn = (page, kind) => page.$eval(`[data-cgan-widget="${kind}"]`, (w) => w.dataset.drawn);
const waitDrawn = (page, kind, value) => page.waitForFunction(([k, v]) =>
  document.querySelector(`[data-cgan-widget="${k}"]`).dataset.drawn === v, [kind, value], { timeout: 30000 });

const result = { pages: {} };
try {
  for (const [kind, path] of Object.entries(PAGES)) {
    const [page, info] = await open(path);
    info.controls = await keyboard(page);
    const w = `[data-cgan-widget="${kind}"]`;
    if (kind === "picker") {
      info.before = await pixels(page, `${w} canvas`);
      info.drawnBefore = await drawn(page, kind);
      await page.focus(`${w} button[data-digit="3"]`);  // picked with the keyboard
      await page.keyboard.press("Enter");
      await waitDrawn(page, kind, "3:0");
      info.after = await pixels(page, `${w} canvas`);
      info.pressed = await page.$eval(`${w} button[data-digit="3"]`, (b) => b.getAttribute("aria-pressed"));
    } else if (kind === "slider") {
      info.before = await pixels(page, `${w} canvas`);
      info.allLabels = await pixels(page, `${w} canvas.cgan-all`);
      await page.focus(`${w} input[type=range]`);
      await page.keyboard.press("End");  // the keyboard moves the slider to t = 1
      await waitDrawn(page, kind, "4:slerp:1");
      info.after = await pixels(page, `${w} canvas`);
      await page.fill(`${w} input[type=range]`, "50");
      await waitDrawn(page, kind, "4:slerp:0.5");
      info.slerpMid = await page.textContent(`${w} .cgan-readout`);
      await page.selectOption(`${w} select.cgan-method`, "lerp");
      await waitDrawn(page, kind, "4:lerp:0.5");
      info.lerpMid = await page.textContent(`${w} .cgan-readout`);
    } else if (kind === "number") {
      for (const text of ["9830976450", "2026", "12a"]) {
        await page.fill(`${w} input.cgan-number`, text);
        if (text !== "12a") {
          await waitDrawn(page, kind, `${text}:0`);
          info[`number${text}`] = await pixels(page, `${w} canvas`);
        }
      }
      info.badMessage = await page.textContent(`${w} .cgan-message`);
    } else if (kind === "toygan") {
      const figure = () => page.$eval(w, (r) => ({ step: Number(r.dataset.step),
                                                   distance: Number(r.dataset.modeDistance) }));
      info.controlsByKind = await page.$$eval(`${w} select`, (s) => s.map((e) => [...e.options].map((o) => o.value)));
      info.start = await figure();
      await page.focus(`${w} .cgan-step`);
      await page.keyboard.press("Enter");
      await page.waitForFunction((sel) => document.querySelector(sel).dataset.step === "1", w);
      info.oneStep = await figure();
      info.trained = [];
      for (let i = 0; i < 6; i++) {  // 600 steps of the non-saturating loss, ring of Gaussians, seed 0
        await page.$eval(w, (r) => r.cganAdvance(100));
        info.trained.push(await figure());
      }
      const run = () => page.$eval(w, async (r) => {
        await r.cganReset(); await r.cganAdvance(40); return r.dataset.modeDistance;
      });
      info.repeat = [await run(), await run()];  // same seed, same run
      await page.fill(`${w} input.cgan-seed`, "1");
      await page.dispatchEvent(`${w} input.cgan-seed`, "change");
      info.otherSeed = await run();
      await page.click(`${w} .cgan-play`);  // play for a moment, then pause
      await page.waitForFunction((sel) => Number(document.querySelector(sel).dataset.step) >= 40, w);
      await page.click(`${w} .cgan-play`);
      info.played = await figure();
      info.heat = await pixels(page, `${w} canvas.cgan-field`).then((p) => p.grey.filter((_, i) => i % 97 === 0));
    }
    info.consoleErrorsAfter = info.consoleErrors.length;
    await page.close();
    // a phone: the page and every widget fit 390 px
    const [phone, phoneInfo] = await open(path, 390);
    info.phone = await phone.evaluate(() => ({
      documentWidth: document.documentElement.scrollWidth,
      widgets: [...document.querySelectorAll("[data-cgan-widget]")].map((w) => {
        const r = w.getBoundingClientRect();
        return { right: Math.round(r.right), scrollWidth: w.scrollWidth, clientWidth: w.clientWidth };
      }),
    }));
    info.consoleErrors.push(...phoneInfo.consoleErrors);
    await phone.close();
    result.pages[kind] = info;
  }
} catch (e) {
  result.error = String(e.stack || e);
}
await context.close();
console.log(JSON.stringify(result));
