// The demos of cmd/hubbub (chat, news, landing page) in Debian's Chromium, driven
// by playwright-core (no browser is downloaded), once per transport, forced with
// ?transport=. One browser; a fresh set of browser contexts (users) per transport.
//
// Screenshots go to test-results/; with UPDATE_SCREENSHOTS=1 the WebSockets run
// also writes docs/chat.png and docs/news.png (committed, shown by docs/demo.md).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { here, startHubServer } from './server.js';
import { makePng } from './png.js';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RESULTS = path.join(here, 'test-results');
const DOCS = path.resolve(here, '../../docs');
const UPDATE = !!process.env.UPDATE_SCREENSHOTS;
const NEWS_INTERVAL = process.env.HUBBUB_NEWS_INTERVAL || '1500ms';
const VIEWPORT = { width: 1280, height: 800 };
// Poll rather than wait for animation frames: background tabs get none.
const WAIT = { timeout: 30000, polling: 50 };

const t0 = Date.now();
const step = (what) => { if (process.env.DEMO_DEBUG) console.log(`# ${((Date.now() - t0) / 1000).toFixed(1)}s ${what}`); };

const TRANSPORTS = [
  { name: 'WebSockets', param: 'websockets' },
  { name: 'ServerSentEvents', param: 'sse' },
  { name: 'LongPolling', param: 'longpolling' },
];

let server;
let browser;

