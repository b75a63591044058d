// The admin dashboard (package admin, cmd/hubbub --admin-password) in Chromium:
// it signs in, then shows clients connecting to the conformance hub over each of
// the three transports, their group, their traffic, and their leaving; it
// disconnects one of them, then every connection of a user, with a reason the
// client reads; and it shows the
// fallback reason of a client behind the hostile test proxy of the bundled
// client's browser tests (clientjs/test/proxy.js, refusing WebSocket upgrades).
//
// A screenshot goes to test-results/admin.png; with UPDATE_SCREENSHOTS=1 also to
// docs/admin.png (shown by the README).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { here, startHubServer } from './server.js';
import { startProxy } from '../../clientjs/test/proxy.js';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RESULTS = path.join(here, 'test-results');
const DOCS = path.resolve(here, '../../docs');
const PASSWORD = 'admin-test-password';
// Poll rather than wait for animation frames: background tabs get none.
const WAIT = { timeout: 30000, polling: 100 };

let server;
let browser;

before(async () => {
  mkdirSync(RESULTS, { recursive: true });
  server = await startHubServer(['--admin-password', PASSWORD]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** A page that records its console errors and page errors in problems. */
async function newPage(context, problems) {
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  return page;
}

/** The text of the dashboard's cell for a row selector, last column. */
function cell(page, rowSelector) {
  return page.evaluate((sel) => {
    const row = document.querySelector(sel);
    return row ? row.lastElementChild.textContent : null;
  }, rowSelector);
}

// signIn opens the dashboard on page, signs in, and waits until it is live.
async function signIn(page) {
  await page.goto(server.url + '/admin/');
  await page.waitForSelector('#login:not([hidden])', WAIT);
  await page.fill('#password', PASSWORD);
  await page.click('#login button');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('live over'), null, WAIT);
}

function waitCell(page, rowSelector, want) {
  return page.waitForFunction(([sel, w]) => {
    const row = document.querySelector(sel);
    return row && row.lastElementChild.textContent === w;
  }, [rowSelector, want], WAIT);
}

test('admin dashboard: sign-in, live connections on all transports, groups, disconnect, fallbacks', async () => {
  const problems = [];
  const adminCtx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const clientCtx = await browser.newContext();
  const proxy = await startProxy(server.url, { mode: 'refuse' });
  try {
    // Unauthenticated: the page asks for the password; a wrong one is refused.
    const admin = await newPage(adminCtx, problems);
    await admin.goto(server.url + '/admin');
    await admin.waitForSelector('#login:not([hidden])', WAIT);
    const negotiate = await admin.evaluate(async () => (await fetch('hub/negotiate?negotiateVersion=1', { method: 'POST' })).status);
    assert.equal(negotiate, 401, 'the admin hub refuses negotiate before signing in');
    await admin.fill('#password', 'wrong');
    await admin.click('#login button');
    await admin.waitForFunction(() => document.getElementById('loginerr').textContent !== '', null, WAIT);
    await admin.fill('#password', PASSWORD);
    await admin.click('#login button');
    await admin.waitForFunction(() => document.getElementById('status').textContent.startsWith('live over'), null, WAIT);
    await admin.click('#hubs button[data-hub="conformance"]', WAIT);

    // Three clients, one per transport, from another browser (landing page's origin).
    const clients = await newPage(clientCtx, problems);
    await clients.goto(server.url + '/');
    await clients.addScriptTag({ url: '/hubbub.js' });
    const ids = await clients.evaluate(async () => {
      window.conns = {};
      window.closedWith = {};
      const ids = {};
      for (const t of ['WebSockets', 'ServerSentEvents', 'LongPolling']) {
        const c = new Hubbub.HubConnection('/hubs/conformance', { transports: [t], reconnect: false });
        c.onclose((e) => { window.closedWith[t] = e ? e.message : ''; });
        await c.start();
        await c.invoke('JoinGroup', 'admin-test-room');
        window.conns[t] = c;
        ids[t] = c.connectionId;
      }
      // Some traffic for the sparklines.
      window.chatter = setInterval(() => {
        for (const c of Object.values(window.conns)) if (c.connected) c.send('SendToGroup', 'admin-test-room', 'tick', 1).catch(() => {});
      }, 100);
      return ids;
    });
    for (const t of ['WebSockets', 'ServerSentEvents', 'LongPolling']) {
      await waitCell(admin, `#transports tr[data-transport="${t}"]`, '1');
    }
    await waitCell(admin, '#transports tr[data-transport="total"]', '3');
    await waitCell(admin, '#groups tr[data-group="admin-test-room"]', '3');
    for (const id of Object.values(ids)) await admin.waitForSelector(`#conns tr[data-conn="${id}"]`, WAIT);
    // The hub's methods, from hub.Describe.
    await admin.waitForFunction(() => document.getElementById('methods').textContent.includes('Add(int64, int64) int64'), null, WAIT);
    // The search keeps the matching groups only.
    await admin.fill('#groupsearch', 'no-such-group');
    await admin.waitForFunction(() => !document.querySelector('#groups tr[data-group]'), null, WAIT);
    await admin.fill('#groupsearch', 'admin-test');
    await admin.waitForSelector('#groups tr[data-group="admin-test-room"]', WAIT);
    // Messages out per second reach the sparkline (one point per second, 600 of them).
    await admin.waitForFunction(() => {
      const pts = document.getElementById('line-out').getAttribute('points') || '';
      return pts.split(' ').length === 600 && pts.split(' ').some((p) => Number(p.split(',')[1]) < 50);
    }, null, WAIT);

    // A client behind the hostile proxy: WebSocket upgrades refused, it falls back.
    const behind = await newPage(clientCtx, []); // its refused upgrade is logged as an error, as expected
    await behind.goto(proxy.url + '/test.html');
    const fellTo = await behind.evaluate(async () => {
      const c = new Hubbub.HubConnection('/hubs/conformance', { probeTimeout: 2000, storage: null });
      await c.start();
      window.behind = c;
      return c.transport;
    });
    assert.notEqual(fellTo, 'WebSockets');
    assert.ok(proxy.stats.upgrades > 0, 'the client tried WebSockets through the proxy');
    await waitCell(admin, '#transports tr[data-transport="total"]', '4');
    // The bundled client reports why it left WebSockets; the page shows it.
    await waitCell(admin, '#fallbacks tr[data-fallback="WebSockets: upgrade-refused"]', '1');

    // A negotiate from a foreign origin is refused, by reason.
    const refused = await fetch(server.url + '/hubs/conformance/negotiate?negotiateVersion=1', { method: 'POST', headers: { Origin: 'http://evil.example' } });
    assert.equal(refused.status, 403);
    await waitCell(admin, '#refusals tr[data-refusal="origin"]', '1');

    if (process.env.UPDATE_SCREENSHOTS) await new Promise((r) => setTimeout(r, 40000)); // some sparkline to show
    await admin.screenshot({ path: path.join(RESULTS, 'admin.png'), fullPage: true });
    if (process.env.UPDATE_SCREENSHOTS) await admin.screenshot({ path: path.join(DOCS, 'admin.png'), fullPage: true });

    // Disconnect the long-polling client from the page, with a reason it reads.
    await admin.fill('#reason', 'Kicked by the admin test');
    await admin.click(`#conns button[data-kick="${ids.LongPolling}"]`);
    await clients.waitForFunction(() => 'LongPolling' in window.closedWith, null, WAIT);
    assert.equal(await clients.evaluate(() => window.closedWith.LongPolling), 'hubbub: server closed: Kicked by the admin test');
    await admin.waitForFunction(() => document.getElementById('acted').textContent.includes('closed 1 connection'), null, WAIT);

    // Every connection of one user, from the page's user form.
    await clients.evaluate(async () => {
      window.carol = [];
      for (const t of ['WebSockets', 'LongPolling']) {
        const c = new Hubbub.HubConnection('/hubs/conformance?user=carol', { transports: [t], reconnect: false });
        c.onclose((e) => { window.carol.push(e ? e.message : ''); });
        await c.start();
      }
    });
    await admin.waitForFunction(() => [...document.querySelectorAll('#conns tr[data-conn]')].filter((r) => r.children[1].textContent === 'carol').length === 2, null, WAIT);
    await admin.fill('#reason', 'Carol, time to go');
    await admin.fill('#user', 'carol');
    await admin.click('#kickuser');
    await clients.waitForFunction(() => window.carol.length === 2, null, WAIT);
    assert.deepEqual(await clients.evaluate(() => window.carol), ['hubbub: server closed: Carol, time to go', 'hubbub: server closed: Carol, time to go']);

    // The others leave: the page counts them down to none and lists why.
    await clients.evaluate(async () => {
      clearInterval(window.chatter);
      await window.conns.WebSockets.stop();
      await window.conns.ServerSentEvents.stop();
    });
    await behind.evaluate(() => window.behind.stop());
    await waitCell(admin, '#transports tr[data-transport="total"]', '0');
    await admin.waitForFunction(() => !document.querySelector('#groups tr[data-group="admin-test-room"]'), null, WAIT);
    assert.ok(await admin.evaluate(() => document.querySelectorAll('#recent tr[data-reason]').length >= 6), 'recent disconnects listed');
    // Who closed each: the clients that stopped, and carol's two by the form.
    const reasons = await admin.evaluate(() => [...document.querySelectorAll('#recent tr[data-reason]')].map((tr) => tr.dataset.reason));
    assert.ok(reasons.filter((r) => r === 'client closed').length >= 3, `client closes listed: ${reasons}`);
    assert.ok(reasons.filter((r) => r === 'server closed').length >= 2, `server closes listed: ${reasons}`);
    assert.equal(await cell(admin, '#transports tr[data-transport="WebSockets"]'), '0');
    assert.deepEqual(problems, []);
  } finally {
    await proxy.close();
    await clientCtx.close();
    await adminCtx.close();
  }
});

// Names are data, not code: groups named like Object.prototype's properties,
// and a group name, user ID and close reason made of markup, show as written.
test('admin dashboard: groups named __proto__ or constructor, markup in names', async () => {
  const problems = [];
  const adminCtx = await browser.newContext();
  const clientCtx = await browser.newContext();
  try {
    const admin = await newPage(adminCtx, problems);
    await signIn(admin);
    await admin.click('#hubs button[data-hub="conformance"]', WAIT);

    const markup = '<img src=x onerror="window.pwned=1">"\'&';
    const clients = await newPage(clientCtx, problems);
    await clients.goto(server.url + '/');
    await clients.addScriptTag({ url: '/hubbub.js' });
    await clients.evaluate(async (markup) => {
      window.conns = [];
      for (const user of ['proto-user', markup]) {
        const c = new Hubbub.HubConnection('/hubs/conformance?user=' + encodeURIComponent(user), { reconnect: false });
        await c.start();
        for (const g of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', markup]) await c.invoke('JoinGroup', g);
        window.conns.push(c);
      }
    }, markup);
    for (const g of ['constructor', 'toString', 'hasOwnProperty']) await waitCell(admin, `#groups tr[data-group="${g}"]`, '2');
    await admin.waitForFunction((m) => [...document.querySelectorAll('#groups tr[data-group]')].some((tr) => tr.dataset.group === m && tr.lastElementChild.textContent === '2'), markup, WAIT);
    await admin.waitForFunction(() => [...document.querySelectorAll('#groups tr[data-group]')].some((tr) => tr.dataset.group === '__proto__' && tr.lastElementChild.textContent === '2'), null, WAIT);
    await admin.waitForFunction((m) => [...document.querySelectorAll('#conns tr[data-conn]')].some((tr) => tr.children[1].textContent === m), markup, WAIT);
    assert.equal(await admin.evaluate(() => window.pwned), undefined);
    await clients.evaluate(async () => { for (const c of window.conns) await c.stop(); });
    assert.deepEqual(problems, []);
  } finally {
    await clientCtx.close();
    await adminCtx.close();
  }
});

// A logout elsewhere (another tab, another browser with a copy of the cookie)
// closes the page's connection: the page asks to sign in again, and works
// once signed in.
test('admin dashboard: signed out elsewhere, back to the sign-in', async () => {
  const problems = [];
  const adminCtx = await browser.newContext();
  try {
    const admin = await newPage(adminCtx, problems);
    await signIn(admin);
    // Another tab of the same browser logs out.
    assert.equal((await adminCtx.request.post(server.url + '/admin/logout')).status(), 204);
    await admin.waitForSelector('#login:not([hidden])', WAIT);
    assert.equal(await admin.isHidden('#app'), true);
    assert.match(await admin.textContent('#status'), /^signed out: hubbub: server closed: Signed out\./);
    await admin.fill('#password', PASSWORD);
    await admin.click('#login button');
    await admin.waitForFunction(() => document.getElementById('status').textContent.startsWith('live over'), null, WAIT);
    await admin.waitForSelector('#hubs button[data-hub="conformance"]', WAIT);
    assert.deepEqual(problems, []);
  } finally {
    await adminCtx.close();
  }
});

// Past Options.MaxGroups (500) groups on a node, the page says that it lists,
// and searches, only the fullest of each node: a search that finds none of
// the others must not read as "this group does not exist".
test('admin dashboard: more groups than listed, and the page says so', async () => {
  const problems = [];
  const adminCtx = await browser.newContext();
  const clientCtx = await browser.newContext();
  try {
    const admin = await newPage(adminCtx, problems);
    await signIn(admin);
    await admin.click('#hubs button[data-hub="conformance"]', WAIT);
    await admin.waitForFunction(() => /^\(\d+ on the busiest node\)$/.test(document.getElementById('groupcount').textContent), null, WAIT);

    const clients = await newPage(clientCtx, problems);
    await clients.goto(server.url + '/');
    await clients.addScriptTag({ url: '/hubbub.js' });
    await clients.evaluate(async () => {
      window.conns = [];
      for (let c = 0; c < 6; c++) { // 100 groups each at most (MaxGroupsPerConnection)
        const conn = new Hubbub.HubConnection('/hubs/conformance', { reconnect: false });
        await conn.start();
        await Promise.all(Array.from({ length: 100 }, (_, i) => conn.invoke('JoinGroup', `many-${c}-${i}`)));
        window.conns.push(conn);
      }
    });
    await admin.waitForFunction(() => document.getElementById('groupcount').textContent.includes('600 on the busiest node; the 500 fullest of each node listed and searched'), null, WAIT);
    await clients.evaluate(async () => { for (const c of window.conns) await c.stop(); });
    assert.deepEqual(problems, []);
  } finally {
    await clientCtx.close();
    await adminCtx.close();
  }
});

// Past Options.MaxConnections (200) on a node, the page says its list, and its
// search, cover only the first of each node.
test('admin dashboard: more connections than listed, and the page says so', async () => {
  const problems = [];
  const adminCtx = await browser.newContext();
  const conns = [];
  try {
    const admin = await newPage(adminCtx, problems);
    await signIn(admin);
    await admin.click('#hubs button[data-hub="conformance"]', WAIT);
    assert.equal(await admin.textContent('#conncount'), '');

    // 201 clients from Node (the bundled client over SSE: a browser caps its connections).
    const { HubConnection } = await import('../../clientjs/dist/hubbub.mjs');
    for (let i = 0; i < 201; i += 20) {
      await Promise.all(Array.from({ length: Math.min(20, 201 - i) }, async () => {
        const c = new HubConnection(server.url + '/hubs/conformance', { transports: ['ServerSentEvents'], reconnect: false, storage: null });
        conns.push(c);
        await c.start();
      }));
    }
    await admin.waitForFunction(() => document.getElementById('conncount').textContent === '(201 in all; the first 200 by ID on each node listed and searched)', null, WAIT);
    assert.deepEqual(problems, []);
  } finally {
    await Promise.all(conns.map((c) => c.stop().catch(() => {})));
    await adminCtx.close();
  }
});
