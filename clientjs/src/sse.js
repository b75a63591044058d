// The Server-Sent Events transport, read with fetch and a stream parser rather
// than EventSource: one code path for browsers and Node 20, and the client (not
// EventSource's own retry) decides what a dropped stream means. The bearer token
// goes in the access_token query parameter, as the official client sends it
// (servers read it there for the stream, which EventSource cannot give headers),
// and in the Authorization header, which fetch can send. Sends are POSTs.

import { httpError, poster, request, withToken } from './http.js';

/**
 * Opens an SSE stream on the connection URL: onData gets each event's data (one
 * or more records), onClose the end of a stream that opened.
 * @type {import('./http.js').OpenTransport}
 */
export function serverSentEvents(url, env, onData, onClose) {
  const abort = new AbortController();
  let closed = false;
  const ready = (async () => {
    const res = await request(env, 'GET', await withToken(env, url), undefined, abort.signal, 'text/event-stream');
    if (res.status !== 200 || !/^text\/event-stream/i.test(res.headers.get('content-type') || '')) {
      res.body?.cancel();
      throw httpError(res, 'SSE failed to connect');
    }
    // An answer with status 200 has a body.
    read(/** @type {ReadableStream<Uint8Array<ArrayBuffer>>} */ (res.body)).then(() => end(new Error('SSE stream ended')), end);
  })();

  /** @param {ReadableStream<Uint8Array<ArrayBuffer>>} body */
  async function read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    /** @type {string[]} */
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done || closed) return;
      // A lone \r at the end may be the first half of \r\n: keep it for later.
      const lines = (buffer + value).split(/\r\n|\r(?!$)|\n/);
      buffer = /** @type {string} */ (lines.pop());
      for (const line of lines) {
        if (!line) {
          if (data.length) onData(data.join('\n'));
          data = [];
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line[5] === ' ' ? 6 : 5));
        }
      }
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
    _close() {
      closed = true;
      abort.abort();
    },
  };
}
