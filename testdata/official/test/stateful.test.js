"use strict";
// Stateful reconnect with the official client: withStatefulReconnect() over WebSockets,
// through the link-cutting proxy (internal/linkcut) resetting the link again and again.
// The connection must keep its ID and its groups, a server-to-client stream must arrive
// whole and in order, and group messages sent meanwhile must all arrive once.
//
// HUBBUB_CUT_STREAM (default 3000 items) and HUBBUB_CUT_EVERY_MS (default 150) scale it.

const assert = require("node:assert/strict");
const path = require("node:path");
const { test } = require("node:test");
const { signalR, HttpTransportType, PROTOCOLS, useServer, uniq, waitUntil, within, sleep } = require("../lib/harness");
const { startCutter } = require("../lib/cutter");

// Against clusterdemo (HUBBUB_BIN), a resumed WebSocket lands on any of 3 nodes behind
// the round-robin proxy: one that does not hold the connection relays it to the one
// that does (docs/reconnect.md, "Across nodes"). Such a resume takes two Redis round
// trips before the socket opens, and the official client tries a resume only once: a
// reset that hits the resume itself ends the connection. So the cluster run cuts half
// as often, leaving a loaded machine time to open each resume between two resets.
const clustered = path.basename(process.env.HUBBUB_BIN || "") === "clusterdemo";

const server = useServer();
const STREAM = Number(process.env.HUBBUB_CUT_STREAM || 3000);
const CUT_EVERY_MS = Number(process.env.HUBBUB_CUT_EVERY_MS || (clustered ? 300 : 150));
const GROUP_MESSAGES = 200;

for (const protocol of PROTOCOLS) {
  test(`withStatefulReconnect over WebSockets with ${protocol.name} through link resets: same ID, same groups, nothing lost`,
    { timeout: 120000 },
    async () => {
      const { url } = server();
      const cutter = await startCutter(url);
      const logs = [];
      const logger = { log: (level, msg) => { if (level >= signalR.LogLevel.Warning) logs.push(String(msg)); } };
      const withProtocol = (b) => (protocol.create ? b.withHubProtocol(protocol.create()) : b);
      const receiver = withProtocol(new signalR.HubConnectionBuilder()
        .withUrl(cutter.url + "/hubs/conformance", { transport: HttpTransportType.WebSockets })
        .withStatefulReconnect()
        .configureLogging(logger))
        .build();
      const sender = withProtocol(new signalR.HubConnectionBuilder()
        .withUrl(url + "/hubs/conformance", { transport: HttpTransportType.WebSockets })
        .configureLogging(signalR.LogLevel.None))
        .build();
      let reconnecting = 0;
      receiver.onreconnecting(() => reconnecting++);
      let closed = null;
      receiver.onclose((err) => { closed = err || new Error("closed"); });
      const group = uniq("g");
      const got = [];
      receiver.on("seq", (n) => got.push(n));
      let cuts = 0;
      const items = [];
      let cutting = false;
      let cutDone = Promise.resolve();
      try {
        await within(Promise.all([receiver.start(), sender.start()]), "both connections to start");
        const id = receiver.connectionId;
        await within(receiver.invoke("JoinGroup", group), "JoinGroup");

        // Cut, then wait for the resumed link to carry something before the next cut:
        // the official client tries a resume once, so a reset that lands while the
        // resume is still opening would end the connection (a test artefact, not a
        // proxy users meet every 150 ms).
        cutting = true;
        cutDone = (async () => {
          while (cutting) {
            await sleep(CUT_EVERY_MS);
            if (!cutting) break;
            const seen = items.length + got.length;
            cuts += await cutter.cut("reset");
            const t0 = Date.now();
            // A few messages the old link had already handed to the client can still
            // be dispatched after the reset: wait for more than those.
            while (cutting && items.length + got.length <= seen + 20 && Date.now() - t0 < 5000) await sleep(10);
          }
        })();
        const streamDone = new Promise((resolve, reject) => {
          receiver.stream("Counter", STREAM, 1).subscribe({
            next: (n) => items.push(n),
            complete: resolve,
            error: reject,
          });
        });
        for (let i = 0; i < GROUP_MESSAGES; i++) {
          await sender.invoke("SendToGroup", group, "seq", i);
          await sleep(10);
        }
        await within(streamDone, `the Counter stream (${STREAM} items) through the cuts`, 90000);
        await waitUntil(() => got.length >= GROUP_MESSAGES, `${GROUP_MESSAGES} group messages (got ${got.length})`, 20000);
        cutting = false;
        await cutDone;

        assert.equal(closed, null, `the connection closed: ${closed && closed.message}\n${logs.join("\n")}`);
        assert.ok(cuts >= 5, `only ${cuts} links were cut; raise HUBBUB_CUT_STREAM`);
        assert.deepEqual(items, Array.from({ length: STREAM }, (_, i) => i), "stream items: none lost, doubled or reordered");
        assert.deepEqual(got, Array.from({ length: GROUP_MESSAGES }, (_, i) => i), "group messages: none lost, doubled or reordered");
        assert.equal(receiver.connectionId, id, "connectionId after the cuts");
        const who = await within(receiver.invoke("Whoami"), "Whoami after the cuts");
        assert.equal(who.connectionId, id, "the server sees the same connection");
        const members = await within(sender.invoke("GroupMembers", group), "GroupMembers");
        assert.deepEqual(members, [id], "the group kept its member");
        assert.equal(reconnecting, 0, "a stateful resume is silent (onreconnecting must not fire)");
        process.stderr.write(`stateful reconnect (official client, ${protocol.name}): ${cuts} resets, ${STREAM} stream items, ${GROUP_MESSAGES} group messages, 0 lost\n`);
      } finally {
        cutting = false;
        await cutDone;
        await Promise.allSettled([receiver.stop(), sender.stop()]);
        await cutter.stop();
      }
    });
}
