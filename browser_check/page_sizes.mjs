// How long each page of the book is: its height at 1280 px as the browser check measures it,
// the words of prose its source holds (the Markdown cells of a chapter's notebook, or the
// whole .md page), and the screenshots the check saved of it. Runs the check itself, so the
// heights are exactly those the check holds to its limit.
//
// Run: node browser_check/page_sizes.mjs [_build/html] [_build/screenshots] [repository root]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const [root = "_build/html", shots = "_build/screenshots", repo = path.dirname(here)] =
  process.argv.slice(2);

// Words of prose: whitespace-separated runs in Markdown cells (code cells are not prose).
function proseWords(source) {
  const count = (text) => (text.match(/\S+/g) || []).length;
  if (source.endsWith(".md")) return count(fs.readFileSync(source, "utf8"));
  const notebook = JSON.parse(fs.readFileSync(source, "utf8"));
  return notebook.cells.filter((cell) => cell.cell_type === "markdown")
    .reduce((sum, cell) => sum + count([].concat(cell.source).join("")), 0);
}

const run = spawnSync(process.execPath, [path.join(here, "check.mjs"), root, shots],
  { encoding: "utf8" });
const pages = [...run.stdout.matchAll(/^(?:ok {2}|FAIL) (\S+\.html): .*?(\d+) px tall$/gm)];
if (!pages.length) {
  console.error(run.stdout, run.stderr);
  console.error("page_sizes: the browser check measured no page");
  process.exit(2);
}
const screenshots = fs.readdirSync(shots).filter((name) => name.endsWith(".png"));
console.log(`${"page".padEnd(32)} ${"px tall".padStart(8)} ${"words".padStart(6)}  screenshots`);
for (const [, page, height] of pages) {
  const stem = page.replaceAll("/", "__").replace(/\.html$/, "");
  // The check saves a page as stem.png, then stem.2.png, stem.3.png ... for its lower parts.
  const part = (name) => (name === `${stem}.png` ? 1
    : name.startsWith(`${stem}.`) && /^\d+$/.test(name.slice(stem.length + 1, -4))
      ? Number(name.slice(stem.length + 1, -4)) : 0);
  const shotsOf = screenshots.filter(part).sort((a, b) => part(a) - part(b));
  const source = ["ipynb", "md"].map((ext) => path.join(repo, page.replace(/\.html$/, `.${ext}`)))
    .find((file) => fs.existsSync(file));
  const words = source ? String(proseWords(source)) : "-";
  console.log(`${page.padEnd(32)} ${height.padStart(8)} ${words.padStart(6)}  ${shotsOf.join(" ")}`);
}
console.log(`(the check ${run.status ? "found problems" : "passed"}: ${
  run.stdout.trim().split("\n").at(-1)})`);
