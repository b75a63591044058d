// The hub connection: negotiate, choose and probe a transport, run the hub
// protocol over it (invocations, streams both ways, client results, pings),
// and reconnect with backoff when an established connection is lost.
//
// A transport counts as working only when the server's handshake reply has
// come back over it within a deadline: a proxy may complete a WebSocket
// upgrade and then drop frames, or buffer an SSE response, and the transport
// "opens" all the same. What worked is remembered per origin.

import { reconnectDelay } from './backoff.js';
import { defaultStorage, LONG_POLLING, SSE, transportMemory, transportNames, transportOrder, WEBSOCKETS } from './choice.js';
import { httpError, request, withQuery } from './http.js';
import { longPolling } from './longpolling.js';
import {
  CANCEL_INVOCATION, CLOSE, COMPLETION, frame, HANDSHAKE, INVOCATION, parse, parseHandshake, PING,
  STREAM_INVOCATION, STREAM_ITEM,
} from './protocol.js';
import { serverSentEvents } from './sse.js';
import { webSocket } from './websocket.js';

/** @type {Record<string, typeof webSocket>} */
const OPEN = { [WEBSOCKETS]: webSocket, [SSE]: serverSentEvents, [LONG_POLLING]: longPolling };

/** A connection that lived this long resets the reconnect backoff. */
const STABLE = 5000;
/** A transport lost twice in a row, each time sooner than this after it opened and without a Close from the server, is tried last from then on. */
const SHORT_LIVED = 60000;

/** @param {string} message @param {object} [more] */
const error = (message, more) => Object.assign(new Error('hubbub: ' + message), more);

