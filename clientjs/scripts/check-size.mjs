// Checks the size budgets of the browser build, minified and gzipped (level 9):
// the core (dist/hubbub.js, .mjs) within 6 kB (6000 bytes), the optional
// MessagePack protocol (dist/hubbub-msgpack.js, .mjs) within 3 kB. Prints the figures.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync } from 'node:zlib';

const BUDGETS = { 'hubbub.js': 6000, 'hubbub.mjs': 6000, 'hubbub-msgpack.js': 3000, 'hubbub-msgpack.mjs': 3000 };
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
