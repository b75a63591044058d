// The hub connection: negotiate, choose and probe a transport, run the hub
// protocol over it (invocations, streams both ways, client results, pings),
// and reconnect with backoff when an established connection is lost.
//
// Stateful reconnect (docs/reconnect.md): when the server agrees, trackable
// messages (types 1-5) are numbered both ways, the sent ones kept until the
// server acks them, and a lost link is resumed on the same connection token
// (no negotiate, no handshake): Sequence messages tell each side where to
// start again, and duplicates are dropped.
//
// A transport counts as working only when the server's handshake reply has
// come back over it within a deadline: a proxy may complete a WebSocket
// upgrade and then drop frames, or buffer an SSE response, and the transport
// "opens" all the same. What worked is remembered per origin.
//
// Each transport fallback is logged with its reason (the logger option, see log.js),
// and reported to the server once connected (unless reportFallback is false):
// one non-blocking invocation of "hubbub:fallback" whose one argument maps each
// transport left to why, in one of a few stable words (see why below). A server
// without the report takes it for an unknown method's fire-and-forget call.

import { reconnectDelay } from './backoff.js';
import { LONG_POLLING, SSE, transportMemory, transportNames, transportOrder, WEBSOCKETS } from './choice.js';
import { cutDelay, httpError, request, sleep, withQuery } from './http.js';
import { logger, WARNING } from './log.js';
import { longPolling } from './longpolling.js';
import {
  ACK, CANCEL_INVOCATION, CLOSE, COMPLETION, handshake, INVOCATION, json, parseHandshake, PING,
  SEQUENCE, STREAM_INVOCATION, STREAM_ITEM,
} from './protocol.js';
import { serverSentEvents } from './sse.js';
import { webSocket } from './websocket.js';

/** The transports by protocol name. @type {Record<string, import('./http.js').OpenTransport>} */
const OPEN = { [WEBSOCKETS]: webSocket, [SSE]: serverSentEvents, [LONG_POLLING]: longPolling };

/** A connection that lived this long resets the reconnect backoff. */
const STABLE = 5000;
/** A transport lost twice in a row, each time sooner than this after it opened and without a Close from the server, is tried last from then on. */
const SHORT_LIVED = 60000;

/** Stateful reconnect: acks go out at once after this many bytes received since the last one… */
const ACK_BYTES = 32768;
/** …else this many ms after the first unacked message. */
const ACK_DELAY = 1000;

/**
 * @typedef {import('../dist/hubbub.js').HubConnectionOptions} HubConnectionOptions the options, as hubbub.d.ts declares them
 * @typedef {import('./http.js').HubError} HubError
 * @typedef {import('./http.js').Transport} Transport
 * @typedef {import('./protocol.js').HubMessage} HubMessage
 * @typedef {import('./protocol.js').HubRecord} HubRecord
 * @typedef {import('./protocol.js').Delivery} Delivery
 * @typedef {(...args: any[]) => unknown} Handler a handler of a method the server calls, or a listener of an event;
 *   any[]: it declares the argument types it expects
 * @typedef {{transport: string, transferFormats: string[]}} Offer a transport in negotiate's answer
 * @typedef {{url?: string, accessToken?: string, connectionId: string, connectionToken?: string,
 *   useStatefulReconnect?: boolean, availableTransports?: Offer[], error?: string}} Negotiation
 *   negotiate's answer: a redirect (url, and its accessToken), a refusal (error), or the connection
 */

/**
 * An error of the client: the message starts with "hubbub: ", and `more` adds
 * fields (fatal, status, name).
 * @param {string} message
 * @param {{fatal?: boolean, status?: number, name?: string}} [more]
 * @returns {HubError}
 */
const error = (message, more) => Object.assign(new Error('hubbub: ' + message), more);

/**
 * The server no longer knows the connection (or it is ended for good): a new one is needed.
 * @param {HubError} [e]
 */
const gone = (e) => e?.status === 400 || e?.status === 404;

/**
 * What a thrown value says, for the server: its message, else the value as text.
 * @param {unknown} e
 */
const messageOf = (e) => String(/** @type {Error | null | undefined} */ (e)?.message || e);

/**
 * An argument that is streamed to the server (an upload) rather than sent.
 * @param {unknown} arg
 * @returns {arg is AsyncIterable<unknown>}
 */
const isAsyncIterable = (arg) => !!(/** @type {Partial<AsyncIterable<unknown>> | null | undefined} */ (arg)?.[Symbol.asyncIterator]);

/** For promises whose failure is handled elsewhere (a send on a lost link is replayed or given up with it). */
const ignore = () => {};

/**
 * Why a transport was left, as the fallback report says it: an HTTP error is
 * "failed"; a WebSocket that opened and carried no handshake (or closed before
 * it) dropped frames, else its upgrade was refused; an SSE stream (or a poll)
 * that did not open or answer in time was held back by a proxy
 * ("stream-buffered"); a request that ended early was cut.
 * @param {string} name @param {HubError} e
 */
