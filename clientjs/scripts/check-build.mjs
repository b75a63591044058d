// Fails when the committed dist/ does not match a fresh build of src/:
// rebuilds into a temporary directory and compares byte for byte.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What scripts/build.mjs writes; the .d.ts files are written by hand, the .d.cts copied from them. */
const BUILT = [
  'hubbub.js', 'hubbub.mjs', 'hubbub.cjs', 'hubbub.d.cts',
  'hubbub-msgpack.js', 'hubbub-msgpack.mjs', 'hubbub-msgpack.cjs', 'hubbub-msgpack.d.cts',
];

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const out = mkdtempSync(path.join(tmpdir(), 'hubbub-build-'));
try {
  execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs'), out], { stdio: 'inherit' });
  let stale = 0;
  for (const name of BUILT) {
    const fresh = readFileSync(path.join(out, name));
    let committed;
    try { committed = readFileSync(path.join(root, 'dist', name)); } catch { committed = Buffer.alloc(0); }
    if (!fresh.equals(committed)) {
      stale++;
      console.error(`dist/${name} does not match a fresh build of src/ (run: npm run build, then commit dist/)`);
    }
  }
  if (stale) process.exit(1);
  console.log('dist/ matches a fresh build');
} finally {
  rmSync(out, { recursive: true, force: true });
}
