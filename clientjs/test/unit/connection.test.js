// The client end to end in Node against the fake server: every transport,
// invoke/send/events/streams both ways/client results, fallback when the
// WebSocket opens but drops frames, the transport memory, and reconnect.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { connect, HubConnection } from '../../src/index.js';
import * as built from '../../dist/hubbub.mjs';
import { startFakeServer } from '../fake-server.js';

const fakeStorage = () => {
  const data = new Map();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, v) };
};

/** Resolves when fn() is truthy, polling every 20 ms, or fails after ms. */
async function until(fn, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling']) {
  describe(`over ${transport}`, () => {
    let server, hub;
    before(async () => {
      server = await startFakeServer({ pollHold: 300 });
      hub = connect(server.url, { WebSocket, transports: [transport], storage: null });
      await hub.start();
    });
    after(async () => { await hub.stop(); await server.close(); });

    test('connects on the transport it was told to use', async () => {
      assert.equal(hub.state, 'connected');
      assert.equal(hub.connected, true);
      assert.equal(hub.transport, transport);
      assert.match(hub.connectionId, /^c\d+$/);
      const me = await hub.invoke('Whoami');
      assert.equal(me.transport, transport);
      assert.equal(me.connectionId, hub.connectionId);
    });

    test('invoke resolves with the result and rejects with the hub error', async () => {
      assert.deepEqual(await hub.invoke('Echo', { a: [1, 'x\ny', null] }), { a: [1, 'x\ny', null] });
      assert.equal(await hub.invoke('Add', 2, 3), 5);
      await assert.rejects(hub.invoke('Fail', 'boom'), /boom/);
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => hub.invoke('Add', i, 1)));
      assert.deepEqual(many, Array.from({ length: 20 }, (_, i) => i + 1));
    });

    test('events reach on() handlers, case-insensitively; off() removes them', async () => {
      const got = [];
      const h = (p) => got.push(p);
      hub.on('notice', h);
      await hub.send('SendToCaller', 'Notice', 1);
      await until(() => got.length === 1, 3000, 'event');
      hub.off('notice', h);
      await hub.invoke('SendToCaller', 'notice', 2);
      await hub.invoke('Echo', 'flush');
      assert.deepEqual(got, [1]);
    });

    test('server-to-client stream as an async iterator, with cancel', async () => {
      const items = [];
      for await (const i of hub.stream('Counter', 4, 5)) items.push(i);
      assert.deepEqual(items, [0, 1, 2, 3]);
      const early = [];
      for await (const i of hub.stream('Counter', 1000, 5)) {
        early.push(i);
        if (early.length === 3) break;
      }
      assert.deepEqual(early, [0, 1, 2]);
      const c = [...server.conns.values()].find((x) => x.id === hub.connectionId);
      await until(() => c.cancelled === 1, 3000, 'CancelInvocation');
    });

    test('client-to-server stream from an async generator', async () => {
      async function* numbers() { for (let i = 1; i <= 10; i++) yield i; }
      assert.equal(await hub.invoke('Sum', numbers()), 55);
    });

    test('client results: the server waits for what a handler returns', async () => {
      hub.on('square', async (n) => n * n);
      assert.equal(await hub.invoke('AskClient', 'square', 7), 49);
      await assert.rejects(hub.invoke('AskClient', 'nobody', 1), /didn't provide a result/);
    });

    test('timeout() rejects a call that takes too long', async () => {
      hub.on('never', () => new Promise(() => {}));
      await assert.rejects(hub.timeout(100).invoke('AskClient', 'never', 1), (e) => e.name === 'TimeoutError');
      assert.equal(await hub.timeout(5000).invoke('Echo', 'in time'), 'in time');
    });
  });
}

test('falls back when the WebSocket opens but drops frames, and remembers it', async () => {
  const server = await startFakeServer({ dropWebSocketFrames: true, pollHold: 300 });
  const storage = fakeStorage();
  try {
    const hub = new HubConnection(server.url, { WebSocket, storage, probeTimeout: 300 });
    const t0 = Date.now();
    await hub.start();
    assert.equal(hub.transport, 'ServerSentEvents');
    assert.equal(await hub.invoke('Echo', 1), 1);
    const first = Date.now() - t0;
    await hub.stop();
    assert.equal([...storage.data.values()][0], 'ServerSentEvents');
    assert.ok(server.log.some((l) => l.startsWith('WS ')), 'tried WebSockets first');

    server.log.length = 0;
    const again = new HubConnection(server.url, { WebSocket, storage, probeTimeout: 300 });
    await again.start();
    assert.equal(again.transport, 'ServerSentEvents');
    assert.ok(!server.log.some((l) => l.startsWith('WS ')), 'the next page load skips the failing probe');
    await again.stop();
    console.log(`# time to first message: probe ${first} ms`);
  } finally {
    await server.close();
  }
});

