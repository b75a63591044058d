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
// Each of these decisions is logged with its reason (the logger option, see log.js).

import { reconnectDelay } from './backoff.js';
import { defaultStorage, LONG_POLLING, SSE, transportMemory, transportNames, transportOrder, WEBSOCKETS } from './choice.js';
import { cutDelay, httpError, request, sleep, withQuery } from './http.js';
import { ERROR, INFORMATION, logger, WARNING } from './log.js';
import { longPolling } from './longpolling.js';
import {
  ACK, CANCEL_INVOCATION, CLOSE, COMPLETION, handshake, INVOCATION, json, parseHandshake, PING,
  SEQUENCE, STREAM_INVOCATION, STREAM_ITEM,
} from './protocol.js';
import { serverSentEvents } from './sse.js';
import { webSocket } from './websocket.js';

/** @type {Record<string, typeof longPolling>} */
const OPEN = { [WEBSOCKETS]: webSocket, [SSE]: serverSentEvents, [LONG_POLLING]: longPolling };

/** A connection that lived this long resets the reconnect backoff. */
const STABLE = 5000;
/** A transport lost twice in a row, each time sooner than this after it opened and without a Close from the server, is tried last from then on. */
const SHORT_LIVED = 60000;

/** Acks go out at once after this many bytes received since the last one, else after ACK_DELAY ms. */
const ACK_BYTES = 32768, ACK_DELAY = 1000;

/** @param {string} message @param {object} [more] */
const error = (message, more) => Object.assign(new Error('hubbub: ' + message), more);

/** The server no longer knows the connection (or it is ended for good): a new one is needed. @param {any} e */
const gone = (e) => [400, 404].includes(e?.status);

/**
 * @typedef {import('./backoff.js').ReconnectPolicy} ReconnectPolicy
 * @typedef {{t: import('./websocket.js').Transport, name: string, ok?: boolean, hs: (e?: Error) => void,
 *   _closeMsg?: boolean, _rest?: any[], _timer?: any, r?: boolean, w?: boolean}} Link
 *   r: the link resumes a stateful connection (no handshake); w: it waits for the server's Sequence
 * @typedef {{_resolve: (v: any) => void, _reject: (e: Error) => void, _item?: (v: any) => void}} Pending
 */

export class HubConnection {
  /**
   * @param {string} url the hub URL; relative URLs resolve against the page
   * @param {object} [options] see README and hubbub.d.ts
   */
  constructor(url, options = {}) {
    this.options = {
      transports: [WEBSOCKETS, SSE, LONG_POLLING], probeTimeout: 1000, handshakeTimeout: 15000,
      timeout: 0, keepAliveInterval: 15000, serverTimeout: 30000, reconnect: true, reconnectWindow: 30000,
      statefulReconnect: true, statefulReconnectBufferSize: 100000,
      .../** @type {any} */ (options),
    };
    const o = this.options;
    this.url = new URL(url, globalThis.location?.href).href;
    /** @type {'disconnected' | 'connecting' | 'connected' | 'reconnecting'} */
    this.state = 'disconnected';
    /** @type {string | null} */
    this.transport = null;
    /** @type {string | null} */
    this.connectionId = null;
    this._wanted = transportNames(o.transports);
    this._memory = transportMemory(o.storage === undefined ? defaultStorage() : o.storage, new URL(this.url).origin);
    this._logger = logger(o.logger);
    /** @type {Map<string, Function[]>} */
    this._handlers = new Map();
    /** @type {Record<string, Function[]>} listeners by event name, created on first use */
    this._events = {};
    /** @type {Map<string, Pending>} */
    this._pending = new Map();
    /** @type {[() => void, (e: Error) => void][]} */
    this._waiters = [];
    this._ids = this._gen = this._attempt = this._sentAt = this._seenAt = this._connectedAt = 0;
    /** True while stop() sends the Close message: a transport ending then is not lost. @type {boolean | undefined} */
    this._stopping;
    /** @type {Set<string>} */
    this._demoted = new Set();
    /** @type {Link | null | undefined} */
    this._link;
    /** @type {Link | null | undefined} */
    this._probe;
    /** @type {Promise<void> | undefined} */
    this._started;
    /** @type {import('./websocket.js').Transport | undefined} the transport of the link lost last */
    this._old;
    /** @type {((v?: any) => void)[]} sends waiting for room in the buffer of unacked messages */
    this._room = [];
    /** @type {string | null | undefined} */
    let token;
    /** @param {boolean} [refresh] */
    this._token = async (refresh) => (refresh || token === undefined) && o.accessTokenFactory
      ? (token = await o.accessTokenFactory()) : token;
    /** @type {import('./http.js').Env} */
    this._env = {
      fetch: o.fetch || ((/** @type {[any, any]} */ ...a) => fetch(...a)),
      WebSocket: o.WebSocket || globalThis.WebSocket,
      credentials: o.credentials || 'same-origin',
      headers: o.headers,
      token: this._token,
      // The hub protocol (options.protocol, JSON by default), also this._p.
      _protocol: this._p = o.protocol || json,
    };
    // The per-connection state of stateful reconnect.
    this._reset(false);
    // A closed tab must not look like a cut link, which the server would keep for
    // the client to resume: say goodbye (keepalive lets the requests outlive the page).
    globalThis.addEventListener?.('pagehide', (/** @type {any} */ e) => e.persisted || (this._env._leaving = true, this.stop()));
  }

