// The npm package as its users get it: `npm pack`, unpacked into a temporary
// node_modules, then loaded through its name (the "exports" map) with require
// (the CommonJS build) and with import (the ES module), and the classic script
// that defines the global.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];

/** What each consumer prints: the exports it sees and that they work. */
const probe = `
  const hub = new hubbub.HubConnection('http://127.0.0.1:1/hub', { storage: null });
  const bytes = msgpack.encode({ a: [1, 'x'] });
  console.log(JSON.stringify({
    hubbub: Object.keys(hubbub).sort(), msgpack: Object.keys(msgpack).sort(),
    state: hub.state, delay: hubbub.reconnectDelay(0, { delay: 100, jitter: 0 }),
    roundTrip: msgpack.decode(bytes), protocol: msgpack.protocol().name,
  }));`;

test('the packed package loads by its name with require and with import', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hubbub-pack-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [{ filename }] = JSON.parse(execFileSync(npm[0], [...npm.slice(1), 'pack', '--json', '--ignore-scripts', '--pack-destination', dir],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  const installed = path.join(dir, 'node_modules', 'hubbub-client');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(dir, filename), '-C', installed, '--strip-components=1']);

  writeFileSync(path.join(dir, 'consumer.cjs'), `const hubbub = require('hubbub-client');
    const msgpack = require('hubbub-client/msgpack');${probe}`);
  writeFileSync(path.join(dir, 'consumer.mjs'), `import * as hubbub from 'hubbub-client';
    import * as msgpack from 'hubbub-client/msgpack';${probe}`);
  writeFileSync(path.join(dir, 'script.mjs'), `await import('hubbub-client/script');
    await import('hubbub-client/msgpack/script');
    const hubbub = globalThis.Hubbub, msgpack = globalThis.HubbubMsgPack;${probe}`);

  const want = {
    hubbub: ['HubConnection', 'LogLevel', 'connect', 'reconnectDelay'], msgpack: ['decode', 'encode', 'protocol'],
    state: 'disconnected', delay: 100, roundTrip: { a: [1, 'x'] }, protocol: 'messagepack',
  };
  for (const consumer of ['consumer.cjs', 'consumer.mjs', 'script.mjs']) {
    const out = execFileSync(process.execPath, [consumer], { cwd: dir, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), want, consumer);
  }
  // require really took the CommonJS build, import the ES module.
  const which = (spec, how) => execFileSync(process.execPath, ['--input-type=' + how, '-e',
    how === 'commonjs' ? `console.log(require.resolve('${spec}'))` : `console.log(import.meta.resolve('${spec}'))`],
  { cwd: dir, encoding: 'utf8' }).trim();
  assert.match(which('hubbub-client', 'commonjs'), /dist[/\\]hubbub\.cjs$/);
  assert.match(which('hubbub-client', 'module'), /dist\/hubbub\.mjs$/);
  assert.match(which('hubbub-client/msgpack', 'commonjs'), /dist[/\\]hubbub-msgpack\.cjs$/);
});
