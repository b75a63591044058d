// Stateful reconnect (docs/reconnect.md) against the fake server: negotiation,
// numbering and acks both ways, the bounded send buffer, duplicate drop, and
// resuming a cut link on the same connection on every transport.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { HubConnection } from '../../src/index.js';
import { startFakeServer } from '../fake-server.js';

const TRANSPORTS = ['WebSockets', 'ServerSentEvents', 'LongPolling'];

async function until(fn, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A server and a started client on one transport; events and 'news' payloads recorded. */
async function setup(transport, serverOptions = {}, options = {}) {
  const server = await startFakeServer({ stateful: true, pollHold: 300, ...serverOptions });
  const hub = new HubConnection(server.url, { WebSocket, transports: [transport], storage: null, reconnect: { delay: 50 }, ...options });
  const events = [];
  const got = [];
  hub.onreconnecting((e) => events.push('reconnecting'));
  hub.onreconnected((id, how) => events.push(['reconnected', id, how]));
  hub.onclose(() => events.push('close'));
  hub.on('news', (p) => got.push(p));
  await hub.start();
  const c = server.conn(hub.connectionId);
  const negotiations = () => server.log.filter((l) => l.includes('/negotiate')).length;
  return { server, hub, events, got, c, negotiations, close: async () => { await hub.stop(); await server.close(); } };
}

for (const transport of TRANSPORTS) {
  test(`stateful over ${transport}: asked for, handshake version 2, messages numbered and acked both ways`, async () => {
    const { server, hub, c, close } = await setup(transport);
    try {
      assert.ok(server.log[0].includes('useStatefulReconnect=true'), server.log[0]);
      assert.equal(c.version, 2);
      assert.equal(c.stateful, true);
      for (let i = 0; i < 5; i++) assert.equal(await hub.invoke('Echo', i), i);
      await hub.send('SendToCaller', 'news', 'x');
      await until(() => c.inMax === 6, 5000, 'the server counts six trackable messages from the client');
      await until(() => c.acks.at(-1) === c.out, 5000, 'the client acks all the server sent');
      assert.equal(c.out, 6);
      assert.equal(c.dups, 0);
    } finally {
      await close();
    }
  });

  test(`stateful over ${transport}: a cut link is resumed on the same connection, nothing lost or doubled`, async () => {
    const { server, hub, c, events, got, negotiations, close } = await setup(transport);
    try {
      const id = hub.connectionId;
      await hub.invoke('JoinGroup', 'g');
      server.push(c, 'news', 1);
      await until(() => got.length === 1, 5000, 'first message');
      for (let cut = 0; cut < 3; cut++) {
        server.cut(c);
        server.push(c, 'news', `while cut ${cut}`);
        const echoed = hub.invoke('Echo', cut);       // held, then replayed
        await hub.send('SendToGroup', 'g', 'news', `group ${cut}`);
        assert.equal(await echoed, cut);
        await until(() => got.length === 1 + 2 * (cut + 1), 5000, 'messages after cut ' + cut);
      }
      assert.deepEqual(got, [1, 'while cut 0', 'group 0', 'while cut 1', 'group 1', 'while cut 2', 'group 2']);
      assert.equal(hub.connectionId, id);
      assert.equal(negotiations(), 1, 'no new negotiate');
      assert.equal(c.resumes, 3);
      assert.deepEqual(events, ['reconnecting', ['reconnected', id, { resumed: true }]].flatMap((e) => [e]).concat(
        ['reconnecting', ['reconnected', id, { resumed: true }], 'reconnecting', ['reconnected', id, { resumed: true }]]));
      if (transport === 'LongPolling') assert.ok(server.log.some((l) => l.includes('resume=1')), 'a poll carried resume=1');
      assert.deepEqual(await hub.invoke('GroupMembers', 'g'), [id]);
    } finally {
      await close();
    }
  });

  test(`stateful over ${transport}: messages replayed that the client has are dropped; nothing before the Sequence is used`, async () => {
    const { server, hub, c, got, close } = await setup(transport, { ignoreAcks: true, staleBeforeSequence: true });
    try {
      let stale = 0;
      hub.on('stale', () => stale++);
      for (let i = 1; i <= 3; i++) server.push(c, 'news', i);
      await until(() => got.length === 3, 5000, 'three messages');
      server.cut(c);
      server.push(c, 'news', 4);
      await until(() => got.length >= 4, 5000, 'the fourth message');
      assert.equal(await hub.invoke('Echo', 'after'), 'after');
      assert.deepEqual(got, [1, 2, 3, 4]);
      assert.equal(stale, 0);
      assert.equal(c.resumes, 1);
    } finally {
      await close();
    }
  });

  test(`stateful over ${transport}: a resume the server refuses (404) starts a new connection and says state was lost`, async () => {
    const { server, hub, c, events, close } = await setup(transport);
    try {
      const id = hub.connectionId;
      server.forget(c);
      server.cut(c);
      await until(() => events.length === 2, 5000, 'reconnected');
      assert.notEqual(hub.connectionId, id);
      assert.deepEqual(events, ['reconnecting', ['reconnected', hub.connectionId, { resumed: false }]]);
      assert.equal(await hub.invoke('Echo', 1), 1);
    } finally {
      await close();
    }
  });
}

test('stateful long polling: a poll answered 504 is followed by a poll with resume=1 on the same connection', async () => {
  const { server, hub, c, got, negotiations, close } = await setup('LongPolling');
  try {
    await server.fail((m, u) => m === 'GET' && u.searchParams.has('_'), 504);
    server.push(c, 'news', 1);
    await until(() => got.length === 1, 5000, 'message after the 504');
    assert.ok(server.log.some((l) => l.includes('resume=1')));
    assert.equal(await hub.invoke('Echo', 2), 2);
    assert.equal(negotiations(), 1);
  } finally {
    await close();
  }
});

test('stateful long polling: the polls of each resumed link carry its number (&link=N), which grows', async () => {
  const { server, hub, c, got, close } = await setup('LongPolling');
  try {
    for (let cut = 0; cut < 2; cut++) {
      server.cut(c);
      server.push(c, 'news', cut);
      await until(() => got.length === cut + 1, 5000, 'message after cut ' + cut);
    }
    assert.equal(await hub.invoke('Echo', 1), 1);
    const polls = server.log.filter((l) => l.startsWith('GET ') && l.includes('_=')).map((l) => new URL(l.slice(4), server.url).searchParams);
    const links = polls.map((q) => Number(q.get('link') ?? 0));
    assert.equal(links[0], 0, 'the first link numbers nothing');
    const resumed = polls.flatMap((q, i) => (q.has('resume') ? [links[i]] : []));
    assert.equal(resumed.length, 2, 'two resume polls');
    assert.ok(resumed[0] > 0 && resumed[1] > resumed[0], `resume links ${resumed}`);
    assert.deepEqual(links.toSorted((a, b) => a - b), links, `poll links ${links}: a poll of an older link after a newer one`);
    assert.equal(links.at(-1), resumed[1], 'the last polls are the last link\'s');
  } finally {
    await close();
  }
});

test('statefulReconnect: false asks for nothing and shakes hands with version 1', async () => {
  const { server, c, close } = await setup('WebSockets', {}, { statefulReconnect: false });
  try {
    assert.ok(!server.log[0].includes('useStatefulReconnect'), server.log[0]);
    assert.equal(c.version, 1);
    assert.equal(c.stateful, false);
  } finally {
    await close();
  }
});

test('stateful: the send buffer is bounded; sends past it wait for an ack', async () => {
  const { server, hub, c, close } = await setup('WebSockets', { noAck: true }, { statefulReconnectBufferSize: 600 });
  try {
    let sent = 0;
    const sends = Array.from({ length: 20 }, (_, i) => hub.send('Echo', 'x'.repeat(100) + i).then(() => sent++));
    await until(() => c.inMax >= 4, 5000, 'the first sends');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(c.inMax <= 6, `the server got ${c.inMax} messages past a full buffer`);
    assert.ok(sent <= 6, `${sent} sends resolved`);
    server.o.noAck = false;
    server.ack(c);
    await Promise.all(sends);
    await until(() => c.inMax === 20, 5000, 'all twenty');
  } finally {
    await close();
  }
});

test('stateful: the client acks at once after 32 KiB, not only on its timer', async () => {
  const { server, c, got, close } = await setup('WebSockets');
  try {
    for (let i = 0; i < 100; i++) server.push(c, 'news', 'y'.repeat(1024));
    await until(() => got.length === 100, 5000, 'all messages');
    await until(() => c.acks.at(-1) === 100, 5000, 'the last ack');
    assert.ok(c.acks.length >= 3, `acks: ${c.acks}`);
  } finally {
    await close();
  }
});