const why = (name, e) => e.status ? 'failed'
  : name == WEBSOCKETS ? (/^op|clo/.test(e.message) ? 'frames-dropped' : 'upgrade-refused')
    : / within /.test(e.message) ? 'stream-buffered' : 'requests-cut';

/**
 * One transport carrying the connection: the first, a fallback, or the next
 * one of a resumed connection.
 * @typedef {object} Link
 * @property {string} _name the transport's protocol name
 * @property {Transport} _transport
 * @property {(e?: Error) => void} _shaken ends the wait for the handshake reply (or for the transport to open), with the failure if any
 * @property {boolean} [_resume] the link resumes a stateful connection (no handshake)
 * @property {boolean} [_waiting] it waits for the server's Sequence (a resumed link)
 * @property {boolean} [_ok] the handshake is done (or the resumed link open)
 * @property {HubMessage[]} [_rest] messages that came with the handshake reply
 * @property {boolean} [_closeMsg] the server sent Close
 * @property {ReturnType<typeof setInterval>} [_timer] the keepalive timer
 */

/**
 * A call waiting for answers from the server (an invoke, a stream).
 * @typedef {object} Pending
 * @property {string} _id the invocation ID, once sent
 * @property {boolean} [_done] the call ended: nothing more is sent or delivered
 * @property {(v?: unknown) => void} _resolve the Completion's result
 * @property {(e: Error) => void} _reject
 * @property {(v: unknown) => void} _item a stream item
 */

/** @typedef {[(r: IteratorResult<unknown>) => void, (e: Error) => void]} Waiter a next() waiting for a stream item */

