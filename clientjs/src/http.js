// HTTP plumbing shared by negotiate, Server-Sent Events and long polling:
// requests with the protocol's headers and a bearer token, and the POST sender
// that keeps one send in flight and batches what queues up meanwhile (servers
// answer 409 to concurrent sends on one connection).

/** @typedef {import('./protocol.js').HubRecord} HubRecord */
/** @typedef {import('./protocol.js').Delivery} Delivery */

/**
 * An error of the client, or one that says more: `fatal` ends the connection
 * attempts, `status` is an HTTP status (400 and 404: the server does not know
 * the connection; 1: the transport was closed).
 * @typedef {Error & {fatal?: boolean, status?: number}} HubError
 */

/**
 * A WebSocket constructor: the browser's, or one with its API (the ws package in Node).
 * @typedef {new (url: string) => WebSocket} WebSocketClass
 */

/**
 * What the connection hands to its transports.
 * @typedef {object} Env
 * @property {(url: string, init?: RequestInit) => Promise<Response>} _fetch
 * @property {WebSocketClass | undefined} _webSocket
 * @property {RequestCredentials} _credentials
 * @property {(refresh?: boolean) => Promise<string | null | undefined>} _token the access token (cached; refresh calls the factory again)
 * @property {Record<string, string>} [_headers] extra headers for every HTTP request
 * @property {number} [_window] ms to keep retrying polls and sends that a proxy or the network cut (0: fail at once)
 * @property {() => number} [_ack] stateful long polling: the number each poll acks
 * @property {boolean} [_leaving] the page is going away: requests are keepalive
 * @property {import('./protocol.js').HubProtocol} _protocol the hub protocol: its transfer format, how records join
 */

/**
 * What a transport hands back to the connection.
 * @typedef {object} Transport
 * @property {Promise<void>} _ready resolves once the transport is open (before the hub handshake)
 * @property {Sender} _send sends one record or a delivery unit of records
 * @property {(lost?: boolean) => void} _close ends the transport; onClose is not called afterwards (lost: the link was lost, the connection lives on)
 */

/**
 * A transport's send; over HTTP it also has _idle, which resolves when no POST is in flight.
 * @typedef {((record: HubRecord) => Promise<void>) & {_idle?: () => Promise<void> | undefined}} Sender
 */

/**
 * Opens a transport on the connection URL (the hub URL with ?id=).
 * @callback OpenTransport
 * @param {string} url
 * @param {Env} env
 * @param {(data: Delivery) => void} onData one delivery unit: one or more records
 * @param {(error?: Error) => void} onClose the transport ended after it opened (no error: the server closed it normally)
 * @param {boolean} [resume] it resumes a stateful connection
 * @returns {Transport}
 */

/**
 * The transport was closed: not a cut, so not retried.
 * @returns {HubError}
 */
export const closedError = () => Object.assign(new Error('closed'), { status: 1 });

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The short backoff of retry n (0-based) on a cut link: 0, 250, 500, 1000, then 2000 ms. @param {number} n */
export const cutDelay = (n) => n && Math.min(2000, 125 << n);

/**
 * Runs fn until it succeeds. A failure that is a cut (a network error, 409, or
 * 5xx such as a proxy's 502/503/504) is retried after 0, 250, 500, 1000, then
 * 2000 ms, for up to `window` ms; any other failure (404: the server no longer
 * knows the connection) is thrown at once.
 * @template T
 * @param {() => Promise<T>} fn
 * @param {number} [window]
 * @returns {Promise<T>}
 */
export async function persist(fn, window = 0) {
  for (let n = 0, t0 = Date.now(); ; n++) {
    try {
      return await fn();
    } catch (e) {
      // A network error (or an abort) has no status: undefined < 500 is false,
      // so it counts as a cut, as 409 and 5xx do.
      const status = /** @type {{status: number}} */ (e).status;
      if ((status < 500 && status !== 409) || Date.now() - t0 >= window) throw e;
      await sleep(cutDelay(n));
    }
  }
}

