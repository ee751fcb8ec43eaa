// Size (and syntax) check of the browser SDK: `node size.mjs` from clients/browser.
// Prints the minified (esbuild and terser) and gzip sizes of monlight.js, checks that the
// source parses as ES2018, and exits 1 when a minified build reaches the 6 KB budget.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { transformSync } from "esbuild";
import { minify } from "terser";
import { parse } from "acorn";

const BUDGET = 6 * 1024;
const source = readFileSync(fileURLToPath(new URL("monlight.js", import.meta.url)), "utf8");

parse(source, { ecmaVersion: 2018, sourceType: "script" }); // throws on anything newer than ES2018

const builds = {
  esbuild: transformSync(source, { minify: true, target: "es2018", loader: "js" }).code,
  terser: (await minify(source, { ecma: 2018, compress: { passes: 2 }, mangle: true })).code,
};
const size = (text) => Buffer.byteLength(text);
const gzip = (text) => gzipSync(Buffer.from(text), { level: 9 }).length;
console.log(`source        ${size(source)} B  (gzip ${gzip(source)} B)`);
let over = false;
for (const [tool, code] of Object.entries(builds)) {
  console.log(`${tool.padEnd(13)} ${size(code)} B  (gzip ${gzip(code)} B)`);
  over ||= size(code) >= BUDGET;
}
if (over) {
  console.error(`over budget: a minified build must stay under ${BUDGET} B`);
  process.exit(1);
}