  /** True while the connection can carry messages. */
  get connected() { return this.state === 'connected'; }

  /**
   * Connects, if not connected or connecting already. Resolves once connected;
   * rejects if no transport works (the reconnect policy applies only to a
   * connection that was established and then lost).
   * @returns {Promise<void>}
   */
  start() {
    if (this.state === 'disconnected') {
      this._attempt = 0;
      this._started = this._loop(++this._gen);
      this._started.catch(() => {});
    }
    return /** @type {Promise<void>} */ (this._started);
  }

  /**
   * Closes the connection for good (until start is called again).
   * @returns {Promise<void>}
   */
  async stop() {
    if (this.state === 'disconnected') return;
    this._gen++;
    const probe = this._probe;
    if (probe) probe.t.close(), probe.hs(error('stopped'));
    const link = this._link;
    if (link) {
      // The server may end the transport as soon as it reads the Close: that is
      // not a loss to reconnect from (see _lost).
      this._stopping = true;
      try {
        await this._send({ type: CLOSE }).catch(() => {});
      } finally {
        this._stopping = false;
      }
      link.t.close();
    }
    this._finish();
  }

  /**
   * Registers a handler for a method the server calls on this client (matched
   * without regard to case). What a handler returns answers a server that waits
   * for a client result.
   * @param {string} method
   * @param {(...args: any[]) => any} handler
   */
  on(method, handler) {
    const key = method.toLowerCase();
    this._handlers.set(key, [...(this._handlers.get(key) || []), handler]);
    return this;
  }

