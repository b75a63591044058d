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
 * and opens the transport. onData gets each poll response (one or more
 * records); onClose the end of polling (no error: a 204, the server closed the
 * connection). With resume, the first poll resumes a stateful connection (&resume=1).
 * @type {import('./http.js').OpenTransport}
 */
export function longPolling(url, env, onData, onClose, resume) {
  // Every request of a resumed link says which, so that the server turns away a
  // late poll of a link given up on (it would take the replay).
  if (resume) url = withQuery(url, { link: ++links });
  let closed = false;
  /** @type {AbortController} */
  let abort;

  /**
   * The URL of one poll: &resume=1 on the first one of a resumed link, &ack=N
   * when stateful (a stateful client acks with its polls, not with a POST
   * each), and &_= the time, so that no cache answers it.
   * @param {boolean} [first]
   */
  function pollUrl(first) {
    /** @type {Record<string, number>} */
    const query = {};
    if (first && resume) query.resume = 1;
    const ack = env._ack?.();
    if (ack) query.ack = ack;
    query._ = Date.now();
    return withQuery(url, query);
  }

  /**
   * One poll: its body, or null for 204; throws on other answers.
   * @param {boolean} [first] the poll that opens the transport
   * @returns {Promise<import('./protocol.js').HubRecord | null>}
   */
  async function poll(first) {
    if (closed) throw closedError();
    abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), POLL_TIMEOUT);
    try {
      const res = await request(env, 'GET', pollUrl(first), undefined, abort.signal);
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

  /** @param {import('./protocol.js').HubRecord | null} body */
  async function loop(body) {
    try {
      // Each poll that a proxy or the network cuts is sent again (see persist).
      while (body != null) {
        if (closed) return;
        if (body.length) onData(body);
        body = await persist(poll, env._window);
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
