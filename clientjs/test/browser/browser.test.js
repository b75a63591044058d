// The client in Debian's Chromium (driven by playwright-core; no browser is
// downloaded) against cmd/hubbub, directly and behind hostile proxies.
// Prints the time to first message per scenario and writes them to
// test-results/ttfm.json.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startProxy } from '../proxy.js';
import { startHubServer } from './server.js';

const clientjs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CUT_AFTER = 2000;

let server;
let context;
let userDataDir;
const results = {};

before(async () => {
  server = await startHubServer();
  userDataDir = mkdtempSync(path.join(tmpdir(), 'hubbub-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await context?.close();
  await server?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  mkdirSync(path.join(clientjs, 'test-results'), { recursive: true });
  writeFileSync(path.join(clientjs, 'test-results', 'ttfm.json'), JSON.stringify({ server: server?.kind, results }, null, 2) + '\n');
  console.log('\n# time to first message (connect() to the first invoke result), ms:');
  for (const [name, r] of Object.entries(results)) {
    console.log(`#   ${name.padEnd(34)} first load ${String(r.first.ms).padStart(5)} ms on ${r.first.transport}` +
      (r.reload ? `, reload ${String(r.reload.ms).padStart(4)} ms on ${r.reload.transport}` : '') +
      (r.settled ? `, settled on ${r.settled.transport} after ${r.settled.ms} ms more` : ''));
  }
});

/** Opens the test page through a fresh proxy (a new origin, so no remembered transport). */
async function open(mode) {
  const proxy = await startProxy(server.url, { mode, cutAfter: CUT_AFTER });
  const page = await context.newPage();
  const log = [];
  page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push('pageerror: ' + e.message));
  await page.goto(proxy.url + '/test.html');
  return { proxy, page, log, close: async () => { await page.close(); await proxy.close(); } };
}

describe('each transport, directly', () => {
  for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling']) {
    test(`conformance over ${transport}`, async () => {
      const { page, close, log } = await open('none');
      try {
        const first = await page.evaluate((t) => window.firstMessage({ transports: [t] }), transport);
        assert.equal(first.transport, transport);
        const r = await page.evaluate((t) => window.conformance({ transports: [t] }), transport);
        assert.equal(r.transport, transport);
        results[`direct, ${transport} only`] = { first };
        console.log(`# ${transport}: ${r.passed.length} checks passed: ${r.passed.join(', ')}`);
      } catch (e) {
        console.log(log.join('\n'));
        throw e;
      } finally {
        await close();
      }
    });
  }
});

describe('hostile proxies: the client ends up on a transport that works', () => {
  const scenarios = [
    { mode: 'none', name: 'no proxy trouble', want: 'WebSockets' },
    { mode: 'refuse', name: '(a) WebSocket upgrade refused', want: 'ServerSentEvents' },
    { mode: 'drop', name: '(b) WebSocket frames dropped', want: 'ServerSentEvents' },
    { mode: 'buffer', name: '(c) responses buffered', want: 'LongPolling' },
    { mode: 'cut', name: `(d) requests cut after ${CUT_AFTER / 1000} s`, want: 'LongPolling' },
  ];
  for (const sc of scenarios) {
    test(sc.name, async () => {
      const { page, proxy, close, log } = await open(sc.mode);
      try {
        const r = { first: await page.evaluate(() => window.firstMessage({})) };
        if (sc.mode === 'cut') {
          // Every held request dies after CUT_AFTER: WebSockets and SSE work for a
          // moment each, get demoted after two short lives, and long polling stays.
          r.settled = await page.evaluate(([quiet, max]) => window.settle(quiet, max), [CUT_AFTER * 2, 60000]);
        }
        const c = await page.evaluate(() => window.conformance({}));
        assert.equal(c.transport, sc.want, `ended on ${c.transport}`);
        console.log(`# ${sc.name}: first message on ${r.first.transport}, settled on ${c.transport}; ${c.passed.length} checks passed`);

        // A new page load in the same tab: the remembered transport is tried first.
        const upgrades = proxy.stats.upgrades;
        await page.reload();
        r.reload = await page.evaluate(() => window.firstMessage({}));
        assert.equal(r.reload.transport, sc.want, 'the reload starts on the remembered transport');
        if (sc.want !== 'WebSockets') assert.equal(proxy.stats.upgrades, upgrades, 'no WebSocket probe after reload');
        results[sc.name] = r;
      } catch (e) {
        console.log(log.join('\n'));
        throw e;
      } finally {
        await close();
      }
    });
  }
});
