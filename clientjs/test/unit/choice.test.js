import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LONG_POLLING as LP, SSE, transportMemory, transportNames, transportOrder, WEBSOCKETS as WS } from '../../src/choice.js';

test('transportNames accepts common spellings', () => {
  assert.deepEqual(transportNames(['websocket', 'WebSockets', 'sse', 'ServerSentEvents', 'long-polling', 'longPolling', 'polling']),
    [WS, WS, SSE, SSE, LP, LP, LP]);
  assert.throws(() => transportNames(['carrier-pigeon']), /unknown transport/);
});

test('transportOrder', () => {
  const all = [WS, SSE, LP];
  const tests = [
    { name: 'default order', wanted: all, offered: all, want: all },
    { name: 'user order wins over server order', wanted: [LP, WS], offered: all, want: [LP, WS] },
    { name: 'only offered transports', wanted: all, offered: [LP, SSE], want: [SSE, LP] },
    { name: 'remembered first', wanted: all, offered: all, remembered: SSE, want: [SSE, WS, LP] },
    { name: 'remembered but not wanted', wanted: [WS, LP], offered: all, remembered: SSE, want: [WS, LP] },
    { name: 'remembered but not offered', wanted: all, offered: [WS, LP], remembered: SSE, want: [WS, LP] },
    { name: 'demoted last', wanted: all, offered: all, demoted: [WS], want: [SSE, LP, WS] },
    { name: 'demoted beats remembered', wanted: all, offered: all, remembered: WS, demoted: [WS, SSE], want: [LP, WS, SSE] },
    { name: 'nothing in common', wanted: [WS], offered: [LP], want: [] },
  ];
  for (const tc of tests) {
    assert.deepEqual(transportOrder(tc.wanted, tc.offered, tc.remembered, new Set(tc.demoted || [])), tc.want, tc.name);
  }
});

test('transportMemory keeps one transport per origin in a Storage', () => {
  const data = new Map();
  const storage = { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, String(v)) };
  const a = transportMemory(storage, 'http://a.example');
  const b = transportMemory(storage, 'http://b.example');
  assert.equal(a(), null);
  a(SSE);
  assert.equal(a(), SSE);
  assert.equal(b(), null);
  assert.equal(transportMemory(storage, 'http://a.example')(), SSE, 'a new page load sees it');
});

test('transportMemory survives storage that is missing or throws', () => {
  const throwing = { getItem() { throw new Error('SecurityError'); }, setItem() { throw new Error('QuotaExceeded'); } };
  for (const s of [null, undefined, throwing]) {
    const m = transportMemory(s, 'http://a');
    m(WS);
    assert.equal(m(), null);
  }
});