/**
 * @typedef {import('./backoff.js').ReconnectPolicy} ReconnectPolicy
 * @typedef {{t: import('./websocket.js').Transport, name: string, ok?: boolean, hs: (e?: Error) => void,
 *   closeMsg?: boolean, rest?: any[], timer?: any}} Link
 * @typedef {{resolve: (v: any) => void, reject: (e: Error) => void, item?: (v: any) => void}} Pending
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
    /** @type {Map<string, Function[]>} */
    this._handlers = new Map();
    /** @type {Record<string, Function[]>} */
    this._events = { connected: [], reconnecting: [], reconnected: [], close: [] };
    /** @type {Map<string, Pending>} */
    this._pending = new Map();
    /** @type {[() => void, (e: Error) => void][]} */
    this._waiters = [];
    this._ids = 0;
    this._gen = 0;
    /** True while stop() sends the Close message: a transport ending then is not lost. */
    this._stopping = false;
    this._attempt = 0;
    /** @type {Set<string>} */
    this._demoted = new Set();
    /** @type {string | null} */
    this._lastShort = null;
    /** @type {Link | null} */
    this._link = null;
    /** @type {Link | null} */
    this._probe = null;
    /** @type {Promise<void> | undefined} */
    this._started = undefined;
    this._sentAt = this._seenAt = this._connectedAt = 0;
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
      window: o.reconnectWindow,
    };
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
  /** @param {(connectionId: string) => void} fn @returns {() => void} */
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
      item: (value) => { if (!end) queue.push({ value, done: false }), settle(); },
      resolve: () => finish(),
      reject: finish,
    };
    this._ready()
      .then(() => {
        if (end) return;
        id = String(this._ids++);
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
    this._events[name].push(fn);
    return () => { this._events[name] = this._events[name].filter((f) => f !== fn); };
  }

  /** @param {string} name @param {any[]} args */
  _emit(name, ...args) {
    for (const fn of this._events[name]) {
      try { fn(...args); } catch (e) { console.error(e); }
    }
  }

  /** @param {typeof this.state} state */
  _setState(state) {
    this.state = state;
    if (state === 'connected') this._waiters.splice(0).forEach(([ok]) => ok());
  }

  /** Resolves once connected; waits while connecting or reconnecting. */
  _ready() {
    return this.state === 'connected' ? Promise.resolve()
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
        resolve: end(resolve), reject: end(reject),
        item: () => pending.reject(error(`unexpected stream item for '${method}'; use stream()`)),
      };
      if (ms > 0) timer = setTimeout(() => pending.reject(error(`'${method}' timed out after ${ms} ms`, { name: 'TimeoutError' })), ms);
      this._ready()
        .then(async () => {
          if (done) return;
          if (fireAndForget) return this._invocation(INVOCATION, null, method, args).then(pending.resolve);
          id = String(this._ids++);
          this._pending.set(id, pending);
          await this._invocation(INVOCATION, id, method, args);
        })
        .catch(pending.reject);
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
    const plain = args.filter((a) => !(a?.[Symbol.asyncIterator] && uploads.push([String(this._ids++), a])));
    /** @type {any} */
    const msg = { type, target, arguments: plain };
    if (id !== null) msg.invocationId = id;
    if (uploads.length) msg.streamIds = uploads.map(([sid]) => sid);
    await this._send(msg);
    for (const [sid, items] of uploads) this._upload(sid, items);
  }

  /** @param {string} invocationId @param {AsyncIterable<any>} items */
  async _upload(invocationId, items) {
    const link = this._link;
    try {
      for await (const item of items) {
        if (this._link !== link) return;
        await this._send({ type: STREAM_ITEM, invocationId, item });
      }
      await this._send({ type: COMPLETION, invocationId });
    } catch (e) {
      this._send({ type: COMPLETION, invocationId, error: String(/** @type {any} */ (e)?.message || e) }).catch(() => {});
    }
  }

  /** @param {object} msg */
  _send(msg) {
    const link = this._link;
    if (!link) return Promise.reject(error('not connected'));
    this._sentAt = Date.now();
    return link.t.send(frame(msg));
  }

  /**
   * Connects (first start or a reconnect) and runs the backoff between attempts.
   * @param {number} gen
   * @param {Error | null} [lost] the reason, when reconnecting
   */
  async _loop(gen, lost) {
    const again = lost !== undefined;
    this._setState(again ? 'reconnecting' : 'connecting');
    if (again) this._emit('reconnecting', lost || undefined);
    let failure = lost || undefined;
    for (;;) {
      if (again) {
        const delay = reconnectDelay(this._attempt++, this.options.reconnect, failure);
        if (delay === null) break;
        await new Promise((r) => setTimeout(r, delay));
        if (gen !== this._gen) throw error('stopped');
      }
      try {
        const link = await this._connect(gen);
        this._connectedAt = Date.now();
        this._setState('connected');
        this._emit(again ? 'reconnected' : 'connected', this.connectionId, { resumed: false });
        // Messages that came in the same unit as the handshake reply.
        link.rest?.forEach((m) => this._message(link, m));
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
    const order = transportOrder(this._wanted, neg.transports, this._memory.get(), this._demoted)
      .filter((t) => t !== WEBSOCKETS || this._env.WebSocket);
    if (!order.length) throw error('the server offers none of the transports this client may use', { fatal: true });
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
        failures.push(`${order[i]}: ${/** @type {Error} */ (e).message}`);
      }
    }
    throw error('no transport worked (' + failures.join('; ') + ')');
  }

  async _negotiate() {
    let url = this.url;
    for (let hop = 0; hop < 10; hop++) {
      const u = new URL(url);
      u.pathname = u.pathname.replace(/\/?$/, '/negotiate');
      u.searchParams.set('negotiateVersion', '1');
      if (!hop) this._env.token = this._token, await this._token(true);
      const res = await request(this._env, 'POST', u.href);
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
      return {
        url,
        id: body.connectionToken || body.connectionId,
        /** @type {string[]} */
        transports: (body.availableTransports || [])
          .filter((/** @type {any} */ t) => t.transferFormats.includes('Text'))
          .map((/** @type {any} */ t) => t.transport),
      };
    }
    throw error('too many negotiate redirects');
  }

  /**
   * Opens one transport and runs the handshake. Opening and the handshake reply
   * each have `deadline` ms: a buffering proxy stalls the first, a proxy that
   * drops WebSocket frames the second.
   * @param {number} gen @param {string} name @param {{url: string, id: string}} neg @param {number} deadline
   */
  async _open(gen, name, neg, deadline) {
    /** @type {any} */
    let timer;
    /** @type {Link} */
    const link = /** @type {any} */ ({ name });
    /** @param {string} what */
    const arm = (what) => {
      clearTimeout(timer);
      timer = setTimeout(() => link.hs(error(`${name}: ${what} within ${deadline} ms`)), deadline);
    };
    const handshake = new Promise((ok, fail) => {
      link.hs = (e) => (e ? fail(e) : ok(undefined));
    });
    arm('not open');
    this._probe = link;
    link.t = OPEN[name](withQuery(neg.url, { id: neg.id }), this._env, (text) => this._data(link, text), (e) => this._closed(link, e));
    try {
      await Promise.race([link.t.ready, handshake]);
      if (gen !== this._gen) throw error('stopped');
      arm('no handshake reply');
      link.t.send(HANDSHAKE).catch(link.hs);
      await handshake;
      if (gen !== this._gen) throw error('stopped');
    } catch (e) {
      link.t.close();
      throw e;
    } finally {
      clearTimeout(timer);
      this._probe = null;
    }
    this._link = link;
    this.transport = name;
    this._sentAt = this._seenAt = Date.now();
    if (name !== LONG_POLLING) {
      const every = Math.min(1000, this.options.keepAliveInterval / 2);
      link.timer = setInterval(() => this._tick(link), every);
    }
    return link;
  }

  /** Pings a quiet server and notices a silent one (WebSockets and SSE). @param {Link & {timer?: any}} link */
  _tick(link) {
    const now = Date.now();
    if (now - /** @type {number} */ (this._seenAt) > this.options.serverTimeout) {
      link.t.close();
      this._lost(link, error('server timeout: nothing received for ' + this.options.serverTimeout + ' ms'));
    } else if (now - /** @type {number} */ (this._sentAt) >= this.options.keepAliveInterval) {
      this._send({ type: PING }).catch(() => {});
    }
  }

  /** @param {Link} link @param {string} text */
  _data(link, text) {
    if (link === this._link) this._seenAt = Date.now();
    try {
      if (!link.ok) {
        const { error: refused, rest } = parseHandshake(text);
        if (refused) return link.hs(error('server refused the handshake: ' + refused, { fatal: true }));
        link.ok = true;
        link.rest = rest;
        return link.hs();
      }
      parse(text).forEach((m) => this._message(link, m));
    } catch (e) {
      link.t.close();
      this._closed(link, /** @type {Error} */ (e));
    }
  }

  /** @param {Link} link @param {Error} [e] */
  _closed(link, e) {
    if (!link.ok) return link.hs(e || error('transport closed before the handshake'));
    this._lost(link, e);
  }

  /** @param {Link} link @param {any} m */
  _message(link, m) {
    if (link !== this._link) return;
    const pending = this._pending.get(m.invocationId);
    switch (m.type) {
      case INVOCATION: return this._invoked(m);
      case STREAM_ITEM: return pending?.item?.(m.item);
      case COMPLETION:
        return pending && (m.error ? pending.reject(error(m.error, { name: 'HubError' })) : pending.resolve(m.result));
      case CLOSE:
        link.closeMsg = true;
        link.t.close();
        return this._lost(link, m.error ? error('server closed the connection: ' + m.error) : undefined, m.allowReconnect);
    }
  }

  /** A call from the server; one with an invocationId waits for a result. @param {any} m */
  _invoked(m) {
    const handlers = this._handlers.get(String(m.target).toLowerCase()) || [];
    if (m.invocationId == null) {
      for (const h of handlers) {
        try { h(...m.arguments); } catch (e) { console.error(e); }
      }
      return;
    }
    const reply = (/** @type {object} */ r) => this._send({ type: COMPLETION, invocationId: m.invocationId, ...r }).catch(() => {});
    (async () => {
      if (!handlers.length) throw new Error("Client didn't provide a result.");
      return handlers[0](...m.arguments);
    })().then((result) => reply({ result: result === undefined ? null : result }), (e) => reply({ error: String(e?.message || e) }));
  }

  /**
   * An established connection ended: reconnect unless told not to.
   * @param {Link & {timer?: any}} link @param {Error} [reason] @param {boolean} [allowReconnect]
   */
  _lost(link, reason, allowReconnect = true) {
    if (link !== this._link || this._stopping) return;
    clearInterval(link.timer);
    this._link = null;
    this.transport = null;
    const lived = Date.now() - /** @type {number} */ (this._connectedAt);
    if (lived > STABLE) this._attempt = 0;
    const short = !link.closeMsg && lived < SHORT_LIVED;
    if (short && this._lastShort === link.name) this._demoted.add(link.name);
    this._lastShort = short ? link.name : null;
    const e = reason || error('connection lost');
    this._pending.forEach((p) => p.reject(e));
    if (!allowReconnect || this.options.reconnect === false) return this._finish(reason);
    this._loop(this._gen, reason || null).catch(() => {});
  }

  /** @param {Error} [reason] */
  _finish(reason) {
    const link = this._link;
    this._link = null;
    if (link) clearInterval(/** @type {any} */ (link).timer);
    this.transport = null;
    this._setState('disconnected');
    const e = reason || error('connection closed');
    this._waiters.splice(0).forEach(([, fail]) => fail(e));
    this._pending.forEach((p) => p.reject(e));
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
