// The fallback report (issue 17): after connecting, the client tells the server
// why it left each transport it tried, in one non-blocking invocation of
// "hubbub:fallback" whose one argument maps each transport left to why, unless
// told not to (reportFallback: false); nothing is sent when nothing was left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { HubConnection } from '../../src/index.js';
import { protocol as messagePack } from '../../src/msgpack.js';
import { startFakeServer } from '../fake-server.js';

/** Resolves when fn() is truthy, polling every 20 ms, or fails after ms. */
async function until(fn, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A WebSocket whose upgrade is refused, as a browser reports it: closed with 1006, never open. */
class RefusedWebSocket {
  constructor() { setTimeout(() => this.onclose?.({ code: 1006 })); }
  close() {}
}

/**
 * Connects, makes a round trip (messages of a connection are taken in order:
 * the report, if any, came before) and returns the reports the server got.
 */
async function reportsOf(server, options) {
  const hub = new HubConnection(server.url, { storage: null, probeTimeout: 300, logger: 6, ...options });
  await hub.start();
  try {
    assert.equal(await hub.invoke('Echo', 1), 1);
    return { transport: hub.transport, reports: server.conn(hub.connectionId).reports || [] };
  } finally {
    await hub.stop();
  }
}

const tests = [
  {
    name: 'WebSocket frames dropped: reported as frames-dropped',
    server: { dropWebSocketFrames: true, pollHold: 300 },
    options: { WebSocket },
    transport: 'ServerSentEvents',
    reports: [[{ WebSockets: 'frames-dropped' }]],
  },
  {
    name: 'WebSocket upgrade refused: reported as upgrade-refused',
    server: { pollHold: 300 },
    options: { WebSocket: RefusedWebSocket },
    transport: 'ServerSentEvents',
    reports: [[{ WebSockets: 'upgrade-refused' }]],
  },
  {
    name: 'two transports left: both in one report, an HTTP error as failed',
    server: { dropWebSocketFrames: true, pollHold: 300 },
    // The SSE stream's GET (polls have &_=) is answered 502.
    faults: [[(method, url) => method === 'GET' && !url.searchParams.has('_'), 502]],
    options: { WebSocket },
    transport: 'LongPolling',
    reports: [[{ WebSockets: 'frames-dropped', ServerSentEvents: 'failed' }]],
  },
  {
    name: 'MessagePack: the report in MessagePack, after falling back to long polling',
    server: { dropWebSocketFrames: true, pollHold: 300 },
    options: { WebSocket, protocol: messagePack() },
    transport: 'LongPolling',
    reports: [[{ WebSockets: 'frames-dropped' }]],
  },
  {
    name: 'reportFallback: false sends nothing',
    server: { dropWebSocketFrames: true, pollHold: 300 },
    options: { WebSocket, reportFallback: false },
    transport: 'ServerSentEvents',
    reports: [],
  },
  {
    name: 'nothing left: nothing sent',
    server: { pollHold: 300 },
    options: { WebSocket },
    transport: 'WebSockets',
    reports: [],
  },
];

for (const tc of tests) {
  test(tc.name, async () => {
    const server = await startFakeServer(tc.server);
    for (const [match, status] of tc.faults || []) server.fail(match, status);
    try {
      const got = await reportsOf(server, tc.options);
      assert.equal(got.transport, tc.transport);
      assert.deepEqual(got.reports, tc.reports);
    } finally {
      await server.close();
    }
  });
}

test('each new connection reports what its own attempt left', async () => {
  const server = await startFakeServer({ dropWebSocketFrames: true, pollHold: 300 });
  const hub = new HubConnection(server.url, { WebSocket, storage: null, probeTimeout: 300, logger: 6, statefulReconnect: false, reconnect: { delay: 50 } });
  try {
    await hub.start();
    const first = hub.connectionId;
    await hub.invoke('Echo', 1);
    assert.deepEqual(server.conn(first).reports, [[{ WebSockets: 'frames-dropped' }]]);
    server.cut(server.conn(first));
    await until(() => hub.connected && hub.connectionId !== first, 5000, 'the reconnect');
    await hub.invoke('Echo', 2);
    // The remembered transport... is not remembered (storage: null): WebSockets is
    // probed again, fails again, and the new connection is told so, once.
    assert.deepEqual(server.conn(hub.connectionId).reports, [[{ WebSockets: 'frames-dropped' }]]);
  } finally {
    await hub.stop();
    await server.close();
  }
});

test('a transport cut twice soon after it opened is reported as requests-cut by the connection that replaces it', async () => {
  const server = await startFakeServer({ pollHold: 300 });
  const hub = new HubConnection(server.url, { WebSocket, storage: null, logger: 6, statefulReconnect: false, reconnect: { delay: 50 } });
  try {
    await hub.start();
    for (let i = 0; i < 2; i++) {
      assert.equal(hub.transport, 'WebSockets');
      const id = hub.connectionId;
      server.cut(server.conn(id));
      await until(() => hub.connected && hub.connectionId !== id, 5000, 'the reconnect');
    }
    // Demoted: tried last from now on.
    assert.equal(hub.transport, 'ServerSentEvents');
    await hub.invoke('Echo', 1);
    assert.deepEqual(server.conn(hub.connectionId).reports, [[{ WebSockets: 'requests-cut' }]]);
  } finally {
    await hub.stop();
    await server.close();
  }
});