test('without a WebSocket constructor (Node 20) it uses SSE', async () => {
  const server = await startFakeServer();
  try {
    const hub = connect(server.url, { storage: null });
    await hub.start();
    // Node 22+ has a global WebSocket, Node 20 has none.
    assert.equal(hub.transport, typeof globalThis.WebSocket === 'function' ? 'WebSockets' : 'ServerSentEvents');
    await hub.stop();
  } finally {
    await server.close();
  }
});

test('reconnects after the server drops the connection, with a new negotiate', async () => {
  const server = await startFakeServer({ pollHold: 300 });
  try {
    for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling']) {
      const events = [];
      const hub = new HubConnection(server.url, { WebSocket, transports: [transport], storage: null, reconnect: { delay: 100 } });
      hub.onconnected((id) => events.push('connected ' + id));
      hub.onreconnecting(() => events.push('reconnecting'));
      hub.onreconnected((id) => events.push('reconnected ' + id));
      hub.onclose(() => events.push('close'));
      await hub.start();
      const first = hub.connectionId;
      await hub.invoke('DropConnection');
      await until(() => events.includes('reconnected ' + hub.connectionId) && hub.connectionId !== first, 5000, transport + ' reconnect');
      assert.equal(hub.transport, transport);
      assert.equal(await hub.invoke('Echo', 'back'), 'back');

      // A Close with allowReconnect reconnects; one without ends the connection.
      await hub.invoke('Disconnect', true);
      await until(() => events.filter((e) => e.startsWith('reconnected')).length === 2, 5000, transport + ' second reconnect');
      await hub.invoke('Disconnect', false);
      await until(() => hub.state === "disconnected", 5000, "disconnected " + transport + JSON.stringify(events));
      assert.deepEqual(events.map((e) => e.split(' ')[0]),
        ['connected', 'reconnecting', 'reconnected', 'reconnecting', 'reconnected', 'close'], transport);
      await assert.rejects(hub.invoke('Echo', 1), /not connected/);
    }
  } finally {
    await server.close();
  }
});

test('a Close without allowReconnect (as Hubbub and ASP.NET Core write it) ends the connection', async () => {
  const server = await startFakeServer({ pollHold: 300 });
  try {
    for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling']) {
      const events = [];
      const hub = new HubConnection(server.url, { WebSocket, transports: [transport], storage: null, reconnect: { delay: 50 } });
      hub.onreconnecting(() => events.push('reconnecting'));
      hub.onclose(() => events.push('close'));
      await hub.start();
      await hub.invoke('Disconnect'); // {"type":7}: allowReconnect left out, so false
      await until(() => hub.state === 'disconnected', 5000, transport + ' disconnected ' + JSON.stringify(events));
      assert.deepEqual(events, ['close'], transport);
    }
  } finally {
    await server.close();
  }
});

test('stop() stays stopped when the server ends the transport on the Close message', async () => {
  const server = await startFakeServer({ pollHold: 300 });
  try {
    for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling']) {
      const events = [];
      const hub = new HubConnection(server.url, { WebSocket, transports: [transport], storage: null, reconnect: { delay: 50 } });
      hub.onreconnecting(() => events.push('reconnecting'));
      hub.onclose(() => events.push('close'));
      await hub.start();
      const negotiations = () => server.log.filter((l) => l.includes('/negotiate')).length;
      const before = negotiations();
      await hub.stop();
      await new Promise((r) => setTimeout(r, 400)); // several reconnect delays
      assert.equal(hub.state, 'disconnected', transport);
      assert.deepEqual(events, ['close'], transport);
      assert.equal(negotiations(), before, transport + ': negotiated again after stop()');
    }
  } finally {
    await server.close();
  }
});

