// Builds dist/hubbub.mjs (ES module) and dist/hubbub.js (classic script that
// defines the global Hubbub), and the optional MessagePack protocol beside them,
// dist/hubbub-msgpack.mjs and dist/hubbub-msgpack.js (the global HubbubMsgPack),
// all minified, from src/: esbuild bundles and
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
  bundle: true,
  minify: true,
  target: ['es2021', 'chrome91', 'firefox90', 'safari15', 'node20'],
  legalComments: 'none',
  mangleProps: /^_[a-z]/,
  logLevel: 'warning',
  absWorkingDir: root,
  write: false,
};

// The classic scripts set their global from named imports: esbuild's globalName
// would bring its export helpers along (a hundred bytes gzipped).
const bundles = [
  { entry: 'src/index.js', name: 'hubbub', global: 'Hubbub', exports: 'connect, HubConnection, reconnectDelay' },
  { entry: 'src/msgpack.js', name: 'hubbub-msgpack', global: 'HubbubMsgPack', exports: 'protocol, encode, decode' },
];

for (const b of bundles) {
  const script = {
    contents: `import { ${b.exports} } from './${b.entry}';\nglobalThis.${b.global} = { ${b.exports} };`,
    resolveDir: root,
  };
  for (const [format, name] of [['esm', b.name + '.mjs'], ['iife', b.name + '.js']]) {
    const { outputFiles } = await build({
      ...common, ...(format === 'iife' ? { stdin: script } : { entryPoints: [path.join(root, b.entry)] }), format,
    });
    const { code } = await minify(outputFiles[0].text, {
      ecma: 2020, module: format === 'esm', mangle: true, toplevel: format === 'esm',
      compress: { passes: 3, pure_getters: true, unsafe_arrows: true, unsafe_methods: true },
    });
    writeFileSync(path.join(outdir, name), `/* ${b.name === 'hubbub' ? 'hubbub-client' : 'hubbub-client/msgpack'} ${version} | MIT */\n${code}\n`);
  }
}
