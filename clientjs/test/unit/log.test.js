// The logger option: a level, LogLevel with @microsoft/signalr's names and
// numbers (the console from that level up), or an ILogger object, and the one decision the
// client explains, a transport fallback with its reason and the transport tried
// next, against the fake server.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { HubConnection, LogLevel } from '../../src/index.js';
import { logger } from '../../src/log.js';
import { startFakeServer } from '../fake-server.js';

const { Trace, Warning, Critical, None } = LogLevel;

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
  test("LogLevel has @microsoft/signalr's names and numbers", () => {
    assert.deepEqual(LogLevel, { Trace: 0, Debug: 1, Information: 2, Warning: 3, Error: 4, Critical: 5, None: 6 });
  });

  const tests = [
    { name: 'default: Information and up', option: undefined, want: [['warn', 'hubbub: info'], ['warn', 'hubbub: warning'], ['warn', 'hubbub: error'], ['warn', 'hubbub: critical']] },
    { name: 'a level', option: Warning, want: [['warn', 'hubbub: warning'], ['warn', 'hubbub: error'], ['warn', 'hubbub: critical']] },
    { name: 'Trace: everything', option: Trace, want: ['trace', 'debug', 'info', 'warning', 'error', 'critical'].map((m) => ['warn', 'hubbub: ' + m]) },
    { name: 'Critical', option: Critical, want: [['warn', 'hubbub: critical']] },
    { name: 'None is silent', option: None, want: [] },
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
});

test('a fallback is logged at Warning with its reason and the transport tried next', async () => {
  const server = await startFakeServer({ dropWebSocketFrames: true, pollHold: 300 });
  const data = new Map();
  const storage = { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, v) };
  try {
    const first = memoryLogger();
    const hub = new HubConnection(server.url, { WebSocket, storage, probeTimeout: 300, logger: first });
    await hub.start();
    assert.equal(hub.transport, 'ServerSentEvents');
    await hub.stop();
    assert.deepEqual(first.lines, [[Warning, 'WebSockets failed: opened, but no handshake reply within 300 ms; trying ServerSentEvents']]);

    // The next page load starts with the transport that worked: no fallback, nothing logged.
    const second = memoryLogger();
    const again = new HubConnection(server.url, { WebSocket, storage, probeTimeout: 300, logger: second });
    await again.start();
    assert.equal(again.transport, 'ServerSentEvents');
    await again.stop();
    assert.deepEqual(second.lines, []);
  } finally {
    await server.close();
  }
});

test('by default a fallback is a console warning, and normal operation logs nothing', async () => {
  const server = await startFakeServer({ dropWebSocketFrames: true, pollHold: 300 });
  try {
    const seen = await captureConsole(async () => {
      const hub = new HubConnection(server.url, { WebSocket, storage: null, probeTimeout: 300 });
      await hub.start();
      assert.equal(await hub.invoke('Echo', 1), 1);
      await hub.stop();
    });
    assert.deepEqual(seen, [['warn', 'hubbub: WebSockets failed: opened, but no handshake reply within 300 ms; trying ServerSentEvents']]);
  } finally {
    await server.close();
  }
});

test('the last transport failing is logged without a next one', async () => {
  const server = await startFakeServer({ dropWebSocketFrames: true });
  try {
    const mine = memoryLogger();
    const hub = new HubConnection(server.url, { WebSocket, storage: null, transports: ['WebSockets'], handshakeTimeout: 200, logger: mine });
    await assert.rejects(hub.start(), /no transport worked \(WebSockets failed: opened, but no handshake reply within 200 ms\)/);
    assert.deepEqual(mine.lines, [[Warning, 'WebSockets failed: opened, but no handshake reply within 200 ms']]);
  } finally {
    await server.close();
  }
});

test('None keeps even a fallback off the console', async () => {
  const server = await startFakeServer({ dropWebSocketFrames: true });
  try {
    const seen = await captureConsole(async () => {
      const hub = new HubConnection(server.url, { WebSocket, storage: null, probeTimeout: 200, logger: None });
      await hub.start();
      await hub.stop();
    });
    assert.deepEqual(seen, []);
  } finally {
    await server.close();
  }
});

test('a throwing handler is reported on the console, and the others still run', async () => {
  const server = await startFakeServer();
  try {
    const hub = new HubConnection(server.url, { WebSocket, storage: null });
    const got = [];
    hub.on('news', () => { throw new Error('bad handler'); }).on('news', (n) => got.push(n));
    const seen = await captureConsole(async () => {
      await hub.start();
      await hub.invoke('SendToCaller', 'news', 7);
      await hub.invoke('Echo', 'flush');
      await hub.stop();
    });
    assert.deepEqual(got, [7]);
    assert.deepEqual(seen, [['error', 'Error: bad handler']]);
  } finally {
    await server.close();
  }
});
