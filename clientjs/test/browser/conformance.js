// Runs in the test page, on the global Hubbub from /hubbub.js. The browser
// tests call these through page.evaluate; each returns plain data.
/* global Hubbub */
(() => {
  const HUB = '/hubs/conformance';
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  async function until(what, fn, ms = 10000) {
    const end = Date.now() + ms;
    while (!fn()) {
      if (Date.now() > end) throw new Error('timed out waiting for ' + what);
      await sleep(10);
    }
  }
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  /**
   * Connects and measures the time to the first message: from connect() to the
   * result of the first invoke. Keeps the connection in window.hub.
   */
  window.firstMessage = async (options) => {
    const t0 = performance.now();
    const hub = Hubbub.connect(HUB, options);
    window.hub = hub;
    const events = [];
    window.hubEvents = events;
    hub.onconnected(() => events.push(['connected', hub.transport, Math.round(performance.now() - t0)]));
    hub.onreconnecting((e) => events.push(['reconnecting', e ? e.message : '', Math.round(performance.now() - t0)]));
    hub.onreconnected(() => events.push(['reconnected', hub.transport, Math.round(performance.now() - t0)]));
    hub.onclose((e) => events.push(['close', e ? e.message : '', Math.round(performance.now() - t0)]));
    const echoed = await hub.invoke('Echo', 'first');
    if (echoed !== 'first') throw new Error('Echo returned ' + JSON.stringify(echoed));
    return { ms: Math.round(performance.now() - t0), transport: hub.transport };
  };

  /**
   * Through the link cutter: a sender streams `count` numbered messages to a
   * group every `gapMs`; the receiver must get each exactly once, in order, on
   * the same connection and still in the group. Both are cut at random while
   * the stream runs (the cutter is paused while they connect and at the end).
   */
  window.cutStream = async (options, count, gapMs) => {
    // {msgpack: true}: the MessagePack protocol (a protocol object cannot cross page.evaluate).
    if (options.msgpack) options = { ...options, msgpack: undefined, protocol: HubbubMsgPack.protocol() };
    const rx = Hubbub.connect(HUB, options);
    const tx = Hubbub.connect(HUB, options);
    const got = [];
    const reconnects = [];
    rx.on('seq', (i) => got.push(i));
    for (const h of [rx, tx]) h.onreconnected((id, how) => reconnects.push([h === rx ? 'rx' : 'tx', id, how.resumed]));
    const t0 = performance.now();
    try {
      await rx.start();
      await tx.start();
      const id = rx.connectionId;
      const group = 'cut-' + Math.random().toString(36).slice(2);
      await rx.invoke('JoinGroup', group);
      await fetch('/__linkcut/resume', { method: 'POST' });
      for (let i = 0; i < count; i++) {
        await tx.send('SendToGroup', group, 'seq', i);
        if (gapMs) await sleep(gapMs);
      }
      await until('all messages', () => got.length >= count, 120000);
      await fetch('/__linkcut/pause', { method: 'POST' });
      await sleep(500); // a duplicate would come right after
      const members = await rx.invoke('GroupMembers', group);
      const lost = count - new Set(got).size;
      const duplicated = got.length - new Set(got).size;
      const reordered = got.filter((v, i) => i && v < got[i - 1]).length;
      return {
        transport: rx.transport, lost, duplicated, reordered, sameId: rx.connectionId === id,
        inGroup: members.includes(rx.connectionId), reconnects, ms: Math.round(performance.now() - t0),
      };
    } finally {
      await rx.stop();
      await tx.stop();
    }
  };

  /** Waits until window.hub has been on one transport, connected, for `quietMs`. */
  window.settle = async (quietMs, maxMs) => {
    const t0 = performance.now();
    let since = performance.now();
    let last = '';
    for (;;) {
      const now = window.hub.state + ' ' + window.hub.transport + ' ' + window.hubEvents.length;
      if (now !== last) { last = now; since = performance.now(); }
      if (window.hub.state === 'connected' && performance.now() - since >= quietMs) {
        return { transport: window.hub.transport, ms: Math.round(performance.now() - t0), events: window.hubEvents };
      }
      if (performance.now() - t0 > maxMs) throw new Error('never settled: ' + JSON.stringify(window.hubEvents));
      await sleep(50);
    }
  };

  /**
   * The conformance scenarios on window.hub plus a second connection with the
   * same options: invoke, errors, events, groups, streams both ways, and
   * reconnect after the server drops the connection. Returns the passed checks;
   * throws on the first failure.
   */
  window.conformance = async (options) => {
    const hub = window.hub;
    const other = Hubbub.connect(HUB, options);
    const passed = [];
    const check = (name, ok, detail) => {
      if (!ok) throw new Error(`check failed: ${name} ${detail === undefined ? '' : JSON.stringify(detail)}`);
      passed.push(name);
    };
    const got = { mine: [], other: [] };
    hub.on('news', (p) => got.mine.push(p));
    other.on('news', (p) => got.other.push(p));
    try {
      await other.start();

      // invoke
      const value = { s: 'x\ny "q" ☃', n: [1, 2.5, null], b: true };
      check('echo', same(await hub.invoke('Echo', value), value));
      check('add', (await hub.invoke('Add', 40, 2)) === 42);
      let failed = '';
      try { await hub.invoke('Fail', 'on purpose'); } catch (e) { failed = e.message; }
      check('fail', failed.includes('on purpose'), failed);
      const me = await hub.invoke('Whoami');
      check('whoami', me.connectionId === hub.connectionId && me.transport === hub.transport, me);
      check('timeout option', (await hub.timeout(10000).invoke('Echo', 1)) === 1);

      // events
      await hub.send('SendToCaller', 'news', 'to-caller');
      await until('SendToCaller', () => got.mine.includes('to-caller'));
      await hub.invoke('Broadcast', 'news', 'to-all');
      await until('Broadcast', () => got.mine.includes('to-all') && got.other.includes('to-all'));
      await hub.invoke('SendToOthers', 'news', 'to-others');
      await until('SendToOthers', () => got.other.includes('to-others'));
      await hub.invoke('SendToConnection', other.connectionId, 'news', 'to-connection');
      await until('SendToConnection', () => got.other.includes('to-connection'));
      await hub.invoke('SendToCaller', 'news', 'marker-1');
      await until('marker', () => got.mine.includes('marker-1'));
      check('events', !got.mine.includes('to-others') && !got.mine.includes('to-connection'), got);

      // groups
      const group = 'g-' + Math.random().toString(36).slice(2);
      await hub.invoke('JoinGroup', group);
      await other.invoke('JoinGroup', group);
      const members = await hub.invoke('GroupMembers', group);
      check('group members', same(members, [hub.connectionId, other.connectionId].sort()), members);
      await other.invoke('SendToGroup', group, 'news', 'to-group-1');
      await until('SendToGroup', () => got.mine.includes('to-group-1') && got.other.includes('to-group-1'));
      await hub.invoke('LeaveGroup', group);
      await other.invoke('SendToGroup', group, 'news', 'to-group-2');
      await until('SendToGroup after leave', () => got.other.includes('to-group-2'));
      await hub.invoke('SendToCaller', 'news', 'marker-2');
      await until('marker', () => got.mine.includes('marker-2'));
      check('groups', !got.mine.includes('to-group-2'), got.mine);

      // server-to-client stream, whole and cancelled
      const items = [];
      for await (const i of hub.stream('Counter', 5, 10)) items.push(i);
      check('stream', same(items, [0, 1, 2, 3, 4]), items);
      const early = [];
      const s = hub.stream('Counter', 1000, 20);
      for await (const i of s) {
        early.push(i);
        if (early.length === 3) break;
      }
      check('stream cancel', same(early, [0, 1, 2]), early);
      check('connection fine after cancel', (await hub.invoke('Echo', 'after')) === 'after');

      // client-to-server stream
      async function* numbers() { for (let i = 1; i <= 20; i++) { yield i; if (i % 5 === 0) await sleep(5); } }
      check('client stream', (await hub.invoke('Sum', numbers())) === 210);

      // reconnect after the server drops the connection
      const before = hub.connectionId;
      const transport = hub.transport;
      const reconnected = new Promise((r) => { const off = hub.onreconnected((id) => { off(); r(id); }); });
      await hub.send('Disconnect', true);
      const id = await Promise.race([reconnected, sleep(15000).then(() => null)]);
      check('reconnected', id && id !== before && hub.connectionId === id, { id, before });
      check('reconnect kept the transport', hub.transport === transport, [hub.transport, transport]);
      check('works after reconnect', (await hub.invoke('Echo', 'again')) === 'again');
      await hub.send('SendToCaller', 'news', 'after-reconnect');
      await until('event after reconnect', () => got.mine.includes('after-reconnect'));
      return { passed, transport: hub.transport };
    } finally {
      await other.stop();
    }
  };

  /**
   * MessagePack (the global HubbubMsgPack from /hubbub-msgpack.js) on the given
   * transports, beside a JSON connection: echo, Uint8Array echo, streams both
   * ways, a client result, and broadcasts that reach both. Returns the passed
   * checks and the transports used; throws on the first failure.
   */
  window.messagePack = async (options) => {
    const mp = Hubbub.connect(HUB, { ...options, protocol: HubbubMsgPack.protocol() });
    const js = Hubbub.connect(HUB, options);
    const passed = [];
    const check = (name, ok, detail) => {
      if (!ok) throw new Error(`check failed: ${name} ${detail === undefined ? '' : JSON.stringify(detail)}`);
      passed.push(name);
    };
    const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    try {
      await mp.start();
      await js.start();
      const value = { s: 'x\ny "q" ☃', n: [1, 2.5, null, -7], b: true };
      check('echo', same(await mp.invoke('Echo', value), value));
      const bytes = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7) % 256);
      const echoed = await mp.invoke('Echo', bytes);
      check('Uint8Array echo', echoed instanceof Uint8Array && hex(echoed) === hex(bytes), echoed && echoed.constructor.name);
      check('add', (await mp.invoke('Add', 40, 2)) === 42);
      let failed = '';
      try { await mp.invoke('Fail', 'on purpose'); } catch (e) { failed = e.message; }
      check('fail', failed.includes('on purpose'), failed);
      const me = await mp.invoke('Whoami');
      check('whoami', me.connectionId === mp.connectionId, me);

      const items = [];
      for await (const i of mp.stream('Counter', 5, 10)) items.push(i);
      check('stream', same(items, [0, 1, 2, 3, 4]), items);
      async function* numbers() { for (let i = 1; i <= 20; i++) { yield i; if (i % 5 === 0) await sleep(5); } }
      check('client stream', (await mp.invoke('Sum', numbers())) === 210);

      // A client result, where the hub has a method that asks the caller for one.
      mp.on('double', (x) => x * 2);
      let result;
      try { result = await mp.invoke('InvokeCaller', 'double', 21); } catch (e) { result = e.message; }
      if (typeof result !== 'string' || !/does not exist|unknown|not found/i.test(result)) check('client result', result === 42, result);

      const got = { mp: [], js: [] };
      mp.on('news', (p) => got.mp.push(p));
      js.on('news', (p) => got.js.push(p));
      await js.invoke('Broadcast', 'news', 'from-json');
      await mp.invoke('Broadcast', 'news', 'from-msgpack');
      await mp.invoke('Broadcast', 'news', new Uint8Array([1, 2, 3]));
      await until('broadcasts', () => got.mp.length === 3 && got.js.length === 3);
      check('broadcast to both', same(got.mp.slice(0, 2), ['from-json', 'from-msgpack']) && same(got.js.slice(0, 2), ['from-json', 'from-msgpack']), got);
      check('bytes broadcast: Uint8Array to MessagePack, base64 to JSON', got.mp[2] instanceof Uint8Array && hex(got.mp[2]) === '010203' && got.js[2] === 'AQID', [String(got.mp[2]), got.js[2]]);
      return { passed, transport: mp.transport, jsonTransport: js.transport };
    } finally {
      await mp.stop();
      await js.stop();
    }
  };
})();
