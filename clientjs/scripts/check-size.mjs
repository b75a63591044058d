// Checks the size budget of the browser build: dist/hubbub.js minified and
// gzipped (level 9) must stay within 6 kB (6000 bytes). Prints the figures.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync } from 'node:zlib';

const BUDGET = 6000;
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
let over = false;
for (const name of ['hubbub.js', 'hubbub.mjs']) {
  const min = readFileSync(path.join(root, 'dist', name));
  const gz = gzipSync(min, { level: 9 }).length;
  const br = brotliCompressSync(min).length;
  console.log(`dist/${name}: ${min.length} B min, ${gz} B min+gzip, ${br} B min+brotli (budget ${BUDGET} B min+gzip)`);
  if (gz > BUDGET) over = true;
}
if (over) {
  console.error('over the size budget');
  process.exit(1);
}
