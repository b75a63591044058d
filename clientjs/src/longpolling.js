// The long-polling transport. A poll that a proxy or the network cuts (an idle
// poll answered 504 by a proxy, a reset) is sent again on the same connection
// with a short backoff, for up to env._window ms (see persist); only an answer
// that says the connection is gone (404) ends the transport before that.

import { closedError, httpError, persist, poster, request, withQuery } from './http.js';

/** The client gives up on one poll after this long, as SignalR's client does. */
const POLL_TIMEOUT = 100000;
/** Numbers the links opened to resume (docs/reconnect.md): it only grows. */
let links = 0;

/**
 * Starts long polling on the connection URL. The first poll returns at once
 * and opens the transport.
 * @param {string} url
 * @param {import('./http.js').Env} env
 * @param {(text: string) => void} onData one poll response: one or more records
 * @param {(error?: Error) => void} onClose polling ended (204: the server closed the connection)
 * @param {boolean} [resume] the first poll resumes a stateful connection (&resume=1)
 * @returns {import('./websocket.js').Transport}
 */
export function longPolling(url, env, onData, onClose, resume) {
  // Every request of a resumed link says which, so that the server turns away a
  // late poll of a link given up on (it would take the replay).
  if (resume) url = withQuery(url, { link: ++links });
  let closed = false;
  /** @type {AbortController} */
  let abort;

  /** One poll: its body, or null for 204; throws on other answers. @param {boolean} [first] the poll that opens the transport */
  async function poll(first) {
    if (closed) throw closedError();
    abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), POLL_TIMEOUT);
    try {
      // A stateful client acks with its polls (&ack=N), not with a POST each.
      const ack = env._ack?.();
      const res = await request(env, 'GET', withQuery(url, { ...(first && resume && { resume: 1 }), ...(ack && { ack }), _: Date.now() }), undefined, abort.signal);
      const body = await env._protocol.read(res);
      if (res.status === 204 && !first) return null;
      if (res.status !== 200) throw httpError(res, 'poll failed');
      return body;
    } finally {
      clearTimeout(timer);
    }
  }

  const ready = poll(true).then((body) => {
    loop(body);
  });

  /** @param {string | null} body */
  async function loop(body) {
    try {
      for (; body != null; body = await persist(poll, env._window)) {
        if (closed) return;
        if (body.length) onData(body);
      }
      end();
    } catch (e) {
      end(/** @type {Error} */ (e));
    }
  }

  /** @param {Error} [error] */
  function end(error) {
    if (closed) return;
    closed = true;
    onClose(error);
  }

  return {
    _ready: ready,
    _send: poster(env, url, () => closed),
    _close(lost) {
      if (closed) return;
      closed = true;
      abort.abort();
      if (!lost) request(env, 'DELETE', url).then((res) => res.body?.cancel(), () => {});
    },
  };
}