// The public methods live on the prototype; the connection's state and its
// internals are the constructor's local variables and functions, as in the
// transports (so esbuild shortens every name): the prototype reaches them
// through the few this._ entry points the constructor sets.
export class HubConnection {
  /**
   * @param {string} url the hub URL; relative URLs resolve against the page
   * @param {HubConnectionOptions} [options] see README and hubbub.d.ts
   */
  constructor(url, options = {}) {
    const hub = this;
    const o = this.options = {
      transports: [WEBSOCKETS, SSE, LONG_POLLING], probeTimeout: 1000, handshakeTimeout: 15000,
      timeout: 0, keepAliveInterval: 15000, serverTimeout: 30000, reconnect: /** @type {HubConnectionOptions['reconnect']} */ (true),
      reconnectWindow: 30000, statefulReconnect: true, statefulReconnectBufferSize: 100000,
      ...options,
    };
    this.url = new URL(url, globalThis.location?.href).href;
    /** @type {'disconnected' | 'connecting' | 'connected' | 'reconnecting'} */
    this.state = 'disconnected';
    /** @type {string | null} */
    this.transport = null;
    /** @type {string | null} */
    this.connectionId = null;

    const wanted = transportNames(o.transports);
    const memory = transportMemory(o.storage, new URL(this.url).origin);
    /** Where the client explains its transport fallbacks (see log.js). */
    const log = logger(o.logger);
    /** @type {Map<string, Handler[]>} handlers by method name in lower case */
    const handlers = new Map();
    /** @type {Record<string, Handler[]>} listeners by event name, created on first use */
    const events = {};
    /** @type {Map<string, Pending>} calls by invocation ID */
    const pending = new Map();
    /** @type {[() => void, (e: Error) => void][]} calls waiting for the connection: [ok, fail] */
    const waiters = [];
    /** @type {((v?: unknown) => void)[]} sends waiting for room in the buffer of unacked messages */
    const room = [];
    /** @type {Set<string>} transports tried last (see SHORT_LIVED) */
    const demoted = new Set();
    /** @type {Map<string, string>} the transports left since the last report, with why */
    const left = new Map();
    /** @type {string | null | undefined} the transport lost early last time */
    let lastShort;
    /** The next invocation (or upload stream) ID. */
    let ids = 0;
    /** The current attempt: stop and each start end the ones before, which check it. */
    let generation = 0;
    // Set before they are read (by start, open and loop): reconnect attempts since
    // the last stable connection; when something was last sent and received, and
    // when the connection was established.
    /** @type {number} */
    let attempt;
    /** @type {number} */
    let sentAt;
    /** @type {number} */
    let seenAt;
    /** @type {number} */
    let connectedAt;
    /** @type {boolean | undefined} True while stop() sends the Close message: a transport ending then is not lost. */
    let stopping;
    /** @type {Link | null | undefined} the link that carries the connection */
    let current;
    /** @type {Link | null | undefined} the link being opened */
    let probe;
    /** @type {Promise<void>} the connection attempt of start() (set by the start that left 'disconnected') */
    let started;
    /** @type {Transport | undefined} the transport of the link lost last */
    let old;
    /** Where the connection lives: the hub URL with ?id=. */
    let connectionUrl = '';

    /** @type {string | null | undefined} the access token, undefined until the factory was first called */
    let token;
    /**
     * The access token, cached: the factory is called the first time, and again
     * on refresh (each negotiate, and after a 401).
     * @param {boolean} [refresh]
     */
    const accessToken = async (refresh) => {
      if ((refresh || token === undefined) && o.accessTokenFactory) token = await o.accessTokenFactory();
      return token;
    };
    // The option's types (hubbub.d.ts) are looser than what the client relies on:
    // a protocol writes no views of shared memory, and a WebSocket class (the
    // ws package's too) has the browser API's methods.
    const protocol = /** @type {import('./protocol.js').HubProtocol} */ (o.protocol || json);
    /** @type {import('./http.js').Env} */
    const env = {
      _fetch: o.fetch || ((url, init) => fetch(url, init)),
      _webSocket: /** @type {import('./http.js').WebSocketClass | undefined} */ (o.WebSocket) || globalThis.WebSocket,
      _credentials: o.credentials || 'same-origin',
      _headers: o.headers,
      _token: accessToken,
      _protocol: protocol,
    };

    // The per-connection state of stateful reconnect, set by reset below.
    /** @type {boolean} */
    let stateful;
    /** @type {boolean} True from a lost link until the client has sent its Sequence on the resumed one: sends are buffered. */
    let held;
    /** @type {[number, HubRecord][]} sent trackable messages not yet acked: [number, record] */
    let buffer;
    // Trackable messages: received (the last one's number, the highest seen), sent,
    // bytes kept unacked, and bytes received since the last ack.
    /** @type {number} */
    let received;
    /** @type {number} */
    let highest;
    /** @type {number} */
    let sent;
    /** @type {number} */
    let unacked;
    /** @type {number} */
    let sinceAck;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let ackTimer;
    reset(false);

    // A closed tab must not look like a cut link, which the server would keep for
    // the client to resume: say goodbye (keepalive lets the requests outlive the page).
    globalThis.addEventListener?.('pagehide', (e) => {
      if (e.persisted) return;
      env._leaving = true;
      hub.stop();
    });

    // The entry points of the prototype's methods.
    this._handlers = handlers;
    this._start = () => {
      if (hub.state === 'disconnected') {
        attempt = 0;
        left.clear();
        started = loop(++generation);
        started.catch(ignore);
      }
      return started;
    };
    this._stop = async () => {
      if (hub.state === 'disconnected') return;
      generation++;
      if (probe) {
        probe._transport._close();
        probe._shaken(error('stopped'));
      }
      const link = current;
      if (link) {
        // The server may end the transport as soon as it reads the Close: that is
        // not a loss to reconnect from (see lost).
        stopping = true;
        await send({ type: CLOSE }).catch(ignore);
        stopping = false;
        link._transport._close();
      }
      finish();
    };
    /** @param {string} name @param {Handler} fn @returns {() => void} unsubscribes */
    this._listen = (name, fn) => {
      events[name] ||= [];
      events[name].push(fn);
      return () => {
        events[name] = events[name].filter((f) => f !== fn);
      };
    };
    this._call = call;
    this._stream = stream;

    /**
     * Calls each function (the listeners of an event, the handlers of a method)
     * with args; one that throws is reported on the console, not propagated.
     * @param {Handler[] | undefined} fns @param {unknown[]} args
     */
    function run(fns = [], args) {
      for (const fn of fns) {
        try { fn(...args); } catch (e) { console.error(e); }
      }
    }

    /** @param {typeof hub.state} state */
    function setState(state) {
      hub.state = state;
      if (state === 'connected') {
        for (const [ok] of waiters.splice(0)) ok();
      }
    }

    /** @param {number} gen the attempt that must still be on */
    function check(gen) {
      if (gen !== generation) throw error('stopped');
    }

    /**
     * Resolves once connected, or while a lost link is resumed (sends are then
     * buffered); waits while connecting or reconnecting.
     * @returns {Promise<void>}
     */
    function ready() {
      if (hub.state === 'connected' || held) return Promise.resolve();
      if (hub.state === 'disconnected') return Promise.reject(error('not connected'));
      return new Promise((ok, fail) => {
        waiters.push([ok, fail]);
      });
    }

    /**
     * Sends an invocation once connected, unless the call ended meanwhile. One
     * that expects answers is registered under a new invocation ID first; one
     * that does not resolves once sent.
     * @param {Pending} p @param {typeof INVOCATION | typeof STREAM_INVOCATION} type
     * @param {string} method @param {unknown[]} args @param {boolean} answered
     */
    function begin(p, type, method, args, answered) {
      ready()
        .then(async () => {
          if (p._done) return;
          if (!answered) {
            await invocation(type, null, method, args);
            p._resolve();
            return;
          }
          p._id = '' + ids++;
          pending.set(p._id, p);
          await invocation(type, p._id, method, args);
        })
        .catch(p._reject);
    }

    /**
     * invoke and send: resolves with the result (or once sent), rejects with the
     * hub's error or after `ms` (0: no deadline).
     * @param {string} method @param {unknown[]} args @param {number} ms @param {boolean} [fireAndForget]
     * @returns {Promise<unknown>}
     */
    function call(method, args, ms, fireAndForget) {
      return new Promise((resolve, reject) => {
        /** @type {ReturnType<typeof setTimeout> | undefined} */
        let timer;
        // A promise settles once: ending twice does nothing more.
        /** @param {(v: unknown) => void} settle @returns {(v: unknown) => void} */
        const end = (settle) => (v) => {
          p._done = true;
          clearTimeout(timer);
          pending.delete(p._id);
          settle(v);
        };
        /** @type {Pending} */
        const p = {
          _id: '',
          _resolve: end(resolve),
          _reject: end(reject),
          _item: () => p._reject(error(`unexpected stream item for '${method}'; use stream()`)),
        };
        if (ms > 0) timer = setTimeout(() => p._reject(error(`'${method}' timed out after ${ms} ms`, { name: 'TimeoutError' })), ms);
        begin(p, INVOCATION, method, args, !fireAndForget);
      });
    }

    /**
     * A streaming call: an async iterator of its items; `cancel()` (or leaving a
     * for-await loop early) asks the server to stop.
     * @param {string} method @param {unknown[]} args
     */
    function stream(method, args) {
      /** @type {IteratorResult<unknown>[]} */
      const queue = [];
      /** @type {Waiter[]} */
      const waiting = [];
      /** @type {Error | undefined} */
      let failure;
      const settle = () => {
        while (waiting.length && (queue.length || p._done)) {
          const [ok, fail] = /** @type {Waiter} */ (waiting.shift());
          const next = queue.shift();
          if (next) ok(next);
          else if (failure) fail(failure);
          else ok({ done: true, value: undefined });
        }
      };
      /** @param {Error} [e] */
      const finish = (e) => {
        if (p._done) return;
        p._done = true;
        failure = e;
        pending.delete(p._id);
        settle();
      };
      /** @type {Pending} */
      const p = {
        _id: '',
        _item: (value) => {
          if (p._done) return;
          queue.push({ value, done: false });
          settle();
        },
        _resolve: () => finish(),
        _reject: finish,
      };
      begin(p, STREAM_INVOCATION, method, args, true);
      const cancel = () => {
        if (p._done) return;
        // Sent only once the invocation was (it has an ID).
        if (p._id) send({ type: CANCEL_INVOCATION, invocationId: p._id }).catch(ignore);
        queue.length = 0;
        finish();
      };
      const it = {
        /** @returns {Promise<IteratorResult<unknown>>} */
        next: () => new Promise((ok, fail) => {
          waiting.push([ok, fail]);
          settle();
        }),
        /** @returns {Promise<IteratorResult<unknown>>} */
        return: async () => {
          cancel();
          return { done: true, value: undefined };
        },
        cancel,
        [Symbol.asyncIterator]: () => it,
      };
      return it;
    }

    /**
     * Sends an Invocation or StreamInvocation; async-iterable arguments become
     * upload streams.
     * @param {typeof INVOCATION | typeof STREAM_INVOCATION} type
     * @param {string | null} id the invocation ID; null for an invocation that expects no answer
     * @param {string} target @param {unknown[]} args
     */
    async function invocation(type, id, target, args) {
      /** @type {[string, AsyncIterable<unknown>][]} */
      const uploads = [];
      const plain = [];
      for (const arg of args) {
        if (isAsyncIterable(arg)) uploads.push(['' + ids++, arg]);
        else plain.push(arg);
      }
      // The ID, when there is one, goes after the arguments, as it always has on the wire.
      const msg = /** @type {import('./protocol.js').InvocationMessage | import('./protocol.js').StreamInvocationMessage} */ (
        { type, target, arguments: plain });
      if (id !== null) msg.invocationId = id;
      if (uploads.length) msg.streamIds = uploads.map(([sid]) => sid);
      await send(msg);
      for (const [sid, items] of uploads) upload(sid, items);
    }

    /** @param {string} invocationId @param {AsyncIterable<unknown>} items */
    async function upload(invocationId, items) {
      const id = hub.connectionId;
      try {
        for await (const item of items) {
          if (hub.connectionId !== id) return;
          await send({ type: STREAM_ITEM, invocationId, item });
        }
        await send({ type: COMPLETION, invocationId });
      } catch (e) {
        send({ type: COMPLETION, invocationId, error: messageOf(e) }).catch(ignore);
      }
    }

    /**
     * Sends a message. On a stateful connection a trackable one is numbered and
     * kept until acked (waiting while the buffer is full), held while a lost link
     * is resumed, and a failed write loses the link rather than the message.
     * @param {HubMessage} msg
     * @returns {Promise<void>}
     */
    async function send(msg) {
      let text = protocol.write(msg);
      const id = hub.connectionId;
      let n = 0;
      if (stateful && msg.type < PING) {
        while (unacked > o.statefulReconnectBufferSize) await new Promise((r) => room.push(r));
        if (id !== hub.connectionId || !current && !held) throw error('not connected');
        n = ++sent;
        buffer.push([n, text]);
        unacked += text.length;
      }
      if (held) return;
      const link = current;
      if (!link) throw error('not connected');
      sentAt = Date.now();
      // A POST of a lost link may land after the replay: numbered, it is not run twice.
      if (n && link._name != WEBSOCKETS) text = protocol.join([protocol.write({ type: SEQUENCE, sequenceId: n }), text]);
      return link._transport._send(text).catch((e) => {
        if (!stateful) throw e;
        cut(link, e);
      });
    }

    /**
     * Starts afresh the per-connection state of stateful reconnect.
     * @param {boolean} on the server agreed to stateful reconnect
     */
    function reset(on) {
      stateful = on;
      buffer = [];
      received = highest = sent = unacked = sinceAck = 0;
      // Long polling acks with its next poll.
      env._ack = on ? () => highest : undefined;
      held = false;
      clearTimeout(ackTimer);
      ackTimer = undefined;
      // Polls and sends are retried by the transport only without stateful reconnect;
      // with it, a failure loses the link and the connection resumes it.
      env._window = on ? 0 : o.reconnectWindow;
      for (const r of room.splice(0)) r();
    }

    /** Acks what was received (stateful reconnect). */
    function ack() {
      clearTimeout(ackTimer);
      ackTimer = undefined;
      sinceAck = 0;
      send({ type: ACK, sequenceId: highest }).catch(ignore);
    }

    /**
     * The link failed (a write, a parse, the server went silent): end it and resume or reconnect.
     * @param {Link} link @param {Error} e
     */
    function cut(link, e) {
      link._transport._close(true);
      closed(link, e);
    }

    /**
     * Sends the client's Sequence and every unacked message on a resumed link.
     * @param {Link} link
     */
    async function replay(link) {
      // POSTs of the lost link still in flight must land before the replay.
      await old?._send._idle?.();
      if (link !== current) return;
      held = false;
      const records = buffer.map(([, record]) => record);
      link._transport._send(protocol.join([protocol.write({ type: SEQUENCE, sequenceId: sent - buffer.length + 1 }), ...records]))
        .catch((e) => cut(link, e));
    }

    /**
     * Connects (first start or a reconnect) and runs the backoff between attempts.
     * @param {number} gen
     * @param {Error | null} [lost] the reason, when reconnecting
     */
    async function loop(gen, lost) {
      const again = lost !== undefined;
      if (!again) setState('connecting');
      /** @type {HubError | undefined} */
      let failure = lost || undefined;
      for (;;) {
        if (again) {
          const delay = reconnectDelay(attempt++, o.reconnect, failure);
          if (delay === null) break;
          await sleep(delay);
          check(gen);
        }
        try {
          const link = await connect(gen);
          connectedAt = Date.now();
          setState('connected');
          // The fallback report (hub.FallbackTarget on the server), once per connection.
          if (left.size && o.reportFallback !== false) {
            send({ type: INVOCATION, target: 'hubbub:fallback', arguments: [Object.fromEntries(left)] }).catch(ignore);
          }
          left.clear();
          run(events[again ? 'reconnected' : 'connected'], [hub.connectionId, { resumed: false }]);
          // Messages that came in the same unit as the handshake reply.
          for (const m of link._rest || []) message(link, m);
          return;
        } catch (e) {
          failure = /** @type {HubError} */ (e);
          if (gen !== generation) throw e;
          if (!again || failure.fatal) break;
        }
      }
      finish(failure);
      throw failure;
    }

    /**
     * One attempt: negotiate, then try the transports in order until one
     * carries the handshake both ways; each retry negotiates again.
     * @param {number} gen
     */
    async function connect(gen) {
      let neg = await negotiate();
      const order = transportOrder(wanted, neg.transports, memory(), demoted)
        .filter((t) => t !== WEBSOCKETS || env._webSocket);
      if (!order.length) throw error('no common transport', { fatal: true });
      const failures = [];
      for (let i = 0; i < order.length; i++) {
        check(gen);
        if (i) neg = await negotiate();
        try {
          const link = await open(gen, order[i], neg.url, i < order.length - 1 ? o.probeTimeout : o.handshakeTimeout);
          memory(order[i]);
          return link;
        } catch (e) {
          const failure = /** @type {HubError} */ (e);
          if (failure.fatal) throw e;
          left.set(order[i], why(order[i], failure));
          failures.push(`${order[i]} failed: ${failure.message}`);
          log.log(WARNING, failures[i] + (order[i + 1] ? '; trying ' + order[i + 1] : ''));
        }
      }
      throw error('no transport worked (' + failures.join('; ') + ')');
    }

    /** Negotiates a new connection: its URL and the transports the server offers. */
    async function negotiate() {
      let url = hub.url;
      for (let hop = 0; hop < 10; hop++) {
        const u = new URL(url);
        u.pathname = u.pathname.replace(/\/?$/, '/negotiate');
        if (!hop) {
          env._token = accessToken;
          await accessToken(true);
        }
        const res = await request(env, 'POST', withQuery(u.href, {
          negotiateVersion: 1, ...(o.statefulReconnect && { useStatefulReconnect: true }),
        }));
        if (res.status !== 200) {
          await res.body?.cancel();
          throw Object.assign(httpError(res, 'negotiate failed'), { fatal: res.status === 401 || res.status === 403 });
        }
        /** @type {Negotiation} */
        const body = await res.json();
        if (body.error) throw error(body.error, { fatal: true });
        if (body.url) {
          url = body.url;
          if (body.accessToken) env._token = async () => body.accessToken;
          continue;
        }
        hub.connectionId = body.connectionId;
        reset(!!(o.statefulReconnect && body.useStatefulReconnect));
        const offers = body.availableTransports || [];
        return {
          // The connection URL: the hub's, with the token that names the connection.
          url: withQuery(url, { id: body.connectionToken || body.connectionId }),
          transports: offers.filter((t) => t.transferFormats.includes(protocol.format)).map((t) => t.transport),
        };
      }
      throw error('too many redirects');
    }

    /**
     * Opens one transport and runs the handshake. Opening and the handshake reply
     * each have `deadline` ms: a buffering proxy stalls the first, a proxy that
     * drops WebSocket frames the second. A resumed link has no handshake: it is
     * the current link at once, and waits for the server's Sequence.
     * @param {number} gen @param {string} name @param {string} url the connection URL (with ?id=) @param {number} deadline
     * @param {boolean} [resume]
     * @returns {Promise<Link>}
     */
    async function open(gen, name, url, deadline, resume) {
      /** @type {ReturnType<typeof setTimeout> | undefined} */
      let timer;
      /** @type {(e?: Error) => void} */
      let shaken = ignore;
      const handshaken = new Promise((ok, fail) => {
        shaken = (e) => {
          if (e) fail(e);
          else ok(undefined);
        };
      });
      /** @param {string} what */
      const arm = (what) => {
        clearTimeout(timer);
        timer = setTimeout(() => shaken(new Error(`${what} within ${deadline} ms`)), deadline);
      };
      arm('not open');
      /** @type {Link} */
      const link = {
        _name: name, _resume: resume, _waiting: resume, _shaken: shaken,
        _transport: OPEN[name](url, env, (data) => onData(link, data), (e) => closed(link, e), resume),
      };
      probe = link;
      if (resume) current = link;
      try {
        await Promise.race([link._transport._ready, handshaken]);
        check(gen);
        if (resume) {
          link._ok = true;
          // Over WebSockets nothing races the client's Sequence: send it at once.
          if (name === WEBSOCKETS) replay(link);
        } else {
          arm('opened, but no handshake reply');
          link._transport._send(handshake(stateful ? 2 : 1, protocol.name)).catch(shaken);
          await handshaken;
          check(gen);
        }
      } catch (e) {
        if (current === link) current = null;
        link._transport._close(resume);
        throw e;
      } finally {
        clearTimeout(timer);
        probe = null;
      }
      current = link;
      connectionUrl = url;
      hub.transport = name;
      sentAt = seenAt = Date.now();
      if (name !== LONG_POLLING) link._timer = setInterval(() => tick(link), Math.min(1000, o.keepAliveInterval / 2));
      return link;
    }

    /** Pings a quiet server and notices a silent one (WebSockets and SSE). @param {Link} link */
    function tick(link) {
      const now = Date.now();
      if (now - seenAt > o.serverTimeout) cut(link, error('server timeout'));
      else if (now - sentAt >= o.keepAliveInterval) send({ type: PING }).catch(ignore);
    }

    /**
     * A delivery unit arrived: first the handshake reply, then messages.
     * @param {Link} link @param {Delivery} data
     */
    function onData(link, data) {
      if (link === current) seenAt = Date.now();
      try {
        if (!link._ok && !link._resume) {
          const [refused, rest] = parseHandshake(data, protocol);
          if (refused) {
            link._shaken(error('handshake refused: ' + refused, { fatal: true }));
            return;
          }
          link._ok = true;
          link._rest = rest;
          link._shaken();
          return;
        }
        for (const m of protocol.parse(data)) message(link, m);
        if (stateful && link._name != LONG_POLLING) {
          // Characters of text, bytes of binary data (an ArrayBuffer has no length).
          sinceAck += /** @type {{length?: number}} */ (data).length ?? /** @type {ArrayBuffer} */ (data).byteLength;
          if (sinceAck >= ACK_BYTES) ack();
          else ackTimer ||= setTimeout(ack, ACK_DELAY);
        }
      } catch (e) {
        cut(link, /** @type {Error} */ (e));
      }
    }

    /** @param {Link} link @param {Error} [e] */
    function closed(link, e) {
      if (link._ok) lost(link, e);
      else link._shaken(e || error('closed early'));
    }

    /** @param {Link} link @param {HubMessage} m */
    function message(link, m) {
      if (link !== current) return;
      if (stateful) {
        if (m.type === SEQUENCE) {
          // Past a gap: over HTTP an answer can be lost unseen (a browser sends a
          // failed poll again by itself), so resume; over WebSockets it is fatal.
          if (m.sequenceId > highest + 1) {
            cut(link, error('Sequence ID too high', link._name == WEBSOCKETS ? { status: 404 } : {}));
            return;
          }
          received = m.sequenceId - 1;
          if (link._waiting) {
            link._waiting = false;
            if (held) replay(link);
            setState('connected');
            run(events.reconnected, [hub.connectionId, { resumed: true }]);
          }
          return;
        }
        // Everything before the server's Sequence on a resumed link is stale; then duplicates.
        if (link._waiting) return;
        if (m.type < PING) {
          if (++received <= highest) return;
          highest = received;
        }
      }
      switch (m.type) {
        case INVOCATION:
          invoked(m);
          return;
        case STREAM_ITEM:
          pending.get(m.invocationId)?._item(m.item);
          return;
        case COMPLETION: {
          const p = pending.get(m.invocationId);
          if (m.error) p?._reject(error(m.error, { name: 'HubError' }));
          else p?._resolve(m.result);
          return;
        }
        case ACK:
          // The server has every message up to sequenceId: drop them, and wake the sends waiting for room.
          while (buffer.length && buffer[0][0] <= m.sequenceId) {
            unacked -= buffer[0][1].length;
            buffer.shift();
          }
          for (const r of room.splice(0)) r();
          return;
        case CLOSE:
          link._closeMsg = true;
          link._transport._close();
          // Servers leave allowReconnect out when it is false (Hubbub, ASP.NET Core).
          lost(link, m.error ? error('server closed: ' + m.error) : undefined, m.allowReconnect === true);
      }
    }

    /**
     * A call from the server; one with an invocationId waits for a result: what
     * the first handler returns, or the error it throws.
     * @param {import('./protocol.js').InvocationMessage} m
     */
    function invoked(m) {
      const fns = handlers.get(String(m.target).toLowerCase()) || [];
      const id = m.invocationId;
      if (id == null) {
        run(fns, m.arguments);
        return;
      }
      /** @param {{result: unknown} | {error: string}} r */
      const reply = (r) => send({ type: COMPLETION, invocationId: id, ...r }).catch(ignore);
      const result = async () => {
        if (!fns.length) throw new Error("Client didn't provide a result.");
        return fns[0](...m.arguments);
      };
      result().then((value) => reply({ result: value ?? null }), (e) => reply({ error: messageOf(e) }));
    }

    /**
     * An established link ended: resume it (stateful reconnect) or reconnect,
     * unless told not to.
     * @param {Link} link @param {Error} [reason] @param {boolean} [allowReconnect]
     */
    function lost(link, reason, allowReconnect = true) {
      if (link !== current || stopping) return;
      clearInterval(link._timer);
      current = hub.transport = null;
      const name = link._name;
      const lived = Date.now() - connectedAt;
      if (lived > STABLE) attempt = 0;
      const short = !link._closeMsg && lived < SHORT_LIVED;
      if (short && lastShort === name) {
        demoted.add(name);
        left.set(name, 'requests-cut');
      }
      lastShort = short ? name : null;
      const resume = stateful && !link._closeMsg && !gone(reason);
      if (!allowReconnect || (!resume && o.reconnect === false)) {
        finish(reason);
        return;
      }
      if (hub.state !== 'reconnecting') {
        setState('reconnecting');
        run(events.reconnecting, [reason]);
      }
      old = link._transport;
      if (resume) resumeLink(name, reason);
      else renew(reason);
    }

    /**
     * Resumes a lost link on the same connection: new links on the same
     * transport with a short backoff for up to reconnectWindow, then a new
     * connection if the server does not know this one any more.
     * @param {string} name @param {Error} [reason]
     */
    async function resumeLink(name, reason) {
      const gen = generation;
      const t0 = Date.now();
      held = true;
      for (let n = 0; Date.now() - t0 < o.reconnectWindow; n++) {
        await sleep(cutDelay(n));
        if (gen !== generation) return;
        try {
          await open(gen, name, connectionUrl, o.handshakeTimeout, true);
          return;
        } catch (e) {
          if (gen !== generation) return;
          const failure = /** @type {HubError} */ (e);
          reason = failure;
          // A browser does not say why a WebSocket failed to open: ask over HTTP, where
          // a connection the server knows answers 405 to a POST, and one it does not 404.
          if (name === WEBSOCKETS && !failure.status) {
            failure.status = await request(env, 'POST', connectionUrl).then((r) => {
              r.body?.cancel();
              return r.status;
            }, () => 0);
          }
          if (gone(failure)) break;
        }
      }
      renew(reason);
    }

    /**
     * Gives up on the connection's state and starts a new connection.
     * @param {Error} [reason]
     */
    function renew(reason) {
      held = false;
      const e = reason || error('connection lost');
      pending.forEach((p) => p._reject(e));
      if (o.reconnect === false) finish(reason);
      else loop(generation, reason || null).catch(ignore);
    }

    /** @param {Error} [reason] */
    function finish(reason) {
      clearInterval(current?._timer);
      current = hub.transport = null;
      reset(false);
      setState('disconnected');
      const e = reason || error('connection closed');
      for (const [, fail] of waiters.splice(0)) fail(e);
      pending.forEach((p) => p._reject(e));
      run(events.close, [reason]);
    }
  }

