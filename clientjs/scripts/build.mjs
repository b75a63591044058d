// Builds dist/hubbub.mjs (ES module), dist/hubbub.cjs (CommonJS, for require)
// and dist/hubbub.js (classic script that defines the global Hubbub), and the
// optional MessagePack protocol beside them, dist/hubbub-msgpack.mjs, .cjs and
// .js (the global HubbubMsgPack), all minified, from src/: esbuild bundles and
// minifies (mangling _private properties), then terser squeezes out a few
// hundred bytes more (see the size budget in check-size.mjs). Usage:
//   node scripts/build.mjs [outdir]      (default: dist)
import { build } from 'esbuild';
import { minify } from 'terser';
import { readFileSync, writeFileSync } from 'node:fs';
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
  { entry: 'src/index.js', name: 'hubbub', global: 'Hubbub', exports: 'connect, HubConnection, reconnectDelay, LogLevel' },
  { entry: 'src/msgpack.js', name: 'hubbub-msgpack', global: 'HubbubMsgPack', exports: 'protocol, encode, decode' },
];

for (const b of bundles) {
  const script = {
    contents: `import { ${b.exports} } from './${b.entry}';\nglobalThis.${b.global} = { ${b.exports} };`,
    resolveDir: root,
  };
  for (const [format, name] of [['esm', b.name + '.mjs'], ['cjs', b.name + '.cjs'], ['iife', b.name + '.js']]) {
    const { outputFiles } = await build({
      ...common, ...(format === 'iife' ? { stdin: script } : { entryPoints: [path.join(root, b.entry)] }), format,
    });
    const { code } = await minify(outputFiles[0].text, {
      // A module's top level (ESM or CommonJS) is its own: its names can be mangled.
      ecma: 2020, module: format === 'esm', mangle: true, toplevel: format !== 'iife',
      // Safe here: no getter has side effects, and no function expression or
      // object method is used with `new` or `this` of its own. Statements stay
      // statements (sequences: false): joined by commas they gzip worse.
      compress: { passes: 3, pure_getters: true, unsafe_arrows: true, unsafe_methods: true, sequences: false },
    });
    writeFileSync(path.join(outdir, name), `/* ${b.name === 'hubbub' ? 'hubbub-client' : 'hubbub-client/msgpack'} ${version} | MIT */\n${code}\n`);
  }
}

// The hand-written declarations as CommonJS ones (.d.cts), for TypeScript code
// that requires the package: the .d.ts files are ES module declarations
// (package.json has "type": "module").
for (const name of ['hubbub', 'hubbub-msgpack']) {
  const dts = readFileSync(path.join(root, 'dist', name + '.d.ts'), 'utf8');
  writeFileSync(path.join(outdir, name + '.d.cts'), dts.replaceAll("from './hubbub.js'", "from './hubbub.cjs'"));
}