/**
 * Adds query parameters to a URL.
 * @param {string} url
 * @param {Record<string, string | number | boolean>} params
 */
export function withQuery(url, params) {
  const u = new URL(url);
  // set converts a number or boolean to a string itself (as String does): the
  // cast says what it becomes.
  for (const k in params) u.searchParams.set(k, /** @type {string} */ (params[k]));
  return u.href;
}

/**
 * The URL with the access token in the access_token query parameter, where
 * browsers cannot set headers (the WebSocket upgrade) and where the official
 * client puts it because EventSource cannot (the SSE stream).
 * @param {Env} env
 * @param {string} url
 */
export async function withToken(env, url) {
  const token = await env._token();
  return withQuery(url, token ? { access_token: token } : {});
}

/**
 * Sends one HTTP request to the hub, with the user's headers and the bearer
 * token. A 401 asks the token factory for a fresh token and tries once more.
 * @param {Env} env
 * @param {string} method
 * @param {string} url
 * @param {HubRecord} [body]
 * @param {AbortSignal} [signal]
 * @param {string} [accept] the Accept header (the SSE stream's)
 * @returns {Promise<Response>}
 */
export async function request(env, method, url, body, signal, accept) {
  for (let retry = 0; ; retry++) {
    const token = await env._token(retry > 0);
    const res = await env._fetch(url, {
      method, body, signal, credentials: env._credentials, keepalive: env._leaving,
      headers: {
        'X-Requested-With': 'XMLHttpRequest',
        ...(body != null && { 'Content-Type': 'text/plain;charset=UTF-8' }),
        ...(accept && { Accept: accept }),
        ...env._headers,
        ...(token && { Authorization: 'Bearer ' + token }),
      },
    });
    if (res.status !== 401 || retry) return res;
    await res.body?.cancel();
  }
}

/**
 * An error for an HTTP status the protocol does not expect.
 * @param {Response} res
 * @param {string} what what failed
 * @returns {HubError}
 */
export const httpError = (res, what) => Object.assign(new Error(`${what}: HTTP ${res.status}`), { status: res.status });

/**
 * Returns a send function that POSTs records to the connection URL, one request at
 * a time, batching the records queued while one is in flight. A POST that is
 * cut is sent again for up to env._window ms. Once the transport is closed,
 * nothing more is sent: a resumed link replays what was not acked, and a
 * late POST from the old link would arrive after that replay as new messages
 * (so the replay also waits for `idle()`: no POST of the old link in flight).
 * @param {Env} env
 * @param {string} url
 * @param {() => boolean} closed
 * @returns {Sender}
 */
export function poster(env, url, closed) {
  /** @type {{_record: HubRecord, _ok: () => void, _fail: (e: unknown) => void}[]} records waiting for a POST */
  const queue = [];
  /** @type {Promise<void> | undefined} the flush under way */
  let busy;

  async function flush() {
    while (queue.length) {
      // At most 64 KiB a POST (servers cap a body), but at least one record: a larger one goes alone.
      let n = 0;
      let size = 0;
      while (n < queue.length) {
        size += queue[n]._record.length;
        if (n && size > 65536) break;
        n++;
      }
      const batch = queue.splice(0, n);
      try {
        await persist(async () => {
          if (closed()) throw closedError();
          const res = await request(env, 'POST', url, env._protocol.join(batch.map((b) => b._record)));
          await res.text();
          if (!res.ok) throw httpError(res, 'send failed');
        }, env._window);
        batch.forEach((b) => b._ok());
      } catch (e) {
        batch.forEach((b) => b._fail(e));
      }
    }
    busy = undefined;
  }

  /** @type {Sender} */
  const send = (record) => new Promise((ok, fail) => {
    queue.push({ _record: record, _ok: ok, _fail: fail });
    busy ||= flush();
  });
  send._idle = () => busy;
  return send;
}
