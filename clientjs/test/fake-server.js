// A small SignalR server in Node for the client's unit tests: negotiate, the
// three transports and a few conformance-hub methods. It lets the Node tests
// run without the Go server, and can misbehave on purpose (drop WebSocket
// frames, hold polls briefly). It speaks JSON, and MessagePack (with the
// client's own codec) on WebSockets and long polling.
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { json } from '../src/protocol.js';
import { protocol as messagePack } from '../src/msgpack.js';

const RS = '\x1e';
const ALL = ['WebSockets', 'ServerSentEvents', 'LongPolling'];
/** A MessagePack Close message as the client writes it: [7, nil]. */
const MSGPACK_CLOSE = Buffer.from([0x03, 0x92, 0x07, 0xc0]);

/**
 * @param {object} [o]
 * @param {string[]} [o.transports] what negotiate offers
 * @param {boolean} [o.dropWebSocketFrames] accept the upgrade, then ignore every frame
 * @param {number} [o.pollHold] ms a poll is held without data (default 1000)
 * @param {string} [o.token] if set, negotiate and transports need this bearer token
 * @param {boolean} [o.stateful] accept stateful reconnect (docs/reconnect.md) when the client asks
 * @param {boolean} [o.noAck] (changeable later through server.o) do not ack what the client sends
 * @param {boolean} [o.ignoreAcks] keep every message sent, whatever the client acks
 * @param {boolean} [o.staleBeforeSequence] on a resume, send an Invocation of "stale" before the Sequence
 * @param {boolean} [o.binarySSE] offer the Binary transfer format on SSE too (no server should)
 */
