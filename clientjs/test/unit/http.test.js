// The POST sender of SSE and long polling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { poster } from '../../src/http.js';
import { json } from '../../src/protocol.js';

test('a burst of sends goes out in POSTs of at most 64 KiB, a larger record alone', async () => {
  /** @type {string[]} */
  const bodies = [];
  const env = {
    _fetch: async (/** @type {string} */ _url, /** @type {any} */ init) => {
      bodies.push(init.body);
      await new Promise((r) => setTimeout(r, 5)); // the others queue up meanwhile
      return new Response('');
    },
    _token: async () => null,
    _credentials: /** @type {RequestCredentials} */ ('same-origin'),
    _protocol: json,
  };
  const send = poster(env, 'http://127.0.0.1:1/hub?id=x', () => false);
  const record = 'x'.repeat(99) + '\x1e';
  const big = 'y'.repeat(100 << 10) + '\x1e';
  // 2 MB queued while the first POST is in flight: over Hubbub's 1 MiB limit of a POST.
  const sends = Array.from({ length: 20000 }, (_, i) => send(i === 10000 ? big : record));
  await Promise.all(sends);
  assert.equal(bodies.join(''), record.repeat(10000) + big + record.repeat(9999), 'every record, once, in order');
  for (const b of bodies) {
    assert.ok(b.length <= 64 * 1024 || b === big, `a POST of ${b.length} characters`);
  }
});
