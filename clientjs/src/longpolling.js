// The long-polling transport. A poll that a proxy cuts after holding it (a
// network error after a while) is simply sent again at once; polls that fail
// fast are retried with a short backoff and, after a few, end the transport.

import { httpError, poster, request, withQuery } from './http.js';

/** A poll held this long before it failed was cut by something in between. */
const HELD = 1000;
/** Polls that fail fast (or get 409) in a row before the transport gives up. */
const RETRIES = 3;
/** The client gives up on one poll after this long, as SignalR's client does. */
const POLL_TIMEOUT = 100000;

/**
 * Starts long polling on the connection URL. The first poll returns at once
 * and opens the transport.
 * @param {string} url
 * @param {import('./http.js').Env} env
 * @param {(text: string) => void} onData one poll response: one or more records
 * @param {(error?: Error) => void} onClose polling ended (204: the server closed the connection)
 * @returns {import('./websocket.js').Transport}
 */
export function longPolling(url, env, onData, onClose) {
  let closed = false;
  /** @type {AbortController} */
  let abort;

  async function poll() {
    abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), POLL_TIMEOUT);
    try {
      const res = await request(env, 'GET', withQuery(url, { _: Date.now() }), undefined, abort.signal);
      return { status: res.status, body: await res.text(), res };
    } finally {
      clearTimeout(timer);
    }
  }

  const ready = poll().then(({ res }) => {
    if (res.status !== 200) throw httpError(res, 'long polling failed to connect');
    loop();
  });

  async function loop() {
    let failures = 0;
    /** @param {Error} error */
    const retry = async (error) => {
      if (++failures > RETRIES) return end(error), false;
      await new Promise((r) => setTimeout(r, 100 << failures));
      return true;
    };
    while (!closed) {
      const started = Date.now();
      let r;
      try {
        r = await poll();
      } catch (e) {
        if (closed || Date.now() - started >= HELD || await retry(/** @type {Error} */ (e))) continue;
        return;
      }
      if (closed) return;
      if (r.status === 204) return end();
      if (r.status === 409 && await retry(httpError(r.res, 'poll failed'))) continue;
      if (r.status !== 200) return end(httpError(r.res, 'poll failed'));
      failures = 0;
      if (r.body) onData(r.body);
    }
  }

  /** @param {Error} [error] */
  function end(error) {
    if (closed) return;
    closed = true;
    onClose(error);
  }

  return {
    ready,
    send: poster(env, url),
    close() {
      if (closed) return;
      closed = true;
      abort.abort();
      request(env, 'DELETE', url).then((res) => res.body?.cancel(), () => {});
    },
  };
}
