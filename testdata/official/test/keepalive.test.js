"use strict";
// Keep-alive: a server of its own with short keep-alive, client-timeout and long-poll
// hold times, so that an idle connection must survive several of each:
//   --keepalive-interval 500ms  the server pings; the client's server timeout is 2.5 s
//   --client-timeout 3s         the client pings every 500 ms (WS/SSE); long polling has
//                               no client pings and must be kept alive by its polls
//   --poll-timeout 1s           long polls are answered empty and re-issued
// The connection idles for 6 s, then must still be Connected and answer Echo. Every
// transport with JSON, and WebSockets and long polling with MessagePack.

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { before, after, describe, test } = require("node:test");
const { TRANSPORTS, MESSAGEPACK, withProtocol, scenario, within, sleep } = require("../lib/harness");
const { startServer } = require("../lib/server");

const IDLE_MS = 6000;
const SERVER_ARGS = [
  "--keepalive-interval", "500ms",
  "--client-timeout", "3s",
  "--poll-timeout", "1s",
  "--jwt-secret", crypto.randomBytes(16).toString("hex"),
];

let server = null;
let skipReason = null;

before(async () => {
  try {
    server = await startServer({ args: SERVER_ARGS });
  } catch (err) {
    if (/flag provided but not defined|unknown flag/i.test(err.message)) {
      skipReason = `the server binary has no keep-alive flags (${SERVER_ARGS.filter((a) => a.startsWith("--")).join(", ")})`;
      return;
    }
    throw err;
  }
});

after(async () => {
  if (server) {
    await server.stop();
    server.removeLog();
  }
});

describe("keep-alive", { concurrency: true }, () => {
  const rows = [
    ...TRANSPORTS.map((t) => withProtocol(t)),
    ...TRANSPORTS.filter((t) => t.name === "WebSockets" || t.name === "LongPolling").map((t) => withProtocol(t, MESSAGEPACK)),
  ];
  for (const entry of rows) {
    test(`${entry.label}: idle connection survives server keep-alive, client timeout and poll timeout`,
      { timeout: IDLE_MS + 12000 },
      async (t) => {
        if (skipReason) {
          t.skip(skipReason);
          return;
        }
        await scenario(() => ({ url: server.url }), entry, async (s) => {
          const c = s.build({ serverTimeout: 2500, keepAlive: 500 });
          let closedWith = null;
          let reconnecting = false;
          c.onclose((err) => { closedWith = err ? err.message : "(no error)"; });
          c.onreconnecting(() => { reconnecting = true; });
          await within(c.start(), "start()");
          const startedAt = s.logs.length;
          await sleep(IDLE_MS);
          assert.equal(closedWith, null, `the idle connection was closed: ${closedWith}`);
          assert.equal(reconnecting, false);
          assert.equal(c.state, "Connected");
          assert.equal(await within(c.invoke("Echo", "awake"), "Echo after idling"), "awake");
          if (c.connection && c.connection.transport && c.connection.features && !c.connection.features.inherentKeepAlive) {
            // WebSockets / SSE: the server must actually have pinged (type 6).
            const pings = s.received(c, startedAt).filter((r) => r.msg.type === 6).length;
            assert.ok(pings >= 2, `expected server pings while idle for ${IDLE_MS} ms with a 500 ms keep-alive, got ${pings}`);
          }
        })(t);
      });
  }
});