  /**
   * Removes one handler, or every handler of the method.
   * @param {string} method
   * @param {(...args: any[]) => any} [handler]
   */
  off(method, handler) {
    const key = method.toLowerCase();
    const left = handler ? (this._handlers.get(key) || []).filter((h) => h !== handler) : [];
    left.length ? this._handlers.set(key, left) : this._handlers.delete(key);
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
   * @param {...any} args
   * @returns {Promise<any>}
   */
  invoke(method, ...args) { return this._call(method, args, this.options.timeout); }

  /**
   * Calls a hub method without waiting for it to run: resolves once sent.
   * @param {string} method
   * @param {...any} args
   * @returns {Promise<void>}
   */
  send(method, ...args) { return this._call(method, args, this.options.timeout, true); }

  /**
   * The same calls with a deadline: `await hub.timeout(5000).invoke('Echo', 1)`.
   * @param {number} ms
   */
  timeout(ms) {
    return {
      /** @param {string} method @param {...any} args */
      invoke: (method, ...args) => this._call(method, args, ms),
      /** @param {string} method @param {...any} args */
      send: (method, ...args) => this._call(method, args, ms, true),
    };
  }

  /**
   * Calls a streaming hub method. The result is an async iterator of its items;
   * `cancel()` (or leaving a for-await loop early) asks the server to stop.
   * @param {string} method
   * @param {...any} args
   */
  stream(method, ...args) {
    /** @type {IteratorResult<any>[]} */
    const queue = [];
    /** @type {[(r: IteratorResult<any>) => void, (e: Error) => void][]} */
    const waiting = [];
    /** @type {{error?: Error} | null} */
    let end = null;
    let id = '';
    const settle = () => {
      while (waiting.length && (queue.length || end)) {
        const [ok, fail] = /** @type {any[]} */ (waiting.shift());
        if (queue.length) ok(queue.shift());
        else end?.error ? fail(end.error) : ok({ done: true, value: undefined });
      }
    };
    /** @param {Error} [error] */
    const finish = (error) => {
      if (end) return;
      end = { error };
      this._pending.delete(id);
      settle();
    };
    /** @type {Pending} */
    const pending = {
      _item: (value) => { if (!end) queue.push({ value, done: false }), settle(); },
      _resolve: () => finish(),
      _reject: finish,
    };
    this._ready()
      .then(() => {
        if (end) return;
        id = '' + this._ids++;
        this._pending.set(id, pending);
        return this._invocation(STREAM_INVOCATION, id, method, args);
      })
      .catch(finish);
    const cancel = () => {
      if (end) return;
      if (this._pending.has(id)) this._send({ type: CANCEL_INVOCATION, invocationId: id }).catch(() => {});
      queue.length = 0;
      finish();
    };
    const it = {
      /** @returns {Promise<IteratorResult<any>>} */
      next: () => new Promise((ok, fail) => { waiting.push([ok, fail]); settle(); }),
      /** @returns {Promise<IteratorResult<any>>} */
      return: async () => (cancel(), { done: true, value: undefined }),
      cancel,
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  // ---------------------------------------------------------------------------

  /** @param {string} name @param {Function} fn */
  _listen(name, fn) {
    (this._events[name] ||= []).push(fn);
    return () => { this._events[name] = this._events[name].filter((f) => f !== fn); };
  }

  /** @param {string} name @param {any[]} args */
  _emit(name, ...args) {
    this._run(this._events[name], args, `'${name}' listener`);
  }

  /**
   * Calls each function with args; one that throws is logged, not propagated.
   * @param {Function[] | undefined} fns @param {any[]} args @param {string} what
   */
  _run(fns = [], args, what) {
    for (const fn of fns) {
      try { fn(...args); } catch (e) { this._log(ERROR, `${what} threw: ${e}`); }
    }
  }

  /** @param {number} level @param {string} message */
  _log(level, message) {
    this._logger.log(level, message);
  }

  /** @param {typeof this.state} state */
  _setState(state) {
    this.state = state;
    if (state === 'connected') this._waiters.splice(0).forEach(([ok]) => ok());
  }

  /** Resolves once connected, or while a lost link is resumed (sends are then buffered); waits while connecting or reconnecting. */
  _ready() {
    return this.state === 'connected' || this._held ? Promise.resolve()
      : this.state === 'disconnected' ? Promise.reject(error('not connected'))
      : new Promise((ok, fail) => { this._waiters.push([() => ok(undefined), fail]); });
  }

  /**
   * @param {string} method @param {any[]} args @param {number} ms
   * @param {boolean} [fireAndForget]
   */
  _call(method, args, ms, fireAndForget) {
    return new Promise((resolve, reject) => {
      let done = false;
      let id = '';
      /** @type {any} */
      let timer;
      /** @param {Function} settle */
      const end = (settle) => (/** @type {any} */ v) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this._pending.delete(id);
        settle(v);
      };
      /** @type {Pending} */
      const pending = {
        _resolve: end(resolve), _reject: end(reject),
        _item: () => pending._reject(error(`unexpected stream item for '${method}'; use stream()`)),
      };
      if (ms > 0) timer = setTimeout(() => pending._reject(error(`'${method}' timed out after ${ms} ms`, { name: 'TimeoutError' })), ms);
      this._ready()
        .then(async () => {
          if (done) return;
          if (fireAndForget) return this._invocation(INVOCATION, null, method, args).then(pending._resolve);
          id = '' + this._ids++;
          this._pending.set(id, pending);
          await this._invocation(INVOCATION, id, method, args);
        })
        .catch(pending._reject);
    });
  }

  /**
   * Sends an Invocation or StreamInvocation; async-iterable arguments become
   * upload streams.
   * @param {number} type @param {string | null} id @param {string} target @param {any[]} args
   */
  async _invocation(type, id, target, args) {
    /** @type {[string, AsyncIterable<any>][]} */
    const uploads = [];
    const plain = args.filter((a) => !(a?.[Symbol.asyncIterator] && uploads.push(['' + this._ids++, a])));
    /** @type {any} */
    const msg = { type, target, arguments: plain };
    if (id !== null) msg.invocationId = id;
    if (uploads.length) msg.streamIds = uploads.map(([sid]) => sid);
    await this._send(msg);
    for (const [sid, items] of uploads) this._upload(sid, items);
  }

  /** @param {string} invocationId @param {AsyncIterable<any>} items */
  async _upload(invocationId, items) {
    const id = this.connectionId;
    try {
      for await (const item of items) {
        if (this.connectionId !== id) return;
        await this._send({ type: STREAM_ITEM, invocationId, item });
      }
      await this._send({ type: COMPLETION, invocationId });
    } catch (e) {
      this._send({ type: COMPLETION, invocationId, error: String(/** @type {any} */ (e)?.message || e) }).catch(() => {});
    }
  }

  /**
   * Sends a message. On a stateful connection a trackable one is numbered and
   * kept until acked (waiting while the buffer is full), held while a lost link
   * is resumed, and a failed write loses the link rather than the message.
   * @param {any} msg
   */
  async _send(msg) {
    let text = this._p.write(msg), id = this.connectionId, n = 0;
    if (this._stateful && msg.type < PING) {
      while (this._bytes > this.options.statefulReconnectBufferSize) await new Promise((r) => this._room.push(r));
      if (id !== this.connectionId || !this._link && !this._held) throw error('not connected');
      this._buf.push([n = ++this._out, text]);
      this._bytes += text.length;
    }
    if (this._held) return;
    const link = this._link;
    if (!link) throw error('not connected');
    this._sentAt = Date.now();
    // A POST of a lost link may land after the replay: numbered, it is not run twice.
    if (n && link.name != WEBSOCKETS) text = this._p.join([this._p.write({ type: SEQUENCE, sequenceId: n }), text]);
    return link.t.send(text).catch((e) => (this._stateful ? this._cut(link, e) : Promise.reject(e)));
  }

  /**
   * Starts afresh the per-connection state of stateful reconnect.
   * @param {boolean} stateful
   */
  _reset(stateful) {
    this._stateful = stateful;
    /** @type {[number, any][]} sent trackable messages not yet acked: [number, record] */
    this._buf = [];
    // Trackable messages: received (the last one's number, the highest seen), sent,
    // bytes kept unacked, and bytes received since the last ack.
    /** @type {number} */
    this._in = 0;
    /** @type {number} */
    this._max = 0;
    /** @type {number} */
    this._out = 0;
    /** @type {number} */
    this._bytes = 0;
    /** @type {number} */
    this._since = 0;
    // Long polling acks with its next poll.
    this._env._ack = stateful ? () => this._max : undefined;
    // True from a lost link until the client has sent its Sequence on the resumed one.
    this._held = false;
    clearTimeout(this._ackT);
    /** @type {any} */
    this._ackT = 0;
    // Polls and sends are retried by the transport only without stateful reconnect;
    // with it, a failure loses the link and the connection resumes it.
    this._env._window = stateful ? 0 : this.options.reconnectWindow;
    this._room.splice(0).forEach((r) => r());
  }

  /** Acks what was received (stateful reconnect). */
  _ack() {
    clearTimeout(this._ackT);
    this._ackT = this._since = 0;
    this._send({ type: ACK, sequenceId: this._max }).catch(() => {});
  }

  /**
   * The link failed (a write, a parse, the server went silent): end it and resume or reconnect.
   * @param {Link} link @param {Error} e
   */
  _cut(link, e) {
    link.t.close(true);
    this._closed(link, e);
  }

  /**
   * Sends the client's Sequence and every unacked message on a resumed link.
   * @param {Link} link
   */
  async _replay(link) {
    // POSTs of the lost link still in flight must land before the replay.
    await this._old?.send._idle?.();
    if (link !== this._link) return;
    this._held = false;
    const buf = this._buf;
    link.t.send(this._p.join([this._p.write({ type: SEQUENCE, sequenceId: this._out - buf.length + 1 }), ...buf.map((m) => m[1])]))
      .catch((e) => this._cut(link, e));
  }

  /**
   * Connects (first start or a reconnect) and runs the backoff between attempts.
   * @param {number} gen
   * @param {Error | null} [lost] the reason, when reconnecting
   */
  async _loop(gen, lost) {
    const again = lost !== undefined;
    if (!again) this._setState('connecting');
    let failure = lost || undefined;
    for (;;) {
      if (again) {
        const delay = reconnectDelay(this._attempt++, this.options.reconnect, failure);
        if (delay === null) break;
        this._log(INFORMATION, `reconnect attempt ${this._attempt} in ${delay} ms`);
        await sleep(delay);
        if (gen !== this._gen) throw error('stopped');
      }
      try {
        const link = await this._connect(gen);
        this._connectedAt = Date.now();
        this._setState('connected');
        this._emit(again ? 'reconnected' : 'connected', this.connectionId, { resumed: false });
        // Messages that came in the same unit as the handshake reply.
        link._rest?.forEach((m) => this._message(link, m));
        return;
      } catch (e) {
        failure = /** @type {Error} */ (e);
        if (gen !== this._gen) throw e;
        if (!again || /** @type {any} */ (failure).fatal) break;
      }
    }
    this._finish(failure);
    throw failure;
  }

  /**
   * One attempt: negotiate, then try the transports in order until one
   * carries the handshake both ways; each retry negotiates again.
   * @param {number} gen
   */
  async _connect(gen) {
    let neg = await this._negotiate();
    const remembered = this._memory.get();
    const order = transportOrder(this._wanted, neg.transports, remembered, this._demoted)
      .filter((t) => t !== WEBSOCKETS || this._env.WebSocket);
    if (!order.length) throw error('no common transport', { fatal: true });
    if (order[0] === remembered && remembered !== this._wanted[0]) {
      this._log(INFORMATION, `trying ${remembered} first: it worked last time`);
    }
    // The keys of headers, joined by commas.
    if (order.includes(WEBSOCKETS) && /(^|,)authorization(,|$)/i.test(Object.keys(this._env.headers || {}) + '')) {
      this._log(WARNING, 'WebSockets cannot send headers: use accessTokenFactory');
    }
    const failures = [];
    for (let i = 0; i < order.length; i++) {
      if (gen !== this._gen) throw error('stopped');
      if (i) neg = await this._negotiate();
      try {
        const link = await this._open(gen, order[i], neg, i < order.length - 1 ? this.options.probeTimeout : this.options.handshakeTimeout);
        this._memory.set(order[i]);
        return link;
      } catch (e) {
        if (/** @type {any} */ (e).fatal) throw e;
        failures.push(`${order[i]} failed: ${/** @type {Error} */ (e).message}`);
        this._log(WARNING, failures[i] + (order[i + 1] ? '; trying ' + order[i + 1] : ''));
      }
    }
    throw error('no transport worked (' + failures.join('; ') + ')');
  }

  async _negotiate() {
    let url = this.url;
    for (let hop = 0; hop < 10; hop++) {
      const u = new URL(withQuery(url, { negotiateVersion: 1, ...(this.options.statefulReconnect && { useStatefulReconnect: true }) }));
      u.pathname = u.pathname.replace(/\/?$/, '/negotiate');
      if (!hop) this._env.token = this._token, await this._token(true);
      const res = await request(this._env, 'POST', withQuery(u.href, {
        negotiateVersion: 1, ...(this.options.statefulReconnect && { useStatefulReconnect: 'true' }),
      }));
      if (res.status !== 200) {
        await res.body?.cancel();
        throw Object.assign(httpError(res, 'negotiate failed'), { fatal: res.status === 401 || res.status === 403 });
      }
      const body = await res.json();
      if (body.error) throw error(body.error, { fatal: true });
      if (body.url) {
        url = body.url;
        if (body.accessToken) this._env.token = async () => body.accessToken;
        continue;
      }
      this.connectionId = body.connectionId;
      this._reset(!!(this.options.statefulReconnect && body.useStatefulReconnect));
      return {
        // The connection URL: the hub's, with the token that names the connection.
        url: withQuery(url, { id: body.connectionToken || body.connectionId }),
        /** @type {string[]} */
        transports: (body.availableTransports || [])
          .filter((/** @type {any} */ t) => t.transferFormats.includes(this._p.format))
          .map((/** @type {any} */ t) => t.transport),
      };
    }
    throw error('too many redirects');
  }

  /**
   * Opens one transport and runs the handshake. Opening and the handshake reply
   * each have `deadline` ms: a buffering proxy stalls the first, a proxy that
   * drops WebSocket frames the second. A resumed link has no handshake: it is
   * the current link at once, and waits for the server's Sequence.
   * @param {number} gen @param {string} name @param {{url: string}} neg the connection URL (with ?id=) @param {number} deadline
   * @param {boolean} [resume]
   */
  async _open(gen, name, neg, deadline, resume) {
    /** @type {any} */
    let timer;
    /** @type {Link} */
    const link = /** @type {any} */ ({ name, r: resume, w: resume });
    /** @param {string} what */
    const arm = (what) => {
      clearTimeout(timer);
      timer = setTimeout(() => link.hs(new Error(`${what} within ${deadline} ms`)), deadline);
    };
    const shaken = new Promise((ok, fail) => {
      link.hs = (e) => (e ? fail(e) : ok(undefined));
    });
    arm('not open');
    this._probe = link;
    if (resume) this._link = link;
    link.t = OPEN[name](neg.url, this._env, (text) => this._data(link, text), (e) => this._closed(link, e), resume);
    try {
      await Promise.race([link.t.ready, shaken]);
      if (gen !== this._gen) throw error('stopped');
      if (resume) {
        link.ok = true;
        // Over WebSockets nothing races the client's Sequence: send it at once.
        if (name === WEBSOCKETS) this._replay(link);
      } else {
        arm('opened, but no handshake reply');
        link.t.send(handshake(this._stateful ? 2 : 1, this._p.name)).catch(link.hs);
        await shaken;
        if (gen !== this._gen) throw error('stopped');
      }
    } catch (e) {
      if (this._link === link) this._link = null;
      link.t.close(resume);
      throw e;
    } finally {
      clearTimeout(timer);
      this._probe = null;
    }
    this._link = link;
    /** @type {{url: string}} where the connection lives: its URL, with ?id= */
    this._neg = neg;
    this.transport = name;
    this._sentAt = this._seenAt = Date.now();
    if (name !== LONG_POLLING) {
      const every = Math.min(1000, this.options.keepAliveInterval / 2);
      link._timer = setInterval(() => this._tick(link), every);
    }
    return link;
  }

  /** Pings a quiet server and notices a silent one (WebSockets and SSE). @param {Link & {_timer?: any}} link */
  _tick(link) {
    const now = Date.now();
    if (now - /** @type {number} */ (this._seenAt) > this.options.serverTimeout) {
      this._cut(link, error('server timeout'));
    } else if (now - /** @type {number} */ (this._sentAt) >= this.options.keepAliveInterval) {
      this._send({ type: PING }).catch(() => {});
    }
  }

  /** @param {Link} link @param {any} text a delivery unit: a string, an ArrayBuffer or a Uint8Array */
  _data(link, text) {
    if (link === this._link) this._seenAt = Date.now();
    try {
      if (!link.ok && !link.r) {
        const [refused, rest] = parseHandshake(text, this._p);
        if (refused) return link.hs(error('handshake refused: ' + refused, { fatal: true }));
        link.ok = true;
        link._rest = rest;
        return link.hs();
      }
      this._p.parse(text).forEach((/** @type {any} */ m) => this._message(link, m));
      if (this._stateful && link.name != LONG_POLLING) {
        this._since += text.length ?? text.byteLength;
        if (this._since >= ACK_BYTES) this._ack();
        else this._ackT ||= setTimeout(() => this._ack(), ACK_DELAY);
      }
    } catch (e) {
      this._cut(link, /** @type {Error} */ (e));
    }
  }

  /** @param {Link} link @param {Error} [e] */
  _closed(link, e) {
    if (!link.ok) return link.hs(e || error('closed early'));
    this._lost(link, e);
  }

  /** @param {Link} link @param {any} m */
  _message(link, m) {
    if (link !== this._link) return;
    if (this._stateful) {
      if (m.type === SEQUENCE) {
        // Past a gap: over HTTP an answer can be lost unseen (a browser sends a
        // failed poll again by itself), so resume; over WebSockets it is fatal.
        if (m.sequenceId > this._max + 1) {
          return this._cut(link, error('Sequence ID too high', link.name == WEBSOCKETS ? { status: 404 } : {}));
        }
        this._in = m.sequenceId - 1;
        if (link.w) {
          link.w = false;
          if (this._held) this._replay(link);
          this._setState('connected');
          this._emit('reconnected', this.connectionId, { resumed: true });
        }
        return;
      }
      // Everything before the server's Sequence on a resumed link is stale; then duplicates.
      if (link.w) return;
      if (m.type < PING) {
        if (++this._in <= this._max) return;
        this._max = this._in;
      }
    }
    const pending = this._pending.get(m.invocationId);
    switch (m.type) {
      case INVOCATION: return this._invoked(m);
      case STREAM_ITEM: return pending?._item?.(m.item);
      case COMPLETION:
        return pending && (m.error ? pending._reject(error(m.error, { name: 'HubError' })) : pending._resolve(m.result));
      case ACK:
        while (this._buf[0]?.[0] <= m.sequenceId) this._bytes -= /** @type {any} */ (this._buf.shift())[1].length;
        return this._room.splice(0).forEach((r) => r());
      case CLOSE:
        link._closeMsg = true;
        link.t.close();
        return this._lost(link, m.error ? error('server closed: ' + m.error) : undefined, m.allowReconnect);
    }
  }

  /** A call from the server; one with an invocationId waits for a result. @param {any} m */
  _invoked(m) {
    const handlers = this._handlers.get(String(m.target).toLowerCase()) || [];
    if (m.invocationId == null) return this._run(handlers, m.arguments, `'${m.target}' handler`);
    const reply = (/** @type {object} */ r) => this._send({ type: COMPLETION, invocationId: m.invocationId, ...r }).catch(() => {});
    (async () => {
      if (!handlers.length) throw new Error("Client didn't provide a result.");
      return handlers[0](...m.arguments);
    })().then((result) => reply({ result: result ?? null }), (e) => reply({ error: String(e?.message || e) }));
  }

  /**
   * An established link ended: resume it (stateful reconnect) or reconnect,
   * unless told not to.
   * @param {Link & {_timer?: any}} link @param {Error} [reason] @param {boolean} [allowReconnect]
   */
  _lost(link, reason, allowReconnect = true) {
    if (link !== this._link || this._stopping) return;
    clearInterval(link._timer);
    this._link = this.transport = null;
    const lived = Date.now() - /** @type {number} */ (this._connectedAt);
    if (lived > STABLE) this._attempt = 0;
    const short = !link._closeMsg && lived < SHORT_LIVED;
    if (short && /** @type {any} */ (this)._lastShort === link.name && !this._demoted.has(link.name)) {
      this._demoted.add(link.name);
      this._log(WARNING, link.name + ' lost twice soon after opening: trying it last');
    }
    /** @type {string | null} the transport lost early last time */
    this._lastShort = short ? link.name : null;
    const resume = this._stateful && !link._closeMsg && !gone(reason);
    if (!allowReconnect || !resume && this.options.reconnect === false) return this._finish(reason);
    this._log(INFORMATION, `${link.name} lost${reason ? ` (${reason.message})` : ''}: ${resume ? 'resuming' : 'reconnecting'}`);
    if (this.state !== 'reconnecting') {
      this._setState('reconnecting');
      this._emit('reconnecting', reason);
    }
    this._old = link.t;
    resume ? this._resume(link.name, reason) : this._renew(reason);
  }

  /**
   * Resumes a lost link on the same connection: new links on the same
   * transport with a short backoff for up to reconnectWindow, then a new
   * connection if the server does not know this one any more.
   * @param {string} name @param {Error} [reason]
   */
  async _resume(name, reason) {
    const gen = this._gen, o = this.options, t0 = Date.now();
    this._held = true;
    for (let n = 0; Date.now() - t0 < o.reconnectWindow;) {
      await sleep(cutDelay(n++));
      if (gen !== this._gen) return;
      try {
        return void await this._open(gen, name, this._neg, o.handshakeTimeout, true);
      } catch (e) {
        if (gen !== this._gen) return;
        reason = /** @type {any} */ (e);
        // A browser does not say why a WebSocket failed to open: ask over HTTP, where
        // a connection the server knows answers 405 to a POST, and one it does not 404.
        if (name === WEBSOCKETS && !(/** @type {any} */ (e).status)) {
          /** @type {any} */ (e).status = await request(this._env, 'POST', this._neg.url)
            .then((r) => (r.body?.cancel(), r.status), () => 0);
        }
        if (gone(e)) break;
      }
    }
    this._log(INFORMATION, 'could not resume: starting a new connection');
    this._renew(reason);
  }

  /**
   * Gives up on the connection's state and starts a new connection.
   * @param {Error} [reason]
   */
  _renew(reason) {
    this._held = false;
    const e = reason || error('connection lost');
    this._pending.forEach((p) => p._reject(e));
    if (this.options.reconnect === false) return this._finish(reason);
    this._loop(this._gen, reason || null).catch(() => {});
  }

  /** @param {Error} [reason] */
  _finish(reason) {
    clearInterval(this._link?._timer);
    this._link = this.transport = null;
    this._reset(false);
    this._setState('disconnected');
    if (reason) this._log(ERROR, 'closed: ' + reason.message);
    const e = reason || error('connection closed');
    this._waiters.splice(0).forEach(([, fail]) => fail(e));
    this._pending.forEach((p) => p._reject(e));
    this._emit('close', reason);
  }
}

/**
 * Creates a connection to a hub and starts connecting at once. Calls made
 * before it is connected wait for it.
 * @param {string} url
 * @param {object} [options]
 */
export function connect(url, options) {
  const hub = new HubConnection(url, options);
  hub.start();
  return hub;
}
