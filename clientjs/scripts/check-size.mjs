// Checks the size budgets of the browser build, minified and gzipped (level 9):
// the core (dist/hubbub.js, .mjs) within 6,200 bytes, the optional MessagePack
// protocol (dist/hubbub-msgpack.js, .mjs) within 3 kB. Prints the figures.
// The core's budget was 6,000 bytes until the fallback report (issue 17): its
// five stable reason words, the reserved target and the option take about 170
// bytes gzipped that no rewrite of the rest could find (the core sat at 5,997).
// They are words the server's metrics are keyed by, not to be shortened into
// codes; the report has an opt-out (reportFallback: false) but no build without it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync } from 'node:zlib';

const BUDGETS = { 'hubbub.js': 6200, 'hubbub.mjs': 6200, 'hubbub-msgpack.js': 3000, 'hubbub-msgpack.mjs': 3000 };
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
let over = false;
for (const [name, budget] of Object.entries(BUDGETS)) {
  const min = readFileSync(path.join(root, 'dist', name));
  const gz = gzipSync(min, { level: 9 }).length;
  const br = brotliCompressSync(min).length;
  console.log(`dist/${name}: ${min.length} B min, ${gz} B min+gzip, ${br} B min+brotli (budget ${budget} B min+gzip)`);
  if (gz > budget) over = true;
}
if (over) {
  console.error('over the size budget');
  process.exit(1);
}
