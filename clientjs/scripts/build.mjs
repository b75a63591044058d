// Builds dist/hubbub.mjs (ES module) and dist/hubbub.js (classic script that
// defines the global Hubbub), both minified, from src/: esbuild bundles and
// minifies (mangling _private properties), then terser squeezes out a few
// hundred bytes more (see the size budget in check-size.mjs). Usage:
//   node scripts/build.mjs [outdir]      (default: dist)
import { build } from 'esbuild';
import { minify } from 'terser';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const outdir = path.resolve(process.argv[2] || path.join(root, 'dist'));
const { version } = (await import(path.join(root, 'package.json'), { with: { type: 'json' } })).default;

const common = {
  entryPoints: [path.join(root, 'src/index.js')],
  bundle: true,
  minify: true,
  target: ['es2021', 'chrome91', 'firefox90', 'safari15', 'node20'],
  legalComments: 'none',
  mangleProps: /^_[a-z]/,
  logLevel: 'warning',
  absWorkingDir: root,
  write: false,
};

// The classic script sets the global from named imports: esbuild's globalName
// would bring its export helpers along (a hundred bytes gzipped).
const script = {
  contents: `import { connect, HubConnection, reconnectDelay } from './src/index.js';
globalThis.Hubbub = { connect, HubConnection, reconnectDelay };`,
  resolveDir: root,
};

for (const [format, name] of [['esm', 'hubbub.mjs'], ['iife', 'hubbub.js']]) {
  const { outputFiles } = await build({
    ...common, format, ...(format === 'iife' ? { entryPoints: undefined, stdin: script } : {}),
  });
  const { code } = await minify(outputFiles[0].text, {
    ecma: 2020, module: format === 'esm', compress: { passes: 3, pure_getters: true, unsafe_arrows: true, unsafe_methods: true }, mangle: true, toplevel: format === 'esm',
  });
  writeFileSync(path.join(outdir, name), `/* hubbub-client ${version} | MIT */\n${code}\n`);
}
