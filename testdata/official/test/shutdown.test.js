"use strict";
// Graceful shutdown with clients connected on every transport: a server of its own gets
// SIGTERM while a WebSockets, an SSE (open event stream), a long-polling (pending poll)
// and a default connection are up, plus a WebSockets and a long-polling one speaking
// MessagePack. Every client must see onclose, and the server must exit with status 0
// (its shutdown must not be held up by the open streams/polls).

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { test } = require("node:test");
const { TRANSPORTS, HttpTransportType, MESSAGEPACK, scenario, within } = require("../lib/harness");
const { startServer } = require("../lib/server");

test("server shutdown (SIGTERM) closes clients on every transport and exits 0", { timeout: 30000 }, async (t) => {
  const server = await startServer({ args: ["--jwt-secret", crypto.randomBytes(16).toString("hex")] });
  let stopped = false;
  try {
    await scenario(() => ({ url: server.url }), { name: "mixed", transport: undefined }, async (s) => {
      const rows = [
        ...TRANSPORTS.map((e) => ({ transport: e.transport, label: e.name, expect: e.expect })),
        { transport: HttpTransportType.WebSockets, protocol: MESSAGEPACK, label: "WebSockets/MessagePack", expect: "WebSockets" },
        { transport: HttpTransportType.LongPolling, protocol: MESSAGEPACK, label: "LongPolling/MessagePack", expect: "LongPolling" },
      ];
      const conns = await Promise.all(rows.map((row) => s.connect(row)));
      const closes = conns.map((c) => new Promise((resolve) => c.onclose((err) => resolve(err ? err.message : null))));
      for (const [i, c] of conns.entries()) {
        const who = await within(c.invoke("Whoami"), `Whoami on ${c.label}`);
        assert.equal(who.transport, rows[i].expect);
      }
      const exitP = server.stop();
      stopped = true;
      await within(Promise.all(closes), "onclose on every connection after SIGTERM", 15000);
      for (const c of conns) assert.equal(c.state, "Disconnected", `${c.label} state`);
      const exit = await within(exitP, "the server to exit after SIGTERM", 15000);
      assert.deepEqual(exit, { code: 0, signal: null },
        `server exit after SIGTERM with clients connected; log tail:\n${server.logTail(40)}`);
    })(t);
  } finally {
    if (!stopped) await server.stop();
    await server.exitPromise;
    server.removeLog();
  }
});
