"use strict";
// JSON and MessagePack connections on one hub at once: a broadcast, a group message and
// bytes reach every connection in its own protocol (the server encodes once per
// protocol); negotiate offers Binary only on the transports that carry it.

const assert = require("node:assert/strict");
const { describe, test } = require("node:test");
const {
  HttpTransportType,
  TEST_TIMEOUT_MS,
  JSON_PROTOCOL,
  MESSAGEPACK,
  useServer,
  uniq,
  waitUntil,
  within,
  scenario,
} = require("../lib/harness");

const server = useServer();
const MIXED = { name: "mixed", label: "mixed protocols", transport: undefined };

/** One connection per transport and protocol that go together. */
const MEMBERS = [
  { label: "json-ws", transport: HttpTransportType.WebSockets, protocol: JSON_PROTOCOL },
  { label: "json-sse", transport: HttpTransportType.ServerSentEvents, protocol: JSON_PROTOCOL },
  { label: "json-lp", transport: HttpTransportType.LongPolling, protocol: JSON_PROTOCOL },
  { label: "msgpack-ws", transport: HttpTransportType.WebSockets, protocol: MESSAGEPACK },
  { label: "msgpack-lp", transport: HttpTransportType.LongPolling, protocol: MESSAGEPACK },
];

const connectAll = (s) => Promise.all(MEMBERS.map((m) => s.connect(m)));

describe("mixed protocols", { concurrency: true }, () => {
  test("a broadcast from either protocol reaches JSON and MessagePack connections alike", { timeout: TEST_TIMEOUT_MS },
    scenario(server, MIXED, async (s) => {
      const conns = await connectAll(s);
      const ev = uniq("mixed");
      const recs = conns.map((c) => s.record(c, ev));
      const payload = { text: "héllo 🎉", n: 4, big: 2 ** 52 + 1, f: 1.25, nested: [1, { x: null }, [true]], empty: {} };
      for (const sender of [conns[3], conns[0]]) {
        await within(sender.invoke("Broadcast", ev, { ...payload, from: sender.label }), `Broadcast from ${sender.label}`);
      }
      await waitUntil(() => recs.every((r) => r.length >= 2), "every connection to receive both broadcasts");
      await Promise.all(conns.map((c) => s.barrier(c)));
      for (const [i, r] of recs.entries()) {
        assert.deepEqual(r, [[{ ...payload, from: "msgpack-ws" }], [{ ...payload, from: "json-ws" }]],
          `${conns[i].label} received both broadcasts once, in order, equal`);
      }
    }));

  test("a group of JSON and MessagePack members gets one SendToGroup in each protocol", { timeout: TEST_TIMEOUT_MS },
    scenario(server, MIXED, async (s) => {
      const conns = await connectAll(s);
      const outsider = await s.connect({ label: "outsider", protocol: MESSAGEPACK, transport: HttpTransportType.WebSockets });
      const g = uniq("mixedgroup");
      const ev = uniq("grp");
      const recs = conns.map((c) => s.record(c, ev));
      const outside = s.record(outsider, ev);
      await Promise.all(conns.map((c) => within(c.invoke("JoinGroup", g), `JoinGroup ${c.label}`)));
      assert.deepEqual(await within(outsider.invoke("GroupMembers", g), "GroupMembers"), conns.map((c) => c.connectionId).sort());
      await within(outsider.invoke("SendToGroup", g, ev, ["to", "the", "group", 1]), "SendToGroup");
      await waitUntil(() => recs.every((r) => r.length === 1), "every member to receive the group message");
      for (const [i, r] of recs.entries()) assert.deepEqual(r[0], [["to", "the", "group", 1]], conns[i].label);
      await s.barrier(outsider);
      assert.equal(outside.length, 0, "a non-member must not receive the group message");
    }));

  test("bytes broadcast by a MessagePack client: Uint8Array under MessagePack, base64 under JSON", { timeout: TEST_TIMEOUT_MS },
    scenario(server, MIXED, async (s) => {
      const conns = await connectAll(s);
      const ev = uniq("bytes");
      const recs = conns.map((c) => s.record(c, ev));
      const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
      await within(conns[4].invoke("Broadcast", ev, { name: "blob", data: bytes }), "Broadcast of bytes");
      await waitUntil(() => recs.every((r) => r.length === 1), "every connection to receive the bytes");
      const base64 = Buffer.from(bytes).toString("base64");
      for (const [i, r] of recs.entries()) {
        const c = conns[i];
        const [got] = r[0];
        assert.equal(got.name, "blob", `${c.label}: name`);
        if (c.protocol.binary) {
          assert.ok(got.data instanceof Uint8Array, `${c.label}: data is a Uint8Array, got ${Object.prototype.toString.call(got.data)}`);
          assert.ok(Buffer.from(got.data).equals(Buffer.from(bytes)), `${c.label}: the same bytes`);
        } else {
          assert.equal(got.data, base64, `${c.label}: bytes arrive as base64 under JSON`);
        }
      }
    }));

  test("negotiate offers Binary on WebSockets and long polling, Text only on SSE", { timeout: TEST_TIMEOUT_MS }, async () => {
    const res = await fetch(`${server().url}/hubs/conformance/negotiate?negotiateVersion=1`, { method: "POST" });
    assert.equal(res.status, 200);
    const doc = await res.json();
    const formats = Object.fromEntries(doc.availableTransports.map((t) => [t.transport, [...t.transferFormats].sort()]));
    assert.deepEqual(formats.WebSockets, ["Binary", "Text"], "WebSockets transferFormats");
    assert.deepEqual(formats.LongPolling, ["Binary", "Text"], "LongPolling transferFormats");
    assert.deepEqual(formats.ServerSentEvents, ["Text"], "ServerSentEvents transferFormats");
  });

  test("MessagePack: default negotiation picks WebSockets; SSE alone is refused", { timeout: TEST_TIMEOUT_MS },
    scenario(server, MIXED, async (s) => {
      const c = await s.connect({ protocol: MESSAGEPACK, label: "default" });
      const who = await within(c.invoke("Whoami"), "Whoami");
      assert.equal(who.transport, "WebSockets");
      const sse = s.build({ protocol: MESSAGEPACK, transport: HttpTransportType.ServerSentEvents, label: "sse" });
      let err = null;
      try {
        await within(sse.start(), "start() of MessagePack over SSE");
      } catch (e) {
        err = e;
      }
      assert.ok(err && !/^timed out/.test(err.message), `MessagePack over SSE must fail to start, got ${err ? err.message : "a connection"}`);
      assert.equal(sse.state, "Disconnected");
    }));
});
