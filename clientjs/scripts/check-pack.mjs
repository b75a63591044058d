// Fails unless the npm tarball (`npm pack --dry-run`) holds exactly what the
// package ships: the build and its declarations, README.md, LICENSE (a copy of
// the repository's, checked to be identical) and package.json; no sources,
// tests, scripts or node_modules.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const EXPECTED = [
  'LICENSE', 'README.md', 'package.json',
  ...['hubbub', 'hubbub-msgpack'].flatMap((name) => ['.js', '.mjs', '.cjs', '.d.ts', '.d.cts'].map((ext) => `dist/${name}${ext}`)),
].sort();

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const npm = process.env.npm_execpath
  ? [process.execPath, [process.env.npm_execpath]] // under npm run: the same npm
  : ['npm', []];
const [{ files }] = JSON.parse(execFileSync(npm[0], [...npm[1], 'pack', '--dry-run', '--json', '--ignore-scripts'], {
  cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
}));
const packed = files.map((f) => f.path).sort();
const missing = EXPECTED.filter((f) => !packed.includes(f));
const extra = packed.filter((f) => !EXPECTED.includes(f));
let failed = false;
if (missing.length || extra.length) {
  console.error(`npm pack: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(extra)} (see "files" in package.json)`);
  failed = true;
}
if (!readFileSync(path.join(root, 'LICENSE')).equals(readFileSync(path.join(root, '..', 'LICENSE')))) {
  console.error('LICENSE differs from the repository\'s ../LICENSE: copy it again');
  failed = true;
}
if (failed) process.exit(1);
console.log(`npm pack: the ${packed.length} expected files`);
