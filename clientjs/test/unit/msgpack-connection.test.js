// The client with the MessagePack protocol, end to end in Node against the fake
// server: WebSockets and long polling, Uint8Array both ways, streams both ways,
// client results, a broadcast reaching a JSON and a MessagePack client, fallback
// that never picks Server-Sent Events, and stateful reconnect.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { HubConnection } from '../../src/index.js';
import { protocol } from '../../src/msgpack.js';
import * as built from '../../dist/hubbub-msgpack.mjs';
import { startFakeServer } from '../fake-server.js';

async function until(fn, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const transport of ['WebSockets', 'LongPolling']) {
  describe(`MessagePack over ${transport}`, () => {
    let server, hub, jsonHub;
    before(async () => {
      server = await startFakeServer({ pollHold: 300 });
      hub = new HubConnection(server.url, { WebSocket, transports: [transport], storage: null, protocol: protocol() });
      jsonHub = new HubConnection(server.url, { WebSocket, transports: [transport], storage: null });
      await hub.start();
      await jsonHub.start();
    });
    after(async () => { await hub.stop(); await jsonHub.stop(); await server.close(); });

    test('the handshake names messagepack and the server answers in it', async () => {
      assert.equal(hub.transport, transport);
      assert.equal(server.conn(hub.connectionId).protocol, 'messagepack');
      assert.equal(server.conn(jsonHub.connectionId).protocol, 'json');
    });

    test('echo of values and of Uint8Array payloads', async () => {
      const value = { s: 'x\ny "q" ☃', n: [1, 2.5, null, -7, 2 ** 40], b: true, when: new Date(1700000000123) };
      assert.deepEqual(await hub.invoke('Echo', value), value);
      const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 256);
      const echoed = await hub.invoke('Echo', bytes);
      assert.ok(echoed instanceof Uint8Array, 'a Uint8Array comes back');
      assert.deepEqual(echoed, bytes);
      assert.equal(await hub.invoke('Add', 40, 2), 42);
      await assert.rejects(hub.invoke('Fail', 'on purpose'), /on purpose/);
    });

    test('streams both ways', async () => {
      const items = [];
      for await (const i of hub.stream('Counter', 5, 5)) items.push(i);
      assert.deepEqual(items, [0, 1, 2, 3, 4]);
      async function* numbers() { for (let i = 1; i <= 20; i++) yield i; }
      assert.equal(await hub.invoke('Sum', numbers()), 210);
    });

    test('client results, Uint8Array included', async () => {
      hub.on('ask', (x) => (x instanceof Uint8Array ? x.length : x * 2));
      assert.equal(await hub.invoke('AskClient', 'ask', 21), 42);
      assert.equal(await hub.invoke('AskClient', 'ask', new Uint8Array(3)), 3);
      hub.off('ask');
    });

    test('a broadcast reaches the JSON client and the MessagePack client', async () => {
      const got = { json: [], msgpack: [] };
      hub.on('news', (p) => got.msgpack.push(p));
      jsonHub.on('news', (p) => got.json.push(p));
      await jsonHub.invoke('Broadcast', 'news', { n: 1 });
      await hub.send('Broadcast', 'news', { n: 2 });
      await until(() => got.json.length === 2 && got.msgpack.length === 2, 5000, 'both broadcasts on both');
      assert.deepEqual(got.msgpack, [{ n: 1 }, { n: 2 }]);
      assert.deepEqual(got.json, [{ n: 1 }, { n: 2 }]);
    });
  });
}

test('MessagePack falls back from a WebSocket that drops frames to long polling, never to SSE', async () => {
  const server = await startFakeServer({ dropWebSocketFrames: true, pollHold: 300 });
  const hub = new HubConnection(server.url, { WebSocket, storage: null, probeTimeout: 300, protocol: built.protocol() });
  try {
    await hub.start();
    assert.equal(hub.transport, 'LongPolling');
    assert.deepEqual(await hub.invoke('Echo', new Uint8Array([1, 2])), new Uint8Array([1, 2]));
    const sse = server.log.filter((l) => /^GET /.test(l) && !l.includes('negotiate')).length;
    assert.ok(server.log.some((l) => l.startsWith('WS ')), 'WebSockets was tried');
    assert.ok(sse > 0, 'long polls were made');
    const c = server.conn(hub.connectionId);
    assert.equal(c.transport, 'LongPolling');
    assert.ok(![...server.conns.values()].some((x) => x.transport === 'ServerSentEvents'), 'no connection used SSE');
  } finally {
    await hub.stop();
    await server.close();
  }
});

test('protocol: undefined means JSON', async () => {
  const server = await startFakeServer({ pollHold: 300 });
  const hub = new HubConnection(server.url, { WebSocket, storage: null, protocol: undefined });
  try {
    await hub.start();
    assert.equal(server.conn(hub.connectionId).protocol, 'json');
  } finally {
    await hub.stop();
    await server.close();
  }
});

test('MessagePack with only SSE offered in common: no transport, a clear error', async () => {
  const server = await startFakeServer({ transports: ['ServerSentEvents'] });
  const hub = new HubConnection(server.url, { WebSocket, storage: null, protocol: protocol() });
  try {
    await assert.rejects(hub.start(), /no common transport/);
  } finally {
    await server.close();
  }
});

for (const transport of ['WebSockets', 'LongPolling']) {
  test(`MessagePack stateful reconnect over ${transport}: a cut link resumes, nothing lost or doubled`, async () => {
    const server = await startFakeServer({ stateful: true, pollHold: 300 });
    const hub = new HubConnection(server.url, { WebSocket, transports: [transport], storage: null, reconnect: { delay: 50 }, protocol: protocol() });
    const got = [];
    const resumed = [];
    hub.on('news', (p) => got.push(p));
    hub.onreconnected((id, how) => resumed.push(how.resumed));
    try {
      await hub.start();
      const c = server.conn(hub.connectionId);
      assert.equal(c.version, 2);
      assert.equal(c.stateful, true);
      for (let i = 0; i < 3; i++) assert.equal(await hub.invoke('Echo', i), i);
      server.push(c, 'news', 1);
      await until(() => got.length === 1, 5000, 'first message');
      await until(() => c.acks.at(-1) === c.out, 5000, 'the client acks what it got');
      server.cut(c);
      server.push(c, 'news', new Uint8Array([2]));
      await until(() => resumed.length === 1, 10000, 'resumed');
      await until(() => got.length === 2, 5000, 'the message sent while cut');
      assert.deepEqual(got, [1, new Uint8Array([2])]);
      assert.deepEqual(resumed, [true]);
      // (Messages the server had not acked yet are replayed, and it drops them as duplicates.)
      assert.equal(await hub.invoke('Echo', 'after'), 'after');
    } finally {
      await hub.stop();
      await server.close();
    }
  });
}
