"use strict";
// Message size: the official client packs what it queues while a send is in flight
// into one unit, so 400 concurrent invoke('Echo', 50 chars) become one 45,890-byte
// WebSocket message or POST. The server must bound each hub message (32 KiB, as
// ASP.NET Core's MaximumReceiveMessageSize), not the unit that carries them. The same
// holds for MessagePack records (WebSockets and long polling).

const assert = require("node:assert/strict");
const { describe, test } = require("node:test");
const { TRANSPORTS, MESSAGEPACK, TEST_TIMEOUT_MS, withProtocol, useServer, scenario, within } = require("../lib/harness");

const server = useServer();
const CALLS = 400;

describe("message size", { concurrency: true }, () => {
  const rows = [
    ...TRANSPORTS.slice(0, 3).map((t) => withProtocol(t)),
    ...TRANSPORTS.filter((t) => t.name !== "ServerSentEvents" && t.name !== "Default").map((t) => withProtocol(t, MESSAGEPACK)),
  ];
  for (const entry of rows) {
    test(`${entry.label}: ${CALLS} concurrent Echo invocations packed into one unit all complete`,
      { timeout: TEST_TIMEOUT_MS },
      scenario(server, entry, async (s) => {
        const c = await s.connect();
        const value = "x".repeat(50);
        // Let the handshake's send settle first, so the 400 queue up behind one in flight.
        assert.equal(await within(c.invoke("Echo", "first"), "the first Echo"), "first");
        const calls = [];
        for (let i = 0; i < CALLS; i++) calls.push(c.invoke("Echo", value));
        const outcomes = await within(Promise.allSettled(calls), `${CALLS} Echo results`);
        const failed = outcomes.filter((o) => o.status !== "fulfilled" || o.value !== value);
        assert.equal(failed.length, 0,
          `${failed.length} of ${CALLS} failed; first: ${failed[0] && (failed[0].reason ? failed[0].reason.message : JSON.stringify(failed[0].value))}`);
        assert.equal(c.state, "Connected");
      }));
  }
});
