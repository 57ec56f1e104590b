// Drive the built book's live demo page in headless Chromium and print what a test needs as JSON:
//   node web/check_demo.mjs BASE_URL PAGE SCREENSHOT.png
// Console errors, failed requests (anything not from 127.0.0.1 counts as failed: the page must be offline),
// the 28x28 pixels drawn for digit 7 before and after moving the slider, and the number canvas's size.
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, path, screenshot] = process.argv.slice(2);
const url = `${base}/${path}`;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "cgan-chromium-")), {
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
const page = await context.newPage();
const consoleErrors = [], offsite = [];
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
page.on("pageerror", (e) => consoleErrors.push(String(e)));
await page.route("**/*", (route) => {
  const host = new URL(route.request().url()).hostname;
  // the browser's own favicon probe (the theme links none): not a page error
  if (new URL(route.request().url()).pathname === "/favicon.ico") return route.fulfill({ status: 204, body: "" });
  if (host === "127.0.0.1" || route.request().url().startsWith("data:")) return route.continue();
  offsite.push(route.request().url());
  return route.abort();  // the page must not need anything from elsewhere
});

const result = { consoleErrors, offsite };
try {
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector('#cgan-demo:is([data-state="ready"], [data-state="error"])', { timeout: 60000 });
  result.state = await page.getAttribute("#cgan-demo", "data-state");
  const pixels = () => page.evaluate(() => Array.from(
    document.getElementById("cgan-canvas").getContext("2d").getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0)));
  await page.click('button[data-digit="7"]');
  await page.waitForFunction(() => document.getElementById("cgan-demo").dataset.drawn?.startsWith("7:"));
  result.seven = await pixels();
  await page.fill("#cgan-slider", "100");
  await page.dispatchEvent("#cgan-slider", "input");
  await page.waitForFunction(() => document.getElementById("cgan-demo").dataset.drawn?.endsWith(":1"));
  result.sevenSlid = await pixels();
  await page.click('button[data-digit="3"]');
  await page.waitForFunction(() => document.getElementById("cgan-demo").dataset.drawn?.startsWith("3:"));
  result.three = await pixels();
  await page.fill("#cgan-number", "2026");
  await page.waitForFunction(() => document.getElementById("cgan-number-canvas").height > 1);
  result.numberCanvas = await page.evaluate(() => {
    const c = document.getElementById("cgan-number-canvas");
    return [c.width, c.height];
  });
  await page.fill("#cgan-number", "12a");
  result.badNumberMessage = await page.textContent("#cgan-message");
  await page.fill("#cgan-number", "9830976450");
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
} catch (e) {
  result.error = String(e);
}
await context.close();
console.log(JSON.stringify(result));
