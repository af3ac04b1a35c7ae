// Opens every page of the built book in headless Chromium, as a reader's browser shows it,
// and fails on: a missing page, a broken internal link (file or #anchor), an image that does
// not load, a cell error on the page, maths left as raw TeX, content wider than the page's
// text column, a page taller than MAX_PAGE_PX, or a table whose rows wrap (a cell's text on
// more than MAX_CELL_LINES lines). Saves a full-page screenshot of each page for a person to
// look at.
//
// Run: make browser-check   (or: node browser_check/check.mjs _build/html _build/screenshots)
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import chromium from "@sparticuz/chromium";
import puppeteer from "puppeteer-core";

const [root = "_build/html", shots = "_build/screenshots"] = process.argv.slice(2);
const VIEWPORT = { width: 1280, height: 900 };  // a laptop screen; the book's wide layout
const SHOT_PX = 8000;  // screenshot height per part
const SLACK_PX = 2;  // sub-pixel rounding between the layout and the rectangles it reports
// A page is read top to bottom: past this height (about 22 screens of 900 px) a chapter is
// a reference to search, not a page to read, and it must be split or cut.
const MAX_PAGE_PX = 20000;
// A table is read across: a cell that wraps onto a third line breaks the rows apart.
const MAX_CELL_LINES = 2;

function pagesUnder(folder) {
  return fs.readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".html"))
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name))
    // _static, _sources, _images hold assets, not pages
    .filter((file) => !path.relative(folder, file).split(path.sep).some((part) => part.startsWith("_")))
    .sort();
}

