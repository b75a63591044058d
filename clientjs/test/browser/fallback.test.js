// The fallback report (issue 17) end to end: the client in Chromium behind the
// hostile test proxy falls back, reports why, and cmd/hubbub counts it in
// hubbub_transport_fallbacks_total on /metrics, under the stable reason; with
// reportFallback: false nothing is counted. Run alone with
//   node --test test/browser/fallback.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startProxy } from '../proxy.js';
import { startHubServer } from './server.js';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CUT_AFTER = 2000;

let server;
let context;
let userDataDir;

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
});

/** The conformance hub's fallback counters on /metrics: {"WebSockets upgrade-refused": n, …}. */
async function fallbacks() {
  const text = await (await fetch(server.url + '/metrics')).text();
  const counts = {};
  for (const m of text.matchAll(/^hubbub_transport_fallbacks_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (labels.hub === 'conformance') counts[`${labels.transport} ${labels.reason}`] = Number(m[2]);
  }
  return counts;
}

/** What was counted between two readings of fallbacks(). */
function counted(before, now) {
  const d = {};
  for (const [k, v] of Object.entries(now)) if (v !== (before[k] || 0)) d[k] = v - (before[k] || 0);
  return d;
}

const scenarios = [
  { mode: 'refuse', name: '(a) WebSocket upgrade refused', transport: 'ServerSentEvents', want: { 'WebSockets upgrade-refused': 1 } },
  { mode: 'drop', name: '(b) WebSocket frames dropped', transport: 'ServerSentEvents', want: { 'WebSockets frames-dropped': 1 } },
  {
    mode: 'buffer', name: '(c) responses buffered', transport: 'LongPolling',
    want: { 'WebSockets upgrade-refused': 1, 'ServerSentEvents stream-buffered': 1 },
  },
  {
    // Without stateful reconnect, each transport the proxy keeps cutting is
    // demoted after two short lives, and the connection after it reports it.
    mode: 'cut', name: `(d) requests cut after ${CUT_AFTER / 1000} s`, transport: 'LongPolling', options: { statefulReconnect: false },
    want: { 'WebSockets requests-cut': 1, 'ServerSentEvents requests-cut': 1 },
  },
  { mode: 'refuse', name: 'opted out (reportFallback: false): nothing counted', transport: 'ServerSentEvents', options: { reportFallback: false }, want: {} },
  { mode: 'none', name: 'no proxy trouble: nothing counted', transport: 'WebSockets', want: {} },
];

for (const sc of scenarios) {
  test(sc.name, async () => {
    const proxy = await startProxy(server.url, { mode: sc.mode, cutAfter: CUT_AFTER });
    const page = await context.newPage();
    const log = [];
    page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log.push('pageerror: ' + e.message));
    try {
      const start = await fallbacks();
      // A fresh proxy is a new origin: no transport remembered.
      await page.goto(proxy.url + '/test.html');
      let r = await page.evaluate((o) => window.firstMessage(o), sc.options || {});
      if (sc.mode === 'cut') r = await page.evaluate(([quiet, max]) => window.settle(quiet, max), [CUT_AFTER * 2, 60000]);
      assert.equal(r.transport, sc.transport);
      // Messages of a connection are taken in order: once this answers, the
      // report sent before it (if any) has been counted.
      assert.equal(await page.evaluate(() => window.hub.invoke('Echo', 'after')), 'after');
      const got = counted(start, await fallbacks());
      console.log(`# ${sc.name}: on ${r.transport}, counted ${JSON.stringify(got)}`);
      assert.deepEqual(got, sc.want);
    } catch (e) {
      console.log(log.join('\n'));
      throw e;
    } finally {
      await page.close();
      await proxy.close();
    }
  });
}
