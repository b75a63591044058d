// Browsers behind a reverse proxy that rewrites Host (as nginx with
// `proxy_set_header Host $upstream` does): internal/linkcut with -rewrite-host in front
// of cmd/hubbub. With --trusted-proxies naming the proxy, the bundled client connects
// from the proxy's origin on every transport; without it, negotiate is refused with a
// 403 that names the option.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';
import { here, startHubServer } from './server.js';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const repo = path.resolve(here, '../..');

/** Starts the linkcut command in front of target, rewriting Host. */
async function startProxy(target) {
  let bin = process.env.LINKCUT_BIN;
  let built = '';
  if (!bin) {
    built = mkdtempSync(path.join(tmpdir(), 'linkcut-'));
    bin = path.join(built, 'linkcut');
    execFileSync('go', ['build', '-o', bin, './internal/linkcut/cmd/linkcut'], { cwd: repo, stdio: 'inherit' });
  }
  const child = spawn(bin, ['-target', target, '-rewrite-host'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^LISTEN (\S+)/.exec(line);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`linkcut exited with ${code}`)));
  });
  return {
    url,
    close: async () => {
      child.stdin.end();
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.on('exit', r)));
      if (built) rmSync(built, { recursive: true, force: true });
    },
  };
}

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => { await browser?.close(); });

/** Opens the proxy's landing page and connects the bundled client with transport. */
async function connectThrough(proxyURL, transport) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(proxyURL + '/');
    await page.addScriptTag({ url: proxyURL + '/hubbub.js' });
    return await page.evaluate(async (transport) => {
      const hub = new Hubbub.HubConnection('/hubs/conformance', { transports: [transport], reconnect: false, storage: null });
      try {
        await hub.start();
        const who = await hub.invoke('Whoami');
        return { ok: true, transport: who.transport };
      } catch (err) {
        const res = await fetch('/hubs/conformance/negotiate?negotiateVersion=1', { method: 'POST' });
        return { ok: false, error: String(err && err.message), status: res.status, body: await res.text() };
      } finally {
        await hub.stop();
      }
    }, transport);
  } finally {
    await context.close();
  }
}

describe('behind a Host-rewriting reverse proxy', () => {
  test('with --trusted-proxies, browsers connect on every transport', { timeout: 120000 }, async () => {
    const server = await startHubServer(['--trusted-proxies', '127.0.0.1/32']);
    const proxy = await startProxy(server.url);
    try {
      for (const [transport, want] of [['websockets', 'WebSockets'], ['sse', 'ServerSentEvents'], ['longpolling', 'LongPolling']]) {
        const got = await connectThrough(proxy.url, transport);
        assert.deepEqual(got, { ok: true, transport: want }, `connect over ${want} through the proxy`);
      }
    } finally {
      await proxy.close();
      await server.close();
    }
  });

  test('without it, the 403 says which option to set', { timeout: 120000 }, async () => {
    const server = await startHubServer();
    const proxy = await startProxy(server.url);
    try {
      const got = await connectThrough(proxy.url, 'longpolling');
      assert.equal(got.ok, false, 'connected although the origin does not match the rewritten Host');
      assert.equal(got.status, 403);
      assert.match(got.body, /TrustedProxies/);
    } finally {
      await proxy.close();
      await server.close();
    }
  });
});
