// Builds dist/hubbub.mjs (ES module) and dist/hubbub.js (classic script that
// defines the global Hubbub), both minified, from src/. Usage:
//   node scripts/build.mjs [outdir]      (default: dist)
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const outdir = path.resolve(process.argv[2] || path.join(root, 'dist'));
const { version } = (await import(path.join(root, 'package.json'), { with: { type: 'json' } })).default;

const common = {
  entryPoints: [path.join(root, 'src/index.js')],
  bundle: true,
  minify: true,
  target: ['es2020', 'chrome90', 'firefox90', 'safari15', 'node20'],
  legalComments: 'none',
  mangleProps: /^_[a-z]/,
  banner: { js: `/* hubbub-client ${version} | MIT */` },
  logLevel: 'warning',
  absWorkingDir: root,
};

await build({ ...common, format: 'esm', outfile: path.join(outdir, 'hubbub.mjs') });
await build({ ...common, format: 'iife', globalName: 'Hubbub', outfile: path.join(outdir, 'hubbub.js') });