export async function startFakeServer(o = {}) {
  const conns = new Map();
  const groups = {};
  const log = [];
  let next = 0;
  /** Faults to inject, each used once: [predicate(method, url), status or 0 for a reset]. */
  const faults = [];
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    // SSE streams as "SSE …", other requests by their method.
    log.push(`${(req.headers.accept || '').includes('text/event-stream') ? 'SSE' : req.method} ${url.pathname}${url.search}`);
    const fault = faults.findIndex(([match]) => match(req.method, url));
    if (fault >= 0) {
      const [[, status, used]] = faults.splice(fault, 1);
      used();
      return status ? res.writeHead(status).end('injected') : req.socket.destroy();
    }
    const token = (req.headers.authorization || '').replace(/^Bearer /, '') || url.searchParams.get('access_token');
    if (o.token && token !== o.token) return res.writeHead(401).end('bad token');
    if (url.pathname.endsWith('/negotiate')) {
      const c = {
        id: 'c' + next, token: 't' + next++, queue: [], closed: false, invocations: new Map(), uploads: new Map(),
        offered: !!o.stateful && url.searchParams.get('useStatefulReconnect') === 'true',
        // stateful reconnect: sent [number, text] not acked, counters, acks and duplicates seen
        buf: [], out: 0, in: 0, inMax: 0, acks: [], dups: 0, resumes: 0, attached: true,
      };
      conns.set(c.token, c);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({
        connectionId: c.id, connectionToken: c.token, negotiateVersion: 1,
        ...(c.offered ? { useStatefulReconnect: true } : {}),
        availableTransports: (o.transports || ALL).map((t) => ({
          transport: t, transferFormats: t === 'ServerSentEvents' && !o.binarySSE ? ['Text'] : ['Text', 'Binary'],
        })),
      }));
    }
    const c = conns.get(url.searchParams.get('id'));
    if (!c) return res.writeHead(404).end('No Connection with that ID');
    if (req.method === 'POST') {
      if (c.closed) return res.writeHead(404).end('connection closed');
      if (c.transport === 'WebSockets') return res.writeHead(405).end('POST requests are not allowed for WebSocket connections');
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const body = Buffer.concat(chunks);
      if (body.includes('{"type":7}') || body.includes(MSGPACK_CLOSE)) {
        // A Close: end the transport first and answer the POST a little later, as
        // a real server may (the stream's end then reaches the client first).
        receive(c, body);
        return setTimeout(() => res.writeHead(200).end(), 100);
      }
      res.writeHead(200).end();
      return receive(c, body);
    }
    if (req.method === 'DELETE') {
      end(c);
      return res.writeHead(202).end();
    }
    if ((req.headers.accept || '').includes('text/event-stream')) {
      if (c.transport && !c.stateful) return res.writeHead(409).end();
      if (c.closed) return res.writeHead(404).end('connection closed');
      c.transport = 'ServerSentEvents';
      c.link?.destroy();
      c.link = res;
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      res.write(':\r\n');
      c.write = (text) => res.write(`data: ${text}\r\n\r\n`);
      c.stop = () => res.end();
      if (c.handshaken) resume(c);
      req.on('close', () => lost(c, res));
      return;
    }
    // long polling
    const ack = Number(url.searchParams.get('ack'));
    if (ack) {
      c.acks.push(ack);
      if (!o.ignoreAcks) c.buf = c.buf.filter((b) => b[0] > ack);
    }
    if (c.cutNext && !url.searchParams.get('resume')) {
      c.cutNext = false;
      return req.socket.destroy();
    }
    if (url.searchParams.get('resume')) {
      if (c.closed) return res.writeHead(404).end('connection closed');
      c.queue.length = 0;
      c.flush = null;
      resume(c);
    }
    if (c.closed && !c.queue.length) return res.writeHead(204).end();
    if (!c.transport) {
      c.transport = 'LongPolling';
      c.write = (text) => { c.queue.push(text); c.flush?.(); };
      c.stop = () => c.flush?.();
      return res.writeHead(200, { 'Content-Length': 0 }).end();
    }
    const answer = () => {
      clearTimeout(timer);
      if (c.flush === answer) c.flush = null;
      if (res.destroyed) return;
      if (c.queue.length) return res.writeHead(200).end(c.p.join(c.queue.splice(0)));
      res.writeHead(c.closed ? 204 : 200).end();
    };
    const timer = setTimeout(answer, o.pollHold ?? 1000);
    c.flush = answer;
    c.link = req.socket;
    if (c.queue.length || c.closed) answer();
    req.on('close', () => { if (c.flush === answer) { clearTimeout(timer); c.flush = null; } });
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://x');
    log.push(`WS ${url.pathname}${url.search}`);
    const c = conns.get(url.searchParams.get('id'));
    if (!c || c.closed || (o.token && url.searchParams.get('access_token') !== o.token)) {
      return socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      c.transport = 'WebSockets';
      c.link?.terminate();
      c.link = ws;
      c.write = (text) => o.dropWebSocketFrames || ws.send(text);
      c.stop = () => ws.close(1000);
      if (c.handshaken) resume(c);
      ws.on('message', (data) => o.dropWebSocketFrames || (c.link === ws && receive(c, data)));
      ws.on('close', () => lost(c, ws));
    });
  });

  function send(c, msg) {
    if (c.closed) return;
    const text = c.p.write(msg);
    if (c.stateful && msg.type < 6) c.buf.push([++c.out, text]);
    if (c.attached) c.write(text);
  }

  /** A link ended without a Close: a stateful connection waits to be resumed, others end. */
  function lost(c, link) {
    if (c.link !== link) return;
    c.link = null;
    if (!c.stateful || c.gotClose) return end(c);
    c.attached = false;
  }

  /** A new link resumes the connection: Sequence first, then every unacked message. */
  function resume(c) {
    c.resumes++;
    c.attached = true;
    c.waitSeq = true;
    if (o.staleBeforeSequence) c.write(c.p.write({ type: 1, target: 'stale', arguments: [] }));
    c.write(c.p.join([c.p.write({ type: 9, sequenceId: c.buf.length ? c.buf[0][0] : c.out + 1 }), ...c.buf.map((b) => b[1])]));
  }

  /** Ends the current link of a connection as a network failure would. */
  function cut(c) {
    const link = c.link;
    if (c.transport === 'LongPolling') {
      // Cut the poll in flight, or else the next one.
      if (c.flush) link.destroy();
      else c.cutNext = true;
      return;
    }
    if (!link) return;
    if (link.terminate) return link.terminate();
    link.destroy();
  }
  function end(c) {
    if (c.closed) return;
    c.closed = true;
    c.invocations.forEach((t) => clearInterval(t));
    c.stop?.();
  }

  /** @param {Buffer} data one or more records: the handshake request (JSON), then the protocol's */
  function receive(c, data) {
    if (!c.handshaken) {
      const end = data.indexOf(0x1e);
      const m = JSON.parse(data.subarray(0, end).toString());
      data = data.subarray(end + 1);
      c.handshaken = true;
      c.version = m.version;
      c.protocol = m.protocol;
      c.p = m.protocol === 'messagepack' ? messagePack() : json;
      c.stateful = c.offered && m.version === 2;
      // As .NET does, the reply goes out in the protocol's format (binary for MessagePack).
      c.write(c.p === json ? '{}' + RS : Buffer.from('{}' + RS));
    }
    for (const m of data.length ? c.p.parse(c.p === json ? data.toString() : data) : []) {
      if (m.type === 9) { c.in = m.sequenceId - 1; c.waitSeq = false; continue; }
      if (c.waitSeq) continue;
      if (m.type === 8) {
        c.acks.push(m.sequenceId);
        if (!o.ignoreAcks) c.buf = c.buf.filter((b) => b[0] > m.sequenceId);
        continue;
      }
      if (c.stateful && m.type < 6) {
        if (++c.in <= c.inMax) { c.dups++; continue; }
        c.inMax = c.in;
        c.ackTimer ||= setTimeout(() => {
          c.ackTimer = null;
          if (!o.noAck && c.attached && !c.closed) c.write(c.p.write({ type: 8, sequenceId: c.inMax }));
        }, 20);
      }
      // Like Hubbub's server: a client's Close ends its transport at once.
      if (m.type === 7) { c.gotClose = true; end(c); continue; }
      dispatch(c, m);
    }
  }

  const methods = {
    echo: (c, v) => v,
    add: (c, a, b) => a + b,
    fail: (c, msg) => { throw new Error(msg); },
    whoami: (c) => ({ connectionId: c.id, userId: null, transport: c.transport }),
    sendtocaller: (c, event, payload) => { send(c, { type: 1, target: event, arguments: [payload] }); },
    broadcast: (c, event, payload) => { for (const x of conns.values()) if (x.handshaken) send(x, { type: 1, target: event, arguments: [payload] }); },
    sendtoothers: (c, event, payload) => { for (const x of conns.values()) if (x !== c && x.handshaken) send(x, { type: 1, target: event, arguments: [payload] }); },
    sendtoconnection: (c, id, event, payload) => { for (const x of conns.values()) if (x.id === id) send(x, { type: 1, target: event, arguments: [payload] }); },
    joingroup: (c, g) => { (groups[g] ||= new Set()).add(c); },
    leavegroup: (c, g) => { groups[g]?.delete(c); },
    groupmembers: (c, g) => [...(groups[g] || [])].filter((x) => !x.closed).map((x) => x.id).sort(),
    sendtogroup: (c, g, event, payload) => { for (const x of groups[g] || []) send(x, { type: 1, target: event, arguments: [payload] }); },
    disconnect: (c, allowReconnect) => { setTimeout(() => { send(c, { type: 7, allowReconnect }); end(c); }, 10); },
    dropconnection: (c) => { setTimeout(() => end(c), 10); },
    askclient: (c, target, arg) => new Promise((resolve, reject) => {
      const id = 's' + next++;
      c.uploads.set(id, { resolve, reject, client: true });
      send(c, { type: 1, invocationId: id, target, arguments: [arg] });
    }),
  };

  async function dispatch(c, m) {
    if (m.type === 1 || m.type === 4) {
      const name = m.target.toLowerCase();
      // The client's fallback report, kept as the server got it (see hub.FallbackTarget).
      if (name === 'hubbub:fallback' && m.type === 1 && m.invocationId == null) {
        c.reports = [...c.reports || [], m.arguments];
        return;
      }
      if (name === 'counter') {
        const [count, delay] = m.arguments;
        let i = 0;
        const t = setInterval(() => {
          if (i < count) return send(c, { type: 2, invocationId: m.invocationId, item: i++ });
          clearInterval(t);
          c.invocations.delete(m.invocationId);
          send(c, { type: 3, invocationId: m.invocationId });
        }, delay);
        c.invocations.set(m.invocationId, t);
        return;
      }
      if (name === 'sum') {
        const [sid] = m.streamIds;
        let total = 0;
        c.uploads.set(sid, { item: (v) => { total += v; }, resolve: () => send(c, { type: 3, invocationId: m.invocationId, result: total }) });
        return;
      }
      try {
        const result = await methods[name](c, ...m.arguments);
        if (m.invocationId) send(c, { type: 3, invocationId: m.invocationId, result });
      } catch (e) {
        if (m.invocationId) send(c, { type: 3, invocationId: m.invocationId, error: e.message });
      }
    } else if (m.type === 2) {
      c.uploads.get(m.invocationId)?.item(m.item);
    } else if (m.type === 3) {
      const u = c.uploads.get(m.invocationId);
      c.uploads.delete(m.invocationId);
      if (u?.client) return m.error ? u.reject(new Error(m.error)) : u.resolve(m.result);
      u?.resolve();
    } else if (m.type === 5) {
      clearInterval(c.invocations.get(m.invocationId));
      c.invocations.delete(m.invocationId);
      c.cancelled = (c.cancelled || 0) + 1;
    } else if (m.type === 7) {
      end(c);
    }
  }

  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/hub`,
    origin: `http://127.0.0.1:${port}`,
    conns,
    log,
    o,
    cut,
    /** The connection of a client, by its public ID. */
    conn: (id) => [...conns.values()].find((c) => c.id === id),
    /** Sends an Invocation of `target` to a connection, attached or not. */
    push: (c, target, ...args) => send(c, { type: 1, target, arguments: args }),
    /** Acks everything received from a connection now. */
    ack: (c) => c.write(c.p.write({ type: 8, sequenceId: c.inMax })),
    /** The server forgets a connection (its reconnect window passed). */
    forget: (c) => { conns.delete(c.token); c.closed = true; },
    /**
     * Answers the next request that matches with `status` (0: resets the socket instead).
     * Resolves once that happened.
     * @param {(method: string, url: URL) => boolean} match
     */
    fail: (match, status) => new Promise((used) => faults.push([match, status, used])),
    close: () => new Promise((r) => {
      for (const c of conns.values()) end(c);
      wss.close();
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
