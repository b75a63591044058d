// The logger option: levels and names as @microsoft/signalr's LogLevel, the
// ILogger object form, and the decisions the client explains (fallbacks with
// their reasons, the remembered transport, reconnects, headers a WebSocket
// cannot carry), against the fake server.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { HubConnection, LogLevel } from '../../src/index.js';
import { logger } from '../../src/log.js';
import { startFakeServer } from '../fake-server.js';

/** Runs fn with console.log/warn/error captured; returns [method, text] pairs. */
async function captureConsole(fn) {
  const seen = [];
  const saved = {};
  for (const m of ['log', 'info', 'warn', 'error']) {
    saved[m] = console[m];
    console[m] = (...a) => seen.push([m, a.join(' ')]);
  }
  try {
    await fn();
  } finally {
    Object.assign(console, saved);
  }
  return seen;
}

/** An ILogger that keeps what it gets. */
const memoryLogger = () => {
  const lines = [];
  return { lines, log(level, message) { lines.push([level, message]); } };
};

describe('logger()', () => {
  test('LogLevel has @microsoft/signalr\'s names and numbers', () => {
    assert.deepEqual(LogLevel, { Trace: 0, Debug: 1, Information: 2, Warning: 3, Error: 4, Critical: 5, None: 6 });
  });

  const tests = [
    { name: 'default: Information and up', option: undefined, want: [['log', 'hubbub: info'], ['warn', 'hubbub: warning'], ['error', 'hubbub: error'], ['error', 'hubbub: critical']] },
    { name: 'a number', option: LogLevel.Warning, want: [['warn', 'hubbub: warning'], ['error', 'hubbub: error'], ['error', 'hubbub: critical']] },
    { name: 'a name', option: 'error', want: [['error', 'hubbub: error'], ['error', 'hubbub: critical']] },
    { name: 'a name in any case', option: 'Trace', want: [['log', 'hubbub: trace'], ['log', 'hubbub: debug'], ['log', 'hubbub: info'], ['warn', 'hubbub: warning'], ['error', 'hubbub: error'], ['error', 'hubbub: critical']] },
    { name: "'none' is silent", option: 'none', want: [] },
    { name: 'None is silent', option: LogLevel.None, want: [] },
  ];
  for (const tc of tests) {
    test(tc.name, async () => {
      const log = logger(tc.option);
      const seen = await captureConsole(() => {
        ['trace', 'debug', 'info', 'warning', 'error', 'critical'].forEach((m, level) => log.log(level, m));
      });
      assert.deepEqual(seen, tc.want);
    });
  }

  test('an object with log() is used as it is, and gets every level', () => {
    const mine = memoryLogger();
    assert.equal(logger(mine), mine);
  });

  test('an unknown level name is a clear error', () => {
    assert.throws(() => logger('verbose'), /unknown log level "verbose"/);
    assert.throws(() => new HubConnection('http://127.0.0.1:1/hub', { logger: 'loud' }), /unknown log level "loud"/);
  });
});

test('a fallback is logged at Warning with its reason, the remembered transport at Information', async () => {
  const server = await startFakeServer({ dropWebSocketFrames: true, pollHold: 300 });
  const data = new Map();
  const storage = { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, v) };
  try {
    const first = memoryLogger();
    const hub = new HubConnection(server.url, { WebSocket, storage, probeTimeout: 300, logger: first });
    await hub.start();
    assert.equal(hub.transport, 'ServerSentEvents');
    await hub.stop();
    assert.deepEqual(first.lines, [[LogLevel.Warning, 'WebSockets failed: opened, but no handshake reply within 300 ms; trying ServerSentEvents']]);

    const second = memoryLogger();
    const again = new HubConnection(server.url, { WebSocket, storage, probeTimeout: 300, logger: second });
    await again.start();
    await again.stop();
    assert.deepEqual(second.lines, [[LogLevel.Information, 'trying ServerSentEvents first: it worked last time']]);
  } finally {
    await server.close();
  }
});