// Ids on a page, read from the file (cached): what a #fragment may point to.
const idsOf = new Map();
function pageIds(file) {
  if (!idsOf.has(file)) {
    const html = fs.readFileSync(file, "utf8");
    idsOf.set(file, new Set([...html.matchAll(/\sid="([^"]+)"/g)].map((match) => match[1])));
  }
  return idsOf.get(file);
}

function brokenLinks(hrefs) {
  const broken = [];
  for (const href of hrefs) {
    const url = new URL(href);
    if (url.protocol !== "file:") continue;  // the web is checked by nobody here
    let target = fileURLToPath(url);
    if (fs.existsSync(target) && fs.statSync(target).isDirectory()) {
      target = path.join(target, "index.html");
    }
    if (!fs.existsSync(target)) broken.push(`${href} (no such file)`);
    else if (url.hash && target.endsWith(".html")
             && !pageIds(target).has(decodeURIComponent(url.hash.slice(1)))) {
      broken.push(`${href} (no such anchor)`);
    }
  }
  return broken;
}

// Runs in the page: images, cell errors, what sticks out of the text column, wrapped tables.
function inspect(slack, maxCellLines) {
  // How many lines the longest paragraph of a table cell takes. Each text node's client
  // rectangles are its line fragments, grouped by the block they flow in (the cell, or a
  // list item or paragraph inside it: separate blocks are separate lines by design, not
  // wrapping). Within a block, a fragment whose middle lies within the line above shares
  // that line (a <code> beside plain text sits a few pixels higher, on the same line).
  function cellLines(cell) {
    const blocks = new Map();  // block element -> its text's line fragments
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      let block = node.parentElement;
      while (block !== cell && getComputedStyle(block).display.startsWith("inline")) {
        block = block.parentElement;
      }
      const range = document.createRange();
      range.selectNodeContents(node);
      const fragments = blocks.get(block) ?? [];
      fragments.push(...[...range.getClientRects()].filter((rect) => rect.width && rect.height));
      blocks.set(block, fragments);
    }
    let most = 0;
    for (const fragments of blocks.values()) {
      fragments.sort((a, b) => a.top - b.top);
      let lines = 0;
      let bottom = -Infinity;
      for (const rect of fragments) {
        if ((rect.top + rect.bottom) / 2 > bottom) {
          lines += 1;
          bottom = rect.bottom;
        }
      }
      most = Math.max(most, lines);
    }
    return most;
  }
  const describe = (element) => {
    const text = (element.innerText || element.getAttribute("src") || "").trim();
    return `<${element.tagName.toLowerCase()}${element.className && typeof element.className === "string"
      ? ` class="${element.className}"` : ""}> ${JSON.stringify(text.slice(0, 60))}`;
  };
  const column = document.querySelector("article.bd-article") || document.querySelector("main")
    || document.body;
  const edge = column.getBoundingClientRect().right;
  const scrolls = (element) => ["auto", "scroll", "hidden"].includes(
    getComputedStyle(element).overflowX);
  const wide = [];
  for (const element of column.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    if (box.width === 0 || getComputedStyle(element).visibility === "hidden") continue;
    // MathJax's hidden assistive MathML widens a formula's scrollWidth without showing:
    // a typeset formula is measured by its box alone.
    const typeset = element.querySelector(":scope > mjx-container") !== null;
    if (scrolls(element) && !typeset && element.scrollWidth > element.clientWidth + slack) {
      wide.push(`${describe(element)}: ${element.scrollWidth - element.clientWidth} px hidden `
                + "behind a scroll bar");
    }
    let inside = false;  // within a scrolling box: reported once, above, for that box
    for (let up = element.parentElement; up && up !== column; up = up.parentElement) {
      if (scrolls(up)) { inside = true; break; }
    }
    // Past the column: the box itself, or what overflows out of it (a long line in a <pre>).
    const overflow = element.clientWidth > 0 && !scrolls(element)
      ? element.scrollWidth - element.clientWidth : 0;
    const right = Math.max(box.right, box.left + element.clientLeft + element.clientWidth
                           + overflow);
    if (!inside && right > edge + slack) {
      wide.push(`${describe(element)}: ${Math.round(right - edge)} px past the column`);
    }
  }
  // A table whose text cannot fit the column wraps its cells: report each table's tallest cell
  // (not code shown with line numbers, a table whose lines are the code's own).
  const wrapped = [];
  for (const table of column.querySelectorAll("table:not(.highlighttable)")) {
    let worst = null;
    for (const cell of table.querySelectorAll("th, td")) {
      const lines = cellLines(cell);
      if (lines > maxCellLines && (!worst || lines > worst.lines)) worst = { cell, lines };
    }
    if (worst) {
      wrapped.push(`${describe(worst.cell)} takes ${worst.lines} lines (table `
                   + `${Math.round(table.getBoundingClientRect().width)} px wide, column `
                   + `${Math.round(column.getBoundingClientRect().width)} px)`);
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth + slack) {
    wide.push(`the page scrolls sideways (${document.documentElement.scrollWidth} px)`);
  }
  return {
    hrefs: [...document.querySelectorAll("a[href]")].map((a) => a.href),
    images: document.images.length,
    unloaded: [...document.images].filter((image) => !image.complete || image.naturalWidth === 0)
      .map((image) => image.getAttribute("src")),
    errors: [...document.querySelectorAll(".output.traceback, .output.error")].map(describe),
    // Sphinx writes maths as TeX in .math elements; MathJax replaces each with a container.
    rawMaths: [...column.querySelectorAll(".math")]
      .filter((element) => !element.querySelector("mjx-container")).map(describe),
    wide: [...new Set(wide)],
    wrapped,
    height: document.documentElement.scrollHeight,
  };
}

// A redirect page (the book's index.html) has nothing to look at: its target must exist.
function redirectTarget(file) {
  const match = fs.readFileSync(file, "utf8").match(
    /<meta http-equiv="Refresh" content="0; url=([^"]+)"/i);
  return match && new URL(match[1], pathToFileURL(path.resolve(file))).href;
}

async function checkPage(browser, file) {
  const name = path.relative(root, file);
  const redirect = redirectTarget(file);
  if (redirect) {
    const broken = brokenLinks([redirect]);
    console.log(`${broken.length ? "FAIL" : "ok  "} ${name}: redirects to ${redirect}`);
    for (const link of broken) console.log(`       broken redirect ${link}`);
    return broken.length;
  }
  const page = await browser.newPage();
  await page.setViewport(VIEWPORT);
  const missing = [];  // local files the page asked for and did not get
  page.on("requestfailed", (request) => {
    if (request.url().startsWith("file:")) missing.push(request.url());
  });
  await page.goto(pathToFileURL(path.resolve(file)).href, { waitUntil: "load" });
  // Images below the fold may be lazy: load them all before looking.
  await page.evaluate(async () => {
    for (const image of document.images) image.loading = "eager";
    await Promise.all([...document.images].map((image) => image.decode().catch(() => {})));
  });
  await page.evaluate(() => window.MathJax?.startup?.promise);  // typeset before looking
  const found = await page.evaluate(inspect, SLACK_PX, MAX_CELL_LINES);
  // Chromium cannot capture more than 16,384 px in one image (taller pages wrap around), so
  // each page is saved in parts (name.png, name.2.png, ...): a window SHOT_PX tall, as wide
  // as the one checked above, scrolled down part by part.
  const stem = path.join(shots, name.replaceAll(path.sep, "__").replace(/\.html$/, ""));
  await page.setViewport({ width: VIEWPORT.width, height: SHOT_PX });
  for (let top = 0, part = 1; top < found.height; top += SHOT_PX, part += 1) {
    await page.evaluate((y) => window.scrollTo(0, y), top);
    await page.screenshot({ path: `${stem}${part > 1 ? `.${part}` : ""}.png` });
  }
  await page.close();
  const problems = [
    ...missing.map((url) => `missing file ${url}`),
    ...brokenLinks(found.hrefs).map((link) => `broken link ${link}`),
    ...found.unloaded.map((src) => `image does not load: ${src}`),
    ...found.errors.map((error) => `cell error ${error}`),
    ...found.rawMaths.map((maths) => `maths not rendered ${maths}`),
    ...found.wide.map((what) => `wider than the page: ${what}`),
    ...found.wrapped.map((what) => `table rows wrap: ${what}`),
    ...(found.height > MAX_PAGE_PX
      ? [`page too tall: ${found.height} px at ${VIEWPORT.width} px wide, more than `
         + `${MAX_PAGE_PX} (split it or cut it)`] : []),
  ];
  console.log(`${problems.length ? "FAIL" : "ok  "} ${name}: ${found.images} images, `
              + `${found.hrefs.length} links, ${found.height} px tall`);
  for (const problem of problems) console.log(`       ${problem}`);
  return problems.length;
}

if (!fs.existsSync(path.join(root, "index.html"))) {
  console.error(`browser-check: no built book at ${root}/index.html; run make book-html first`);
  process.exit(2);
}
fs.mkdirSync(shots, { recursive: true });
const pages = pagesUnder(root);
if (pages.length < 2) {  // a book has an index and at least one page: finding none is a failure
  console.error(`browser-check: found ${pages.length} page(s) under ${root}; is it a built book?`);
  process.exit(2);
}
const browser = await puppeteer.launch({
  args: chromium.args, executablePath: await chromium.executablePath(), headless: true,
});
let failures = 0;
try {
  for (const file of pages) failures += await checkPage(browser, file) ? 1 : 0;
} finally {
  await browser.close();
}
console.log(`${pages.length} pages, ${failures} with problems; screenshots in ${shots}/`);
process.exit(failures ? 1 : 0);