  /** True while the connection can carry messages. */
  get connected() { return this.state === 'connected'; }

  /**
   * Connects, if not connected or connecting already. Resolves once connected;
   * rejects if no transport works (the reconnect policy applies only to a
   * connection that was established and then lost).
   * @returns {Promise<void>}
   */
  start() { return this._start(); }

  /**
   * Closes the connection for good (until start is called again).
   * @returns {Promise<void>}
   */
  stop() { return this._stop(); }

  /**
   * Registers a handler for a method the server calls on this client (matched
   * without regard to case). What a handler returns answers a server that waits
   * for a client result.
   * @param {string} method
   * @param {Handler} handler
   */
  on(method, handler) {
    const key = method.toLowerCase();
    // A new array, here and in off: a call being dispatched keeps the handlers it started with.
    this._handlers.set(key, [...(this._handlers.get(key) || []), handler]);
    return this;
  }

  /**
   * Removes one handler, or every handler of the method.
   * @param {string} method
   * @param {Handler} [handler]
   */
  off(method, handler) {
    const key = method.toLowerCase();
    this._handlers.set(key, handler ? (this._handlers.get(key) || []).filter((h) => h !== handler) : []);
    return this;
  }

  /** @param {(connectionId: string) => void} fn @returns {() => void} unsubscribes */
  onconnected(fn) { return this._listen('connected', fn); }
  /** @param {(error?: Error) => void} fn @returns {() => void} */
  onreconnecting(fn) { return this._listen('reconnecting', fn); }
  /** @param {(connectionId: string, info: {resumed: boolean}) => void} fn @returns {() => void} */
  onreconnected(fn) { return this._listen('reconnected', fn); }
  /** @param {(error?: Error) => void} fn @returns {() => void} */
  onclose(fn) { return this._listen('close', fn); }

