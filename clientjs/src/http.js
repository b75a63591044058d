// HTTP plumbing shared by negotiate, Server-Sent Events and long polling:
// requests with the protocol's headers and a bearer token, and the POST sender
// that keeps one send in flight and batches what queues up meanwhile (servers
// answer 409 to concurrent sends on one connection).

/**
 * What the connection hands to its transports.
 * @typedef {object} Env
 * @property {(url: string, init?: RequestInit) => Promise<Response>} _fetch
 * @property {any} _webSocket a WebSocket constructor, or undefined
 * @property {RequestCredentials} _credentials
 * @property {(refresh?: boolean) => Promise<string | null | undefined>} _token the access token (cached; refresh calls the factory again)
 * @property {Record<string, string>} [_headers] extra headers for every HTTP request
 * @property {number} [_window] ms to keep retrying polls and sends that a proxy or the network cut (0: fail at once)
 * @property {() => number} [_ack] stateful long polling: the number each poll acks
 * @property {boolean} [_leaving] the page is going away: requests are keepalive
 * @property {import('./protocol.js').HubProtocol} _protocol the hub protocol: its transfer format, how records join
 */

/** The transport was closed: not a cut, so not retried. */
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
      const status = /** @type {any} */ (e).status;
      if (status < 500 && status !== 409 || Date.now() - t0 >= window) throw e;
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
  // set converts the value to a string itself (as String does).
  for (const k in params) u.searchParams.set(k, /** @type {any} */ (params[k]));
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
 * @param {string} [body]
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

/** An error for an HTTP status the protocol does not expect. */
export const httpError = (/** @type {Response} */ res, /** @type {string} */ what) =>
  Object.assign(new Error(`${what}: HTTP ${res.status}`), { status: res.status });

/**
 * Returns a send function that POSTs text to the connection URL, one request at
 * a time, batching the records queued while one is in flight. A POST that is
 * cut is sent again for up to env._window ms. Once the transport is closed,
 * nothing more is sent: a resumed link replays what was not acked, and a
 * late POST from the old link would arrive after that replay as new messages
 * (so the replay also waits for `idle()`: no POST of the old link in flight).
 * @param {Env} env
 * @param {string} url
 * @param {() => boolean} closed
 * @returns {((text: string) => Promise<void>) & {_idle?: () => Promise<void> | undefined}}
 */
export function poster(env, url, closed) {
  /** @type {{_text: string, _ok: () => void, _fail: (e: any) => void}[]} */
  let queue = [];
  /** @type {Promise<void> | undefined} */
  let busy;
  async function flush() {
    while (queue.length) {
      // At most 64 KiB a POST (one larger record alone): servers cap a body.
      let n = 0, size = 0;
      while (n < queue.length && ((size += queue[n]._text.length) <= 65536 || !n)) n++;
      const batch = queue.splice(0, n);
      try {
        await persist(async () => {
          if (closed()) throw closedError();
          const res = await request(env, 'POST', url, env._protocol.join(batch.map((b) => b._text)));
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
  /** @type {((text: string) => Promise<void>) & {_idle?: () => Promise<void> | undefined}} */
  const send = (text) => new Promise((ok, fail) => {
    queue.push({ _text: text, _ok: ok, _fail: fail });
    busy ||= flush();
  });
  send._idle = () => busy;
  return send;
}
