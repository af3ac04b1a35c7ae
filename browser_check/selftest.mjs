// The check must be able to fail: run it on fixtures/broken, pages with one of each problem
// (index.html; tall.html, a page too tall), and require that it exits 1 and names every one,
// and that it passes other.html, a good page (good links, a table whose cells take two lines).
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const shots = path.join(os.tmpdir(), "yolo-smol-browser-selftest");
const run = spawnSync(process.execPath,
  [path.join(here, "check.mjs"), path.join(here, "fixtures", "broken"), shots],
  { encoding: "utf8" });
const expected = [
  /broken link .*missing\.html \(no such file\)/,
  /broken link .*other\.html#nowhere \(no such anchor\)/,
  /image does not load: no_such_image\.png/,
  /cell error .*ZeroDivisionError/,
  /maths not rendered .*b_x = /,
  /wider than the page: <pre> .* px past the column/,
  /table rows wrap: <td> "a cell whose text is far too long.*" takes \d+ lines/,
  /page too tall: 2\d{4} px at 1280 px wide, more than 20000/,
];
const absent = expected.filter((pattern) => !pattern.test(run.stdout));
const wronglyFlagged = /other\.html#there|other\.html \(/.test(run.stdout)
  || !/^ok {3}other\.html:/m.test(run.stdout);
if (run.status !== 1 || absent.length || wronglyFlagged) {
  console.error(run.stdout, run.stderr);
  console.error(`browser-check self-test FAILED: exit ${run.status}; not reported: `
                + `${absent.join(", ") || "none"}; a good link or page flagged: ${wronglyFlagged}`);
  process.exit(1);
}
console.log(`browser-check self-test: all ${expected.length} planted problems found`);
