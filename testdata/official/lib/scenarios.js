"use strict";
// The scenario table. defineTransportSuite(transportRow, protocol) generates one test
// per scenario, named "<Transport>: <scenario>" (JSON) or "<Transport>/MessagePack:
// <scenario>", for one row of TRANSPORTS and one of PROTOCOLS.

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { describe, test } = require("node:test");
const {
  signalR,
  HttpTransportType,
  TEST_TIMEOUT_MS,
  JSON_PROTOCOL,
  withProtocol,
  useServer,
  uniq,
  waitUntil,
  within,
  sleep,
  signJwt,
  scenario,
} = require("./harness");

const rejectsMatching = async (promise, re, what) => {
  let err = null;
  try {
    await within(promise, what);
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what}: expected a rejection, but it resolved`);
  assert.ok(!/^timed out after/.test(err.message), `${what}: expected a rejection, got a hang: ${err.message}`);
  if (re) assert.match(err.message, re, `${what}: rejection message`);
  return err;
};

/** Each scenario: [name, async (s, t) => {...}, options?]. `s` is a harness Scenario. */
const SCENARIOS = [
  ["connect and Whoami reports the transport", async (s) => {
    const c = await s.connect();
    assert.equal(c.state, signalR.HubConnectionState.Connected);
    const who = await within(c.invoke("Whoami"), "Whoami");
    assert.equal(who.transport, s.entry.expect, "Whoami.transport");
    assert.equal(typeof c.connectionId, "string", "connection.connectionId is set");
    assert.equal(who.connectionId, c.connectionId, "Whoami.connectionId equals connection.connectionId");
    assert.equal(who.userId, null, "Whoami.userId without a user");
  }],

  ["echo strings", async (s) => {
    const c = await s.connect();
    for (const v of [
      "hello",
      "",
      "unicode: héllo wörld — 你好 🎉",
      "quotes \" and \\ backslash, <tags> & amps",
      "control chars: \n newline \r cr \t tab \x1e rs \x00 nul \u2028 ls",
      "x".repeat(20000),
    ]) {
      assert.equal(await within(c.invoke("Echo", v), "Echo"), v, `Echo(${JSON.stringify(v).slice(0, 60)})`);
    }
  }],

  ["echo nested object", async (s) => {
    const c = await s.connect();
    const v = {
      a: 1,
      b: { c: [1, "two", { d: null, e: [true, false] }], f: { g: { h: "deep" } } },
      "key with spaces": -1.5,
      empty: {},
      emptyArr: [],
    };
    assert.deepEqual(await within(c.invoke("Echo", v), "Echo"), v);
  }],

  ["echo array", async (s) => {
    const c = await s.connect();
    const v = [1, "2", [3, [4]], { five: 5 }, null, false, 6.25];
    assert.deepEqual(await within(c.invoke("Echo", v), "Echo"), v);
    assert.deepEqual(await within(c.invoke("Echo", []), "Echo"), []);
  }],

  ["echo null", async (s) => {
    const c = await s.connect();
    assert.equal(await within(c.invoke("Echo", null), "Echo"), null);
  }],

  ["echo numbers (big integers within the JS safe range)", async (s) => {
    const c = await s.connect();
    for (const v of [
      0, -1, 1.5, 1e300, -2.5e-10,
      Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 52 + 1, 1234567890123456,
      true, false,
    ]) {
      assert.equal(await within(c.invoke("Echo", v), "Echo"), v, `Echo(${v})`);
    }
  }],

  ["echo bytes: Uint8Array under MessagePack, base64 under JSON", async (s) => {
    const c = await s.connect();
    const samples = [
      new Uint8Array(0),
      Uint8Array.from([0, 1, 2, 0x1e, 0x7b, 0x7f, 0x80, 0xc1, 0xff]),
      new Uint8Array(crypto.randomBytes(12000)), // twice in the nested echo below: within 32 KiB
    ];
    for (const bytes of samples) {
      const what = `${bytes.length} bytes`;
      if (!s.binary) {
        // JSON has no bytes: a []byte parameter or result is base64, as in ASP.NET Core.
        const b64 = Buffer.from(bytes).toString("base64");
        assert.equal(await within(c.invoke("EchoBytes", b64), `EchoBytes(${what})`), b64, `EchoBytes(${what})`);
        continue;
      }
      // Echo passes the value through; EchoBytes takes and returns a Go []byte.
      for (const method of ["Echo", "EchoBytes"]) {
        const got = await within(c.invoke(method, bytes), `${method}(${what})`);
        assert.ok(got instanceof Uint8Array, `${method}(${what}) returns a Uint8Array, got ${Object.prototype.toString.call(got)}`);
        assert.ok(Buffer.from(got).equals(Buffer.from(bytes)), `${method}(${what}) returns the same bytes`);
      }
      const nested = { name: "blob", data: bytes, list: [bytes, "text"] };
      assert.deepEqual(await within(c.invoke("Echo", nested), `Echo({data: ${what}})`), nested);
    }
    if (!s.binary) {
      await rejectsMatching(c.invoke("EchoBytes", "not base64!"), null, "EchoBytes('not base64!')");
    }
    assert.equal(await within(c.invoke("Echo", "still here"), "Echo after the bytes"), "still here");
  }],

  ["invoke with result: Add", async (s) => {
    const c = await s.connect();
    assert.equal(await within(c.invoke("Add", 2, 3), "Add(2,3)"), 5);
    assert.equal(await within(c.invoke("Add", -7, 3), "Add(-7,3)"), -4);
    assert.equal(await within(c.invoke("Add", 2 ** 52, 1), "Add(2^52,1)"), 2 ** 52 + 1);
    // Hub method names are case-insensitive.
    assert.equal(await within(c.invoke("add", 1, 1), "add(1,1)"), 2);
    assert.equal(await within(c.invoke("ADD", 1, 2), "ADD(1,2)"), 3);
  }],

  ["Fail rejects with the message", async (s) => {
    const c = await s.connect();
    await rejectsMatching(c.invoke("Fail", "boom"), /boom/, "Fail('boom')");
    // The connection survives a failed invocation.
    assert.equal(await within(c.invoke("Echo", "still here"), "Echo after Fail"), "still here");
  }],

  ["unknown method rejects", async (s) => {
    const c = await s.connect();
    await rejectsMatching(c.invoke("NoSuchMethodXyz", 1), /NoSuchMethodXyz/i, "invoke('NoSuchMethodXyz')");
    assert.equal(await within(c.invoke("Echo", "ok"), "Echo after unknown method"), "ok");
  }],

  ["Add with wrong argument count rejects", async (s) => {
    const c = await s.connect();
    await rejectsMatching(c.invoke("Add", 1), null, "Add(1)");
    await rejectsMatching(c.invoke("Add", 1, 2, 3), null, "Add(1,2,3)");
    await rejectsMatching(c.invoke("Add"), null, "Add()");
    assert.equal(await within(c.invoke("Add", 1, 2), "Add after bad calls"), 3);
  }],

  ["Add with wrong argument types rejects", async (s) => {
    const c = await s.connect();
    await rejectsMatching(c.invoke("Add", "x", 3), null, "Add('x',3)");
    await rejectsMatching(c.invoke("Add", { a: 1 }, 3), null, "Add({a:1},3)");
    await rejectsMatching(c.invoke("Add", [1], 3), null, "Add([1],3)");
    await rejectsMatching(c.invoke("Add", 1.5, 2), null, "Add(1.5,2)");
    assert.equal(await within(c.invoke("Add", 1, 2), "Add after bad calls"), 3);
  }],

  ["Add with a null argument rejects (null is not an integer)", async (s) => {
    const c = await s.connect();
    await rejectsMatching(c.invoke("Add", null, 2), null, "Add(null,2)");
    await rejectsMatching(c.invoke("Add", 2, null), null, "Add(2,null)");
  }],

  ["Broadcast reaches 4 connections (case-insensitive target)", async (s) => {
    const transports = s.entry.transport === undefined
      ? [HttpTransportType.WebSockets, HttpTransportType.ServerSentEvents, HttpTransportType.LongPolling, undefined]
      : [s.entry.transport, s.entry.transport, s.entry.transport, s.entry.transport];
    const conns = await Promise.all(transports.map((transport, i) => s.connect({ transport, label: `c${i + 1}` })));
    const id = uniq("evt").replace("-", "_");
    // Registered as "OnBroadcast_…", sent by the server as "onbROADCAST_…".
    const recs = conns.map((c) => s.record(c, `OnBroadcast_${id}`));
    const payload = { text: "hi all", n: 4, nested: [1, { x: null }] };
    await within(conns[2].invoke("Broadcast", `onbROADCAST_${id}`, payload), "Broadcast");
    await waitUntil(() => recs.every((r) => r.length >= 1), "all 4 connections to receive the broadcast");
    await Promise.all(conns.map((c) => s.barrier(c)));
    for (const [i, r] of recs.entries()) {
      assert.equal(r.length, 1, `connection ${i + 1} received the broadcast exactly once`);
      assert.deepEqual(r[0], [payload], `connection ${i + 1} payload`);
    }
  }],

  ["SendToCaller", async (s) => {
    const [a, b] = await Promise.all([s.connect(), s.connect()]);
    const ev = uniq("caller");
    const ra = s.record(a, ev);
    const rb = s.record(b, ev);
    await within(a.invoke("SendToCaller", ev, { to: "me" }), "SendToCaller");
    await waitUntil(() => ra.length === 1, "the caller to receive its message");
    assert.deepEqual(ra[0], [{ to: "me" }]);
    await s.barrier(b);
    assert.equal(rb.length, 0, "another connection must not receive SendToCaller");
  }],

  ["SendToOthers excludes the caller", async (s) => {
    const [a, b, c] = await Promise.all([s.connect(), s.connect(), s.connect()]);
    const ev = uniq("others");
    const [ra, rb, rc] = [a, b, c].map((x) => s.record(x, ev));
    await within(a.invoke("SendToOthers", ev, "psst"), "SendToOthers");
    await waitUntil(() => rb.length === 1 && rc.length === 1, "the two other connections to receive it");
    assert.deepEqual(rb[0], ["psst"]);
    assert.deepEqual(rc[0], ["psst"]);
    await s.barrier(a);
    assert.equal(ra.length, 0, "the caller must not receive SendToOthers");
  }],

  ["SendToConnection", async (s) => {
    const [a, b, c] = await Promise.all([s.connect(), s.connect(), s.connect()]);
    const ev = uniq("direct");
    const [ra, rb, rc] = [a, b, c].map((x) => s.record(x, ev));
    await within(a.invoke("SendToConnection", b.connectionId, ev, { for: "b" }), "SendToConnection");
    await waitUntil(() => rb.length === 1, "the target connection to receive it");
    assert.deepEqual(rb[0], [{ for: "b" }]);
    await Promise.all([s.barrier(a), s.barrier(c)]);
    assert.equal(ra.length, 0, "the sender must not receive it");
    assert.equal(rc.length, 0, "a bystander must not receive it");
  }],

  ["SendToUser (user query parameter and X-Hubbub-User header)", async (s) => {
    const userA = uniq("alice");
    const userB = uniq("bob");
    const [a1, a2, b] = await Promise.all([
      s.connect({ query: `user=${encodeURIComponent(userA)}`, label: "a1(query)" }),
      s.connect({ headers: { "X-Hubbub-User": userA }, label: "a2(header)" }),
      s.connect({ query: `user=${encodeURIComponent(userB)}`, label: "b" }),
    ]);
    const [w1, w2, wb] = await Promise.all([a1, a2, b].map((c) => within(c.invoke("Whoami"), "Whoami")));
    assert.equal(w1.userId, userA, "Whoami.userId from ?user=");
    assert.equal(w2.userId, userA, "Whoami.userId from X-Hubbub-User header");
    assert.equal(wb.userId, userB);
    const ev = uniq("user");
    const [r1, r2, rb] = [a1, a2, b].map((c) => s.record(c, ev));
    await within(b.invoke("SendToUser", userA, ev, "for alice"), "SendToUser");
    await waitUntil(() => r1.length === 1 && r2.length === 1, "both of the user's connections to receive it");
    assert.deepEqual(r1[0], ["for alice"]);
    assert.deepEqual(r2[0], ["for alice"]);
    await s.barrier(b);
    assert.equal(rb.length, 0, "a connection of another user must not receive it");
    // A user with no connections: not an error, nothing delivered.
    await within(b.invoke("SendToUser", uniq("nobody"), ev, "void"), "SendToUser to an unknown user");
  }],

  ["groups: JoinGroup, GroupMembers, SendToGroup, LeaveGroup", async (s) => {
    const [a, b, c] = await Promise.all([s.connect({ label: "a" }), s.connect({ label: "b" }), s.connect({ label: "c" })]);
    const g = uniq("group");
    const ev = uniq("grp");
    const [ra, rb, rc] = [a, b, c].map((x) => s.record(x, ev));
    assert.deepEqual(await within(c.invoke("GroupMembers", g), "GroupMembers"), [], "an empty group has no members ([])");
    await within(a.invoke("JoinGroup", g), "a JoinGroup");
    await within(b.invoke("JoinGroup", g), "b JoinGroup");
    await within(b.invoke("JoinGroup", g), "b JoinGroup again (idempotent)");
    assert.deepEqual(
      await within(c.invoke("GroupMembers", g), "GroupMembers"),
      [a.connectionId, b.connectionId].sort(),
      "GroupMembers is the sorted list of member connection ids",
    );
    await within(c.invoke("SendToGroup", g, ev, { n: 1 }), "SendToGroup #1");
    await waitUntil(() => ra.length === 1 && rb.length === 1, "both members to receive the group message");
    assert.deepEqual(ra[0], [{ n: 1 }]);
    assert.deepEqual(rb[0], [{ n: 1 }]);
    await s.barrier(c);
    assert.equal(rc.length, 0, "a non-member must not receive the group message");

    await within(a.invoke("LeaveGroup", g), "a LeaveGroup");
    assert.deepEqual(await within(c.invoke("GroupMembers", g), "GroupMembers"), [b.connectionId]);
    await within(c.invoke("SendToGroup", g, ev, { n: 2 }), "SendToGroup #2");
    await waitUntil(() => rb.length === 2, "the remaining member to receive the second message");
    assert.deepEqual(rb[1], [{ n: 2 }]);
    await s.barrier(a);
    assert.equal(ra.length, 1, "a connection that left must not receive later group messages");
    await within(b.invoke("LeaveGroup", g), "b LeaveGroup");
    assert.deepEqual(await within(c.invoke("GroupMembers", g), "GroupMembers"), []);
  }],

  ["server-to-client stream Counter(5, 10)", async (s) => {
    const c = await s.connect();
    const items = [];
    await within(new Promise((resolve, reject) => {
      c.stream("Counter", 5, 10).subscribe({ next: (v) => items.push(v), complete: resolve, error: reject });
    }), "the Counter stream to complete");
    assert.deepEqual(items, [0, 1, 2, 3, 4]);
    // Zero items completes at once.
    const none = [];
    await within(new Promise((resolve, reject) => {
      c.stream("Counter", 0, 10).subscribe({ next: (v) => none.push(v), complete: resolve, error: reject });
    }), "an empty Counter stream to complete");
    assert.deepEqual(none, []);
  }],

  ["stream cancelled by dispose() stops on the server", async (s) => {
    const c = await s.connect();
    const items = [];
    let ended = null;
    const delay = 200;
    await within(new Promise((resolve) => {
      const sub = c.stream("Counter", 1000, delay).subscribe({
        next: (v) => {
          items.push(v);
          if (items.length === 2) {
            sub.dispose(); // sends CancelInvocation
            resolve();
          }
        },
        complete: () => { ended = "complete"; },
        error: (e) => { ended = `error: ${e.message}`; },
      });
    }), "2 stream items");
    // The Echo is sent after the CancelInvocation, so once its result is back the server
    // has read the cancel. From then on (allowing one item already racing out), nothing
    // more of the stream may arrive, although several more periods pass.
    assert.equal(await within(c.invoke("Echo", "alive"), "Echo after cancel"), "alive");
    const mark = s.logs.length;
    await sleep(delay * 6);
    assert.deepEqual(items, [0, 1], "no items reach the subscriber after dispose()");
    assert.equal(ended, null, "neither complete nor error after dispose()");
    const late = s.received(c, mark).filter((r) => r.msg.type === 2);
    assert.ok(late.length <= 1,
      `the server kept streaming after CancelInvocation: ${late.length} StreamItem records on the wire ` +
      `after the cancel was acknowledged: ${JSON.stringify(late.map((r) => r.msg))}`);
    assert.equal(await within(c.invoke("Echo", "still alive"), "Echo after the wait"), "still alive");
    const again = [];
    await within(new Promise((resolve, reject) => {
      c.stream("Counter", 3, 0).subscribe({ next: (v) => again.push(v), complete: resolve, error: reject });
    }), "a new stream after the cancelled one");
    assert.deepEqual(again, [0, 1, 2]);
  }],

  ["client-to-server stream Sum", async (s) => {
    const c = await s.connect();
    const subject = new signalR.Subject();
    const result = c.invoke("Sum", subject);
    subject.next(1);
    subject.next(2);
    subject.next(3.5);
    subject.complete();
    assert.equal(await within(result, "Sum result"), 6.5);
    // An empty stream sums to 0.
    const empty = new signalR.Subject();
    const r0 = c.invoke("Sum", empty);
    empty.complete();
    assert.equal(await within(r0, "Sum of nothing"), 0);
  }],

  ["client results: InvokeCaller gets the client's answer, error or lack of handler", async (s) => {
    const c = s.build();
    const asked = [];
    c.on("GetAnswer", (q) => { asked.push(q); return { answer: q + 1 }; });
    c.on("GetAnswerLater", async (q) => { await sleep(20); return q * 2; });
    c.on("Refuse", () => { throw new Error("no answer for you"); });
    c.on("Reverse", (bytes) => Uint8Array.from(bytes).reverse());
    await within(c.start(), "start()");
    // The server invokes the caller's handler (case-insensitively) and returns its result.
    assert.deepEqual(await within(c.invoke("InvokeCaller", "getanswer", 41), "InvokeCaller(getanswer, 41)"), { answer: 42 });
    assert.deepEqual(asked, [41]);
    assert.equal(await within(c.invoke("InvokeCaller", "GetAnswerLater", 21), "InvokeCaller(GetAnswerLater)"), 42);
    await rejectsMatching(c.invoke("InvokeCaller", "Refuse", null), /no answer for you/, "InvokeCaller(Refuse)");
    await rejectsMatching(c.invoke("InvokeCaller", "NoSuchHandler", null), /didn't provide a result/i, "InvokeCaller(NoSuchHandler)");
    if (s.binary) {
      const got = await within(c.invoke("InvokeCaller", "Reverse", Uint8Array.from([1, 2, 3])), "InvokeCaller(Reverse, bytes)");
      assert.ok(got instanceof Uint8Array, `a client result of bytes arrives as a Uint8Array, got ${Object.prototype.toString.call(got)}`);
      assert.deepEqual([...got], [3, 2, 1]);
    }
    // Several at once, each with its own answer.
    const many = await within(
      Promise.all(Array.from({ length: 10 }, (_, i) => c.invoke("InvokeCaller", "GetAnswer", i))),
      "10 concurrent InvokeCaller",
    );
    assert.deepEqual(many, Array.from({ length: 10 }, (_, i) => ({ answer: i + 1 })));
  }],

  ["Disconnect(false) closes without reconnecting", async (s) => {
    const c = s.build({ reconnect: [0] });
    let reconnecting = 0;
    c.onreconnecting(() => { reconnecting++; });
    const closed = new Promise((resolve) => c.onclose((err) => resolve({ err, reconnecting })));
    await within(c.start(), "start()");
    await within(c.invoke("Disconnect", false), "Disconnect(false) completion");
    const r = await within(closed, "onclose after Disconnect(false)");
    assert.equal(r.reconnecting, 0, "onreconnecting must not fire for a Close without allowReconnect");
    assert.equal(c.state, signalR.HubConnectionState.Disconnected);
  }],

  ["Disconnect(true) reconnects with a new connection id", async (s) => {
    const c = s.build({ reconnect: [0] });
    const events = [];
    c.onreconnecting((err) => events.push(`reconnecting(${err ? err.message : ""})`));
    c.onclose((err) => events.push(`close(${err ? err.message : ""})`));
    const reconnected = new Promise((resolve) => c.onreconnected((id) => { events.push("reconnected"); resolve(id); }));
    await within(c.start(), "start()");
    const oldId = c.connectionId;
    await within(c.invoke("Disconnect", true), "Disconnect(true) completion");
    const newId = await within(reconnected, "onreconnected after Disconnect(true)");
    assert.equal(events.length, 2, `events: ${events.join(", ")}`);
    assert.match(events[0], /^reconnecting/, `events: ${events.join(", ")}`);
    assert.equal(events[1], "reconnected");
    assert.equal(typeof newId, "string");
    assert.notEqual(newId, oldId, "a reconnect is a new connection with a new id");
    assert.equal(c.connectionId, newId);
    const who = await within(c.invoke("Whoami"), "Whoami after reconnect");
    assert.equal(who.connectionId, newId);
    assert.equal(who.transport, s.entry.expect);
  }],

  ["stop() is clean and the server forgets the connection", async (s) => {
    const [c, observer] = await Promise.all([s.connect({ label: "stopper" }), s.connect({ label: "observer" })]);
    const g = uniq("stopgroup");
    await within(c.invoke("JoinGroup", g), "JoinGroup");
    assert.deepEqual(await within(observer.invoke("GroupMembers", g), "GroupMembers"), [c.connectionId]);
    const closed = new Promise((resolve) => c.onclose((err) => resolve(err)));
    await within(c.stop(), "stop()");
    assert.equal(c.state, "Disconnected");
    assert.equal(await within(closed, "onclose after stop()"), undefined, "onclose after stop() carries no error");
    await waitUntil(
      async () => (await observer.invoke("GroupMembers", g)).length === 0,
      "the server to drop the stopped connection from its group",
    );
  }],

  ["ordering: 200 fire-and-forget sends arrive in order, before a later invoke's result", async (s) => {
    const c = await s.connect();
    const ev = uniq("order");
    const got = s.record(c, ev);
    const n = 200;
    const sends = [];
    for (let i = 0; i < n; i++) sends.push(c.send("SendToCaller", ev, i));
    await within(Promise.all(sends), "200 send() calls");
    assert.equal(await within(c.invoke("Echo", "after"), "Echo after the sends"), "after");
    // One client's messages are handled in order and its outbound queue is ordered, so
    // every SendToCaller result precedes the Echo completion.
    assert.equal(got.length, n, "all 200 messages arrived before the later invocation's result");
    assert.deepEqual(got.map((a) => a[0]), Array.from({ length: n }, (_, i) => i), "in order");
  }],

  ["50 concurrent invocations resolve with their own results", async (s) => {
    const c = await s.connect();
    const results = await within(
      Promise.all(Array.from({ length: 50 }, (_, i) => c.invoke(i % 2 ? "Add" : "Echo", ...(i % 2 ? [i, 1000] : [`v${i}`])))),
      "50 concurrent invocations",
    );
    assert.deepEqual(results, Array.from({ length: 50 }, (_, i) => (i % 2 ? i + 1000 : `v${i}`)));
  }],

  ["withStatefulReconnect() connects and works", async (s) => {
    const c = await s.connect({ statefulReconnect: true });
    const who = await within(c.invoke("Whoami"), "Whoami");
    assert.equal(who.transport, s.entry.expect);
    assert.equal(who.connectionId, c.connectionId);
    assert.equal(await within(c.invoke("Echo", "stateful"), "Echo"), "stateful");
    const ev = uniq("st");
    const got = s.record(c, ev);
    await within(c.invoke("SendToCaller", ev, 1), "SendToCaller");
    await waitUntil(() => got.length === 1, "SendToCaller message");
  }],

  ["hub URL with a trailing slash", async (s) => {
    const c = await s.connect({ path: "/hubs/conformance/" });
    const who = await within(c.invoke("Whoami"), "Whoami");
    assert.equal(who.transport, s.entry.expect);
    assert.equal(who.connectionId, c.connectionId);
    assert.equal(await within(c.invoke("Add", 20, 22), "Add"), 42);
  }],

  ["skipNegotiation connects straight over WebSockets", async (s) => {
    const c = await s.connect({ skipNegotiation: true, transport: HttpTransportType.WebSockets });
    assert.equal(c.connectionId, null, "the client has no connection id without negotiate");
    const who = await within(c.invoke("Whoami"), "Whoami");
    assert.equal(who.transport, "WebSockets");
    assert.equal(typeof who.connectionId, "string");
    assert.ok(who.connectionId.length > 0, "the server still assigns a connection id");
    assert.equal(await within(c.invoke("Echo", "no negotiate"), "Echo"), "no negotiate");
  }, { transports: ["WebSockets"] }],

  ["unknown hub path rejects start()", async (s) => {
    const c = s.build({ path: "/hubs/does-not-exist" });
    await rejectsMatching(c.start(), /404/, "start() on /hubs/does-not-exist");
    assert.equal(c.state, "Disconnected");
  }],

  ["/hubs/secure: a valid token connects as its sub", async (s, t) => {
    if (!(await secureAvailable(s, t))) return;
    if (!s.server.jwtSecret) {
      t.skip("the JWT secret of the server under test is unknown (set HUBBUB_JWT_SECRET with HUBBUB_URL)");
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const user = uniq("jwtuser");
    const other = uniq("jwtother");
    const tokenFor = (sub) => signJwt({ sub, iat: now, exp: now + 3600 }, s.server.jwtSecret);
    const [a, b] = await Promise.all([
      s.connect({ path: "/hubs/secure", accessTokenFactory: () => tokenFor(user), label: "a" }),
      s.connect({ path: "/hubs/secure", accessTokenFactory: () => tokenFor(other), label: "b" }),
    ]);
    const who = await within(a.invoke("Whoami"), "Whoami");
    assert.equal(who.userId, user, "Whoami.userId is the token's sub");
    assert.equal(who.transport, s.entry.expect);
    assert.equal(who.connectionId, a.connectionId);
    const ev = uniq("secure");
    const [ra, rb] = [a, b].map((c) => s.record(c, ev));
    await within(b.invoke("SendToUser", user, ev, "hello jwt user"), "SendToUser on /hubs/secure");
    await waitUntil(() => ra.length === 1, "the JWT user to receive SendToUser");
    assert.deepEqual(ra[0], ["hello jwt user"]);
    await s.barrier(b);
    assert.equal(rb.length, 0);
  }],

  ["/hubs/secure: missing or bad tokens reject start() with 401", async (s, t) => {
    if (!(await secureAvailable(s, t))) return;
    const now = Math.floor(Date.now() / 1000);
    const secret = s.server.jwtSecret || "unknown-secret";
    const cases = [
      ["no token", undefined],
      ["garbage token", () => "not-a-jwt"],
      ["token signed with another secret", () => signJwt({ sub: "mallory", exp: now + 3600 }, "wrong-" + secret)],
      ["alg=none token", () => signJwt({ sub: "mallory", exp: now + 3600 }, secret, { alg: "none", typ: "JWT" }).replace(/[^.]*$/, "")],
    ];
    if (s.server.jwtSecret) {
      cases.push(["expired token", () => signJwt({ sub: "late", iat: now - 7200, exp: now - 3600 }, secret)]);
    }
    for (const [what, factory] of cases) {
      const c = s.build({ path: "/hubs/secure", accessTokenFactory: factory, label: what.replace(/\s+/g, "_") });
      const err = await rejectsMatching(c.start(), /401/, `start() on /hubs/secure with ${what}`);
      assert.equal(c.state, "Disconnected");
      void err;
    }
  }],
];

let secureProbe = null;
/** Skips the test (and returns false) when the server does not serve /hubs/secure. */
async function secureAvailable(s, t) {
  if (!secureProbe) {
    secureProbe = fetch(`${s.server.url}/hubs/secure/negotiate?negotiateVersion=1`, { method: "POST" })
      .then(async (r) => { await r.arrayBuffer(); return r.status; });
  }
  const status = await secureProbe;
  if (status === 404) {
    t.skip("the server has no /hubs/secure (negotiate answered 404)");
    return false;
  }
  return true;
}

// Tests of one file run this many at a time (the files themselves run in parallel).
// Unlimited concurrency is faster on an idle machine but times out on a loaded one.
const CONCURRENCY = Number(process.env.OFFICIAL_CONCURRENCY) || 4;

/**
 * Generates the tests for one transport row with one protocol (JSON by default), run
 * concurrently with each other. A scenario's `transports` option lists the transport
 * rows it runs on.
 */
function defineTransportSuite(transportRow, protocol = JSON_PROTOCOL) {
  const entry = withProtocol(transportRow, protocol);
  const getServer = useServer();
  describe(entry.label, { concurrency: CONCURRENCY }, () => {
    for (const [name, fn, opts = {}] of SCENARIOS) {
      const { transports, ...testOpts } = opts;
      if (transports && !transports.includes(entry.name)) continue;
      test(`${entry.label}: ${name}`, { timeout: TEST_TIMEOUT_MS, ...testOpts }, scenario(getServer, entry, fn));
    }
  });
}

module.exports = { SCENARIOS, defineTransportSuite };
