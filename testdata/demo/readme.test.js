// Follows README.md's "Run an example" steps in Chromium, as a new user would: it
// reads the README, runs the command its fenced block shows (in a shell, from the
// repository's root), opens the URL the block says the example prints in two
// pages (two users), and does what the paragraph under the block says, with the
// field and button names it gives in bold. Then a message typed in one page must
// show in the other, as text.
//
// The one deviation from the README: ` -addr 127.0.0.1:<free port>` is appended to
// the command, and the URL is expected on that port, so that the test never takes
// or meets a server on 8080.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { here } from './server.js';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const REPO = path.resolve(here, '../..');
// `go run` compiles first: allow for a cold build cache on a loaded machine.
const START_TIMEOUT = 240000;
const STOP_TIMEOUT = 15000;
const WAIT = { timeout: 30000 };

/**
 * What the README's "Run an example" section says: the command, the URL it prints
 * and the names (in bold) of the fields and buttons to use, in order.
 */
function readmeSteps() {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const start = readme.indexOf('### Run an example\n');
  assert.ok(start >= 0, 'README.md has no "### Run an example" section');
  const section = readme.slice(start + '### Run an example\n'.length).split(/\n#{1,3} /)[0];
  const block = section.match(/```sh\n([^\n]+)\n```/);
  assert.ok(block, 'the section has no one-line ```sh block');
  const [, command, url] = block[1].match(/^(.+?)\s+#\s*listening on (http:\/\/\S+)$/) || [];
  assert.ok(command && url, `the block says no "<command>  # listening on <URL>": ${block[1]}`);
  const rest = section.slice(section.indexOf(block[0]) + block[0].length);
  const bold = [...rest.matchAll(/\*\*([^*]+)\*\*/g)].map((m) => m[1]);
  assert.equal(bold.length, 4, `the steps name a nickname field, a join button, a message field and a send button in bold: ${bold}`);
  const [nickField, joinButton, messageField, sendButton] = bold;
  return { command, url: new URL(url), nickField, joinButton, messageField, sendButton };
}

/** A port free on 127.0.0.1 at the time of the call. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    }).on('error', reject);
  });
}

/** Resolves once nothing accepts connections on port, or after ms (false). */
async function portClosed(port, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const open = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); }).on('error', () => resolve(false));
    });
    if (!open) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const steps = readmeSteps();
let example; // the shell running the README's command, in a process group of its own
let port;
let pageURL;
let output = '';
let browser;

before(async () => {
  port = await freePort();
  const command = `${steps.command} -addr 127.0.0.1:${port}`;
  example = spawn('sh', ['-c', command], { cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  example.stderr.on('data', (d) => { output += d; });
  const printed = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command}: no "listening on" line within ${START_TIMEOUT} ms:\n${output}`)), START_TIMEOUT);
    example.stdout.on('data', (d) => {
      output += d;
      const m = output.match(/listening on (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    example.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${command} exited with ${code}:\n${output}`)); });
  });
  const expected = new URL(steps.url);
  expected.port = String(port);
  assert.equal(new URL(printed).href, expected.href, 'the example prints the README\'s URL, on the port asked for');
  pageURL = expected.href;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, { timeout: START_TIMEOUT + 30000 });

after(async () => {
  await browser?.close();
  if (example && example.exitCode === null) {
    process.kill(-example.pid, 'SIGTERM'); // the shell, `go run` and the example
    if (!(await portClosed(port, STOP_TIMEOUT))) {
      process.kill(-example.pid, 'SIGKILL');
      assert.fail(`the example still listened ${STOP_TIMEOUT} ms after SIGTERM:\n${output}`);
    }
  }
});

/** One user: a browser context of its own, with one page on the example. */
async function user() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`); });
  await page.goto(pageURL);
  return { page, problems };
}

/** Does what the README says: a nickname, then Join; waits until the page shows the room joined. */
async function join(page, nick) {
  await page.getByLabel(steps.nickField).fill(nick);
  await page.getByRole('button', { name: steps.joinButton }).click();
  await page.getByText('#general').first().waitFor(WAIT);
}

test('README: a message typed in one window shows in the other', async () => {
  const alice = await user();
  const bob = await user();
  await join(alice.page, 'alice');
  await join(bob.page, 'bob');
  // Alice sees bob arrive: both are in the room before she talks.
  await alice.page.locator('li', { hasText: 'bob joined' }).waitFor(WAIT);

  const text = 'hello from the README <img src=x onerror=alert(1)>';
  await alice.page.getByLabel(steps.messageField).fill(text);
  await alice.page.getByRole('button', { name: steps.sendButton }).click();
  for (const [who, { page }] of [['alice', alice], ['bob', bob]]) {
    const line = page.locator('li', { hasText: text }); // shown as text: the markup is not parsed
    await line.waitFor(WAIT);
    assert.match(await line.textContent(), /alice: hello from the README/, `${who}'s window`);
    assert.equal(await page.locator('#log img').count(), 0, `${who}'s window made an element of the message`);
  }
  assert.deepEqual([...alice.problems, ...bob.problems], []);
});