test('normal operation logs nothing at the default level; a loss and each reconnect attempt are logged', async () => {
  const server = await startFakeServer({ pollHold: 300 });
  try {
    let hub;
    const quiet = await captureConsole(async () => {
      hub = new HubConnection(server.url, { WebSocket, storage: null, transports: ['WebSockets'], reconnect: { delay: 100, jitter: 0 } });
      await hub.start();
      assert.equal(await hub.invoke('Echo', 1), 1);
    });
    assert.deepEqual(quiet, []);
    const seen = await captureConsole(async () => {
      const back = new Promise((r) => hub.onreconnected(r));
      await hub.invoke('DropConnection');
      await back;
      await hub.stop();
    });
    assert.equal(seen.length, 2, JSON.stringify(seen));
    // The server ended the WebSocket normally (1000) without a Close message: no reason to give.
    assert.deepEqual(seen[0], ['log', 'hubbub: WebSockets lost: reconnecting']);
    assert.deepEqual(seen[1], ['log', 'hubbub: reconnect attempt 1 in 100 ms']);
  } finally {
    await server.close();
  }
});

test('a loss without a reason (a Close that allows reconnect) is logged without one', async () => {
  const server = await startFakeServer();
  try {
    const mine = memoryLogger();
    const hub = new HubConnection(server.url, { WebSocket, storage: null, transports: ['WebSockets'], logger: mine, reconnect: { delay: 100, jitter: 0 } });
    await hub.start();
    const back = new Promise((r) => hub.onreconnected(r));
    await hub.invoke('Disconnect', true);
    await back;
    await hub.stop();
    assert.deepEqual(mine.lines, [
      [LogLevel.Information, 'WebSockets lost: reconnecting'],
      [LogLevel.Information, 'reconnect attempt 1 in 100 ms'],
    ]);
  } finally {
    await server.close();
  }
});

test('an Authorization header while WebSockets is tried is a Warning; none for accessTokenFactory', async () => {
  const server = await startFakeServer();
  try {
    for (const [options, want] of [
      [{ headers: { authorization: 'Bearer t' } }, [[LogLevel.Warning, 'WebSockets cannot send headers: use accessTokenFactory']]],
      [{ headers: { 'X-Authorization-Hint': 'no' }, accessTokenFactory: () => 't' }, []],
      [{ headers: { Authorization: 'Bearer t' }, transports: ['LongPolling'] }, []],
    ]) {
      const mine = memoryLogger();
      const hub = new HubConnection(server.url, { WebSocket, storage: null, logger: mine, ...options });
      await hub.start();
      await hub.stop();
      assert.deepEqual(mine.lines, want, JSON.stringify(options));
    }
  } finally {
    await server.close();
  }
});

test("'none' keeps even a fallback off the console", async () => {
  const server = await startFakeServer({ dropWebSocketFrames: true });
  try {
    const seen = await captureConsole(async () => {
      const hub = new HubConnection(server.url, { WebSocket, storage: null, probeTimeout: 200, logger: 'none' });
      await hub.start();
      await hub.stop();
    });
    assert.deepEqual(seen, []);
  } finally {
    await server.close();
  }
});

test('a throwing handler is logged at Error, and the others still run', async () => {
  const server = await startFakeServer();
  try {
    const mine = memoryLogger();
    const hub = new HubConnection(server.url, { WebSocket, storage: null, logger: mine });
    const got = [];
    hub.on('news', () => { throw new Error('bad handler'); }).on('news', (n) => got.push(n));
    await hub.start();
    await hub.invoke('SendToCaller', 'news', 7);
    await hub.invoke('Echo', 'flush');
    await hub.stop();
    assert.deepEqual(got, [7]);
    assert.deepEqual(mine.lines, [[LogLevel.Error, "'news' handler threw: Error: bad handler"]]);
  } finally {
    await server.close();
  }
});