  /**
   * Calls a hub method and resolves with its result (the acknowledgement).
   * Arguments that are async iterables are streamed to the server.
   * @param {string} method
   * @param {...unknown} args
   * @returns {Promise<unknown>}
   */
  invoke(method, ...args) { return this._call(method, args, this.options.timeout); }

  /**
   * Calls a hub method without waiting for it to run: resolves once sent.
   * @param {string} method
   * @param {...unknown} args
   * @returns {Promise<unknown>} undefined
   */
  send(method, ...args) { return this._call(method, args, this.options.timeout, true); }

  /**
   * The same calls with a deadline: `await hub.timeout(5000).invoke('Echo', 1)`.
   * @param {number} ms
   */
  timeout(ms) {
    return {
      /** @param {string} method @param {...unknown} args */
      invoke: (method, ...args) => this._call(method, args, ms),
      /** @param {string} method @param {...unknown} args */
      send: (method, ...args) => this._call(method, args, ms, true),
    };
  }

  /**
   * Calls a streaming hub method. The result is an async iterator of its items;
   * `cancel()` (or leaving a for-await loop early) asks the server to stop.
   * @param {string} method
   * @param {...unknown} args
   */
  stream(method, ...args) { return this._stream(method, args); }
}

/**
 * Creates a connection to a hub and starts connecting at once. Calls made
 * before it is connected wait for it.
 * @param {string} url
 * @param {HubConnectionOptions} [options]
 */
export function connect(url, options) {
  const hub = new HubConnection(url, options);
  hub.start();
  return hub;
}