before(async () => {
  mkdirSync(RESULTS, { recursive: true });
  server = await startHubServer(['--news-interval', NEWS_INTERVAL, '--chat-auth-timeout', '10s']);
  // launch() gives the browser a fresh temporary profile (user-data-dir) and removes it on close.
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

/** A browser context (one user) whose pages record console errors and page errors. */
async function user() {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const problems = [];
  const open = async (pathAndQuery) => {
    const page = await context.newPage();
    // HTTP failures are caught with their URL below, so Chromium's "Failed to load
    // resource" console line is left out.
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
    page.on('response', (r) => {
      if (r.status() < 400) return;
      // The client's stop() over long polling sends Close, then DELETE; the server has
      // ended the connection on the Close, so the DELETE gets 404 (documented, harmless).
      if (r.status() === 404 && r.request().method() === 'DELETE' && r.url().includes('/hubs/')) return;
      problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
    });
    await page.goto(server.url + pathAndQuery);
    return page;
  };
  return { context, open, problems };
}

async function screenshot(page, name, transport) {
  await page.screenshot({ path: path.join(RESULTS, `${name}-${transport}.png`) });
  if (UPDATE && transport === 'WebSockets' && (name === 'chat' || name === 'news')) {
    mkdirSync(DOCS, { recursive: true });
    await page.screenshot({ path: path.join(DOCS, `${name}.png`) });
  }
}

/** Waits until the page's transport pill says it is connected over `transport`. */
async function onTransport(page, transport) {
  await page.waitForFunction((t) => document.getElementById('transport').dataset.transport === t, transport, WAIT);
}

async function login(page, nick, password) {
  await page.fill('#nick', nick);
  await page.fill('#password', password);
  await page.click('#login-button');
}

async function signIn(page, nick, transport) {
  step('signIn ' + nick);
  await login(page, nick, nick + '123');
  await page.waitForSelector('#app:not(.hidden)', WAIT);
  assert.equal(await page.textContent('#me'), nick);
  await onTransport(page, transport);
}

async function say(page, text) {
  step('say ' + text);
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
  await page.waitForFunction(() => document.getElementById('text').value === '', null, WAIT);
}

/** Waits until the page has received a chat message with exactly this text (any channel). */
function received(page, text, channel) {
  return page.waitForFunction(([t, c]) => window.chat.texts(c).includes(t), [text, channel], WAIT);
}

/** Waits until the current channel shows a message with exactly this text. */
function shown(page, text) {
  return page.waitForFunction((t) => [...document.querySelectorAll('#messages .msg .text')].some((n) => n.textContent === t), text, WAIT);
}

// DEMO_TRANSPORTS=sse,longpolling runs only those.
const only = (process.env.DEMO_TRANSPORTS || '').split(',').filter(Boolean);
for (const { name: T, param } of TRANSPORTS.filter((t) => !only.length || only.includes(t.param))) {
  describe(`over ${T}`, () => {
    test('landing page shows the transport in use', async () => {
      const u = await user();
      try {
        const page = await u.open(`/?transport=${param}`);
        await page.waitForFunction((t) => document.getElementById('landing-transport').dataset.transport === t, T, WAIT);
        await onTransport(page, T);
        assert.equal(await page.getAttribute('#go-chat', 'href'), `/chat?transport=${param}`);
        await screenshot(page, 'landing', T);
        assert.deepEqual(u.problems, []);
      } finally {
        await u.context.close();
      }
    });

    test('chat: login, rooms, escaping, direct messages, presence', async () => {
      const [a, b, c] = [await user(), await user(), await user()];
      const pages = {};
      try {
        const alice = await a.open(`/chat?transport=${param}`);
        const bob = await b.open(`/chat?transport=${param}`);
        const carol = await c.open(`/chat?transport=${param}`);
        Object.assign(pages, { alice, bob, carol });

        // Bad credentials are refused; the form stays.
        await login(alice, 'alice', 'not-her-password');
        await alice.waitForFunction(() => document.getElementById('login-error').textContent !== '', null, WAIT);
        assert.equal(await alice.textContent('#login-error'), 'Invalid nickname or password.');
        assert.ok(await alice.isHidden('#app'));
        await login(alice, 'mallory', 'alice123');
        await alice.waitForFunction(() => document.getElementById('login-error').textContent === 'Invalid nickname or password.', null, WAIT);

        // Good ones get in, on the forced transport; a second tab of alice too.
        await signIn(alice, 'alice', T);
        await signIn(bob, 'bob', T);
        await signIn(carol, 'carol', T);
        const alice2 = await a.open(`/chat?transport=${param}`);
        await signIn(alice2, 'alice', T);
        pages.alice2 = alice2;
        await alice.waitForFunction(() => document.getElementById('members').dataset.members === 'alice,bob,carol', null, WAIT);
        await alice.waitForFunction(() => window.chat.notices('#general').includes('carol joined #general'), null, WAIT);

        // Room messages reach every member.
        await say(bob, 'Morning! Standup in five?');
        await say(alice, 'On my way ☕');
        await say(carol, 'Coming. Shipping the news demo today!');
        for (const p of [alice, alice2, bob, carol]) await shown(p, 'Coming. Shipping the news demo today!');

        // A new room: bob creates it, alice joins from the sidebar, carol stays out.
        const room = `ops-${param}`;
        await bob.fill('#new-room', room);
        await bob.click('#join-button');
        await bob.waitForFunction((r) => document.getElementById('channel-title').textContent === '#' + r, room, WAIT);
        await alice.click(`#rooms li[data-room="${room}"]`);
        await alice.waitForFunction((r) => document.getElementById('channel-title').textContent === '#' + r, room, WAIT);
        await bob.waitForFunction(() => document.getElementById('members').dataset.members === 'alice,bob', null, WAIT);
        await bob.waitForFunction((r) => window.chat.notices('#' + r).includes(`alice joined #${r}`), room, WAIT);
        await carol.waitForFunction((r) => document.querySelector(`#rooms li[data-room="${r}"] .count`)?.textContent === '2', room, WAIT);

        // Markup in a message is text, not HTML.
        const evil = `<img src=x onerror="window.pwned=1"><b>deploy</b> at five (${T})`;
        await say(alice, evil);
        await shown(bob, evil);
        assert.equal(await bob.locator('#messages img, #messages .text b').count(), 0, 'no element made from a message');
        assert.equal(await bob.evaluate(() => window.pwned), undefined);

        // A direct message reaches every tab of its target (and the sender), nobody else.
        await bob.click('#users li[data-user="alice"]');
        await say(bob, `psst alice, ${T} only`);
        await received(alice, `psst alice, ${T} only`, '@bob');
        await received(alice2, `psst alice, ${T} only`, '@bob');
        await shown(bob, `psst alice, ${T} only`);
        await alice.waitForFunction(() => document.querySelector('#users li[data-user="bob"] .unread')?.textContent === '1', null, WAIT);
        // Carol: neither the DM nor the room message she is not in. The marker comes after both.
        await bob.click('#rooms li[data-room="general"]');
        await say(bob, 'Anything blocking before standup?');
        await received(carol, 'Anything blocking before standup?');
        const carolTexts = await carol.evaluate(() => window.chat.texts());
        assert.ok(!carolTexts.includes(`psst alice, ${T} only`), 'carol got the DM');
        assert.ok(!carolTexts.includes(evil), `carol got a message of #${room}`);

        // A chat to look at, then carol leaves and everyone is told.
        await say(carol, 'Looks good from here. Reviewing the PR now.');
        await alice.click('#rooms li[data-room="general"]');
        await shown(alice, 'Looks good from here. Reviewing the PR now.');
        await alice.fill('#text', 'Thanks! Merging after lunch.');
        await screenshot(alice, 'chat', T);
        await carol.close();
        await alice.waitForFunction(() => window.chat.notices('#general').includes('carol left #general'), null, WAIT);
        await alice.waitForFunction(() => !document.querySelector('#users li[data-user="carol"]'), null, WAIT);
        await alice.waitForFunction(() => document.getElementById('members').dataset.members === 'alice,bob', null, WAIT);

        for (const u of [a, b, c]) assert.deepEqual(u.problems, []);
      } catch (e) {
        for (const u of [a, b, c]) if (u.problems.length) console.log(u.problems.join('\n'));
        for (const [who, p] of Object.entries(pages)) {
          if (p.isClosed()) continue;
          console.log(who, await p.evaluate(() => JSON.stringify({
            transport: window.chat.state.hub?.transport, state: window.chat.state.hub?.state, current: window.chat.state.current,
            channels: [...window.chat.state.channels].map(([k, c]) => [k, c.unread, c.items.map((i) => i.text)]),
            users: document.getElementById('users').innerHTML,
          })).catch((err) => String(err)));
        }
        throw e;
      } finally {
        for (const u of [a, b, c]) await u.context.close();
      }
    });

    test('chat: an image picked or pasted in one context arrives in another as the same bytes', async () => {
      const [a, b] = [await user(), await user()];
      try {
        // MessagePack when the server has the module and the transport carries binary;
        // on WebSockets bob asks for JSON, so one room mixes both protocols.
        const moduleServed = (await fetch(server.url + '/hubs/chat/hubbub-msgpack.js')).status === 200;
        const bobJSON = T === 'WebSockets';
        const alice = await a.open(`/chat?transport=${param}`);
        const bob = await b.open(`/chat?transport=${param}${bobJSON ? '&protocol=json' : ''}`);
        await signIn(alice, 'alice', T);
        await signIn(bob, 'bob', T);
        const binary = moduleServed && T !== 'ServerSentEvents';
        assert.equal(await alice.evaluate(() => window.chat.protocol()), binary ? 'messagepack' : 'json', 'alice protocol');
        assert.equal(await bob.evaluate(() => window.chat.protocol()), binary && !bobJSON ? 'messagepack' : 'json', 'bob protocol');
        step(`images: alice ${await alice.evaluate(() => window.chat.protocol())}, bob ${await bob.evaluate(() => window.chat.protocol())}`);

        /** Waits for the n-th image in #general on page, checks its bytes and the <img> shown. */
        const arrives = async (page, n, from, png, width, height) => {
          await page.waitForFunction((k) => window.chat.images('#general').length >= k, n, WAIT);
          const got = (await page.evaluate(() => window.chat.images('#general')))[n - 1];
          assert.deepEqual(got, { from, contentType: 'image/png', base64: png.toString('base64') }, 'the same bytes');
          const size = await page.waitForFunction((k) => {
            const img = document.querySelectorAll('#messages img.image')[k - 1];
            return img && img.complete && img.naturalWidth > 0 && [img.naturalWidth, img.naturalHeight];
          }, n, WAIT);
          assert.deepEqual(await size.jsonValue(), [width, height], 'the natural size of the <img> shown');
        };

        // Picked with the file input.
        const picked = makePng(37, 23, (x, y) => [x * 6, y * 10, 160, 255]);
        await alice.setInputFiles('#image-input', { name: 'dot.png', mimeType: 'image/png', buffer: picked });
        await arrives(bob, 1, 'alice', picked, 37, 23);
        await arrives(alice, 1, 'alice', picked, 37, 23);

        // Pasted into the message box.
        const pasted = makePng(64, 48, (x, y) => [255 - x * 3, 90, y * 5, 200]);
        await bob.evaluate((b64) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const data = new DataTransfer();
          data.items.add(new File([bytes], 'pasted.png', { type: 'image/png' }));
          document.getElementById('text').dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
        }, pasted.toString('base64'));
        await arrives(alice, 2, 'bob', pasted, 64, 48);
        await arrives(bob, 2, 'bob', pasted, 64, 48);

        // Over the cap: the sender is told, nothing is sent.
        const huge = Buffer.concat([picked, Buffer.alloc(300 * 1024)]);
        await alice.setInputFiles('#image-input', { name: 'huge.png', mimeType: 'image/png', buffer: huge });
        await alice.waitForFunction(() => /^Image too large: \d+ KiB, at most 256 KiB\.$/.test(document.getElementById('banner').textContent), null, WAIT);
        await say(alice, `after the images (${T})`);
        await received(bob, `after the images (${T})`);
        assert.equal(await bob.evaluate(() => window.chat.images('#general').length), 2, 'no image after the refused one');
        await screenshot(bob, 'chat-image', T);
        for (const u of [a, b]) assert.deepEqual(u.problems, []);
      } catch (e) {
        for (const u of [a, b]) if (u.problems.length) console.log(u.problems.join('\n'));
        throw e;
      } finally {
        for (const u of [a, b]) await u.context.close();
      }
    });

    test('news: REST then live, no gap, no duplicate; subscribe and unsubscribe', async () => {
      const [a, b] = [await user(), await user()];
      try {
        const page = await a.open(`/news?transport=${param}`);
        const other = await b.open(`/news?transport=${param}`);
        for (const p of [page, other]) {
          await onTransport(p, T);
          // Every article event the connection gets, whatever the page does with it.
          await p.evaluate(() => { window.seen = []; window.news.hub.on('article', (x) => window.seen.push(x.company)); });
        }
        // The default picks: acme and globex, 20 articles each from REST, then live ones.
        await page.waitForFunction(() => window.news.following().join() === 'acme,globex' &&
          window.news.ids('acme').length >= 20 && window.news.ids('globex').length >= 20, null, WAIT);
        await page.waitForFunction(() => window.news.counts.live >= 4, null, WAIT);

        /** The shown IDs of a company: unique and contiguous. */
        const checkIds = async (p, company) => {
          const ids = await p.evaluate((co) => window.news.ids(co), company);
          const sorted = [...ids].sort((x, y) => y - x);
          assert.deepEqual(ids, sorted, `${company}: newest first`);
          assert.equal(new Set(ids).size, ids.length, `${company}: duplicates in ${ids}`);
          for (let i = 1; i < sorted.length; i++) assert.equal(sorted[i], sorted[i - 1] - 1, `${company}: gap in ${sorted}`);
          return ids;
        };
        await checkIds(page, 'acme');
        await checkIds(page, 'globex');

        // The other user follows umbrella only.
        await other.waitForFunction(() => window.news.following().join() === 'acme,globex', null, WAIT);
        await other.click('button[data-company="acme"]');
        await other.click('button[data-company="globex"]');
        await other.click('button[data-company="umbrella"]');
        await other.waitForFunction(() => window.news.ids('umbrella').length >= 20, null, WAIT);
        await other.evaluate(() => window.news.hub.invoke('Companies')); // after the Unsubscribes
        await other.evaluate(() => { window.seen = []; });

        // Unfollow acme: its articles go, and the hub stops sending them.
        await page.click('button[data-company="acme"]');
        assert.equal(await page.getAttribute('button[data-company="acme"]', 'aria-pressed'), 'false');
        await page.evaluate(() => window.news.hub.invoke('Companies')); // after the Unsubscribe
        const acmeBefore = await page.evaluate(() => window.seen.filter((x) => x === 'acme').length);
        assert.deepEqual(await page.evaluate(() => window.news.ids('acme')), []);
        // Follow hooli: REST, then live.
        await page.click('button[data-company="hooli"]');
        const globex = (await page.evaluate(() => window.news.ids('globex'))).length;
        await page.waitForFunction((n) => window.news.ids('globex').length >= n + 2, globex, WAIT);
        await page.waitForFunction(() => window.news.ids('hooli').length >= 21, null, WAIT);
        const acmeAfter = await page.evaluate(() => window.seen.filter((x) => x === 'acme').length);
        assert.ok(acmeAfter - acmeBefore <= 1, `${acmeAfter - acmeBefore} acme articles after unsubscribing`);
        await checkIds(page, 'globex');
        await checkIds(page, 'hooli');
        await other.waitForFunction(() => window.seen.length >= 2, null, WAIT);
        const otherSeen = await other.evaluate(() => [...new Set(window.seen)]);
        assert.deepEqual(otherSeen, ['umbrella'], 'the other user gets only what it follows');
        await checkIds(other, 'umbrella');

        // A reload revalidates the REST pull: the browser sends the ETag it has
        // (If-None-Match) and gets 304 unless an article came out since.
        const pulls = [];
        page.on('response', async (r) => {
          if (!r.url().includes('/api/news/')) return;
          pulls.push({ status: r.status(), ifNoneMatch: (await r.request().allHeaders())['if-none-match'] });
        });
        await page.reload();
        await onTransport(page, T);
        await page.waitForFunction(() => window.news.ids('globex').length >= 20 && window.news.ids('hooli').length >= 20, null, WAIT);
        await checkIds(page, 'globex');
        assert.equal(pulls.length, 2, 'one GET per company followed');
        for (const p of pulls) assert.match(p.ifNoneMatch || '', /^".+-(globex|hooli)-\d+-20"$/, 'revalidated with the ETag');

        await page.waitForFunction(() => document.querySelectorAll('.article.live').length >= 1, null, WAIT);
        await screenshot(page, 'news', T);
        for (const u of [a, b]) assert.deepEqual(u.problems, []);
      } catch (e) {
        for (const u of [a, b]) if (u.problems.length) console.log(u.problems.join('\n'));
        throw e;
      } finally {
        for (const u of [a, b]) await u.context.close();
      }
    });
  });
}
