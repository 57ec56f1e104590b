// Measure every page of the built book in headless Chromium and print one JSON line:
//   node web/check_layout.mjs BASE_URL PAGE.html [PAGE.html ...]
// For each page, at 1280x800: every code listing, cell output, display formula and table
// whose content is wider than its box (scrollWidth > clientWidth + 1 on the block or on
// any scrolling element inside it), or that sticks out of the text column; at 390x844 (a
// phone): the document's width. Collapsed dropdowns are opened first so their content is
// measured too.
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, ...pages] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const context = await chromium.launchPersistentContext(
  mkdtempSync(join(tmpdir(), "cgan-chromium-")),
  {
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage"],
  },
);
const page = await context.newPage();
await page.route("**/*", (route) => {
  const host = new URL(route.request().url()).hostname;
  if (host === "127.0.0.1" || route.request().url().startsWith("data:")) {
    return route.continue();
  }
  return route.abort(); // the book is offline; nothing from elsewhere
});

// Runs in the page: the blocks wider than their box, and the document's width.
function measure() {
  document.querySelectorAll("details").forEach((d) => { d.open = true; });
  document.querySelectorAll(".toggle-hidden").forEach((e) => {
    e.classList.remove("toggle-hidden");
  });
  const article = document.querySelector("article.bd-article") || document.body;
  const columnRight = article.getBoundingClientRect().right;
  const kinds = [
    // outputs first, so a listing printed by a cell counts as an output
    ["output", "div.cell_output > *"],
    ["formula", "div.math, mjx-container[display='true']"],
    ["table", "table"],
    ["code", "div.highlight pre"],
  ];
  // inside a block, anything that can scroll or overflow on its own (not inline math:
  // MathJax's hidden assistive markup makes every inline formula a few px "wide")
  const inner = "pre, table, div.math, mjx-container[display='true'], div.output, "
    + ".pst-scrollable-table-container, div.highlight";
  // how far an element's content reaches past its box, or past the text column
  const overflow = (el) => {
    let content = el.scrollWidth;
    if (el.matches("mjx-container")) { // the typeset formula itself, not the hidden markup
      const math = el.querySelector("mjx-math");
      content = math ? math.getBoundingClientRect().width : el.clientWidth;
    } else if (el.matches("div.math")) {
      content = el.clientWidth; // a display formula's box; its mjx-container is measured
    }
    return Math.max(content - el.clientWidth, el.getBoundingClientRect().right - columnRight);
  };
  const seen = new Set();
  const offenders = [];
  for (const [kind, selector] of kinds) {
    for (const block of article.querySelectorAll(selector)) {
      if (seen.has(block) || !block.getClientRects().length) continue;
      let worst = 0, box = block.clientWidth, content = block.scrollWidth;
      for (const el of [block, ...block.querySelectorAll(inner)]) {
        seen.add(el);
        if (!el.getClientRects().length) continue;
        const over = overflow(el);
        if (over > worst) {
          [worst, box, content] = [over, el.clientWidth, el.clientWidth + over];
        }
      }
      for (let p = block.parentElement; p; p = p.parentElement) seen.add(p);
      if (worst > 1) {
        // a formula is named by its TeX source, anything else by its text
        const item = kind === "formula"
          && window.MathJax?.startup?.document?.getMathItemsWithin?.(block)?.[0];
        const text = (item ? item.math : block.innerText || block.textContent || "").trim();
        offenders.push({
          kind,
          first: text.split("\n")[0].slice(0, 100),
          content: Math.round(content),
          box: Math.round(box),
        });
      }
    }
  }
  return {
    offenders,
    documentWidth: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
    viewport: window.innerWidth,
  };
}

const result = {};
for (const path of pages) {
  result[path] = {};
  for (const [width, height] of [[1280, 800], [390, 844]]) {
    await page.setViewportSize({ width, height });
    try {
      await page.goto(`${base}/${path}`, { waitUntil: "load" });
      await page.evaluate(() => document.fonts.ready);
      // MathJax typesets after load; wait for it when the page uses it
      await page.evaluate(() => window.MathJax?.startup?.promise);
      result[path][width] = await page.evaluate(measure);
    } catch (e) {
      result[path][width] = { error: String(e) };
    }
  }
}
await context.close();
console.log(JSON.stringify(result));