test('calls made while connecting wait for the connection', async () => {
  const server = await startFakeServer();
  try {
    const hub = connect(server.url, { WebSocket, storage: null });
    assert.equal(hub.state, 'connecting');
    assert.equal(await hub.invoke('Add', 1, 1), 2);
    await hub.stop();
    assert.equal(hub.state, 'disconnected');
  } finally {
    await server.close();
  }
});

test('start rejects when nothing answers, and the policy is not used for it', async () => {
  const hub = new HubConnection('http://127.0.0.1:9/hub', { WebSocket, storage: null });
  await assert.rejects(hub.start(), /fetch failed|ECONNREFUSED|negotiate/);
  assert.equal(hub.state, 'disconnected');
});

test('access token: a header on HTTP, access_token on the WebSocket and the SSE stream; a refusal is final', async () => {
  const server = await startFakeServer({ token: 'secret' });
  try {
    let calls = 0;
    for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling']) {
      const hub = new HubConnection(server.url, { WebSocket, transports: [transport], storage: null, accessTokenFactory: () => (calls++, 'secret') });
      await hub.start();
      assert.equal(await hub.invoke('Echo', transport), transport);
      await hub.stop();
    }
    assert.ok(calls >= 3);
    // As @microsoft/signalr (whose EventSource cannot set headers) and servers that
    // read the token from the query only on the stream expect.
    const streams = server.log.filter((l) => l.startsWith('SSE '));
    assert.equal(streams.length, 1, server.log.join('\n'));
    assert.match(streams[0], /[?&]access_token=secret(&|$)/);
    const bad = new HubConnection(server.url, { WebSocket, storage: null, accessTokenFactory: () => 'wrong' });
    await assert.rejects(bad.start(), /401/);
  } finally {
    await server.close();
  }
});

test('the built bundle exports the same API', () => {
  assert.equal(typeof built.connect, 'function');
  assert.equal(typeof built.HubConnection, 'function');
  assert.equal(typeof built.reconnectDelay, 'function');
});

/** The long polls of a fake-server log after the first (the one that opens the transport). */
const isPoll = (m, u) => m === 'GET' && u.searchParams.has('id') && u.searchParams.has('_');

test('long polling: a poll or send cut by a proxy (504, 502, 503, reset) is sent again on the same connection', async () => {
  const server = await startFakeServer({ pollHold: 200 });
  try {
    const events = [];
    const hub = new HubConnection(server.url, { WebSocket, transports: ['LongPolling'], storage: null, statefulReconnect: false });
    hub.onreconnecting((e) => events.push('reconnecting ' + e?.message));
    hub.onclose(() => events.push('close'));
    await hub.start();
    const id = hub.connectionId;
    const got = [];
    hub.on('news', (p) => got.push(p));
    for (const status of [504, 502, 503, 0]) {
      await server.fail(isPoll, status);
      await hub.invoke('SendToCaller', 'news', status);
      const posted = server.fail((m) => m === 'POST', status);
      await hub.invoke('SendToCaller', 'news', 'sent after ' + status);
      await posted;
    }
    assert.deepEqual(got, [504, 'sent after 504', 502, 'sent after 502', 503, 'sent after 503', 0, 'sent after 0']);
    assert.equal(hub.connectionId, id);
    assert.deepEqual(events, []);
    assert.equal(server.log.filter((l) => l.includes('/negotiate')).length, 1, 'no new negotiate');
    await hub.stop();
  } finally {
    await server.close();
  }
});

test('long polling: 404 ends the connection and a new one starts', async () => {
  const server = await startFakeServer({ pollHold: 200 });
  try {
    const events = [];
    const hub = new HubConnection(server.url, { WebSocket, transports: ['LongPolling'], storage: null, statefulReconnect: false, reconnect: { delay: 50 } });
    hub.onreconnecting((e) => events.push('reconnecting ' + e?.message));
    hub.onreconnected((id, how) => events.push(['reconnected', id, how]));
    await hub.start();
    server.fail(isPoll, 404);
    await until(() => events.length === 2, 5000, 'reconnected');
    assert.deepEqual(events, ['reconnecting poll failed: HTTP 404', ['reconnected', 'c1', { resumed: false }]]);
    assert.equal(await hub.invoke('Echo', 1), 1);
    await hub.stop();
  } finally {
    await server.close();
  }
});
