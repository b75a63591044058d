// The WebSocket transport. Browsers cannot set headers on the upgrade, so the
// access token rides in the access_token query parameter, as SignalR does.

import { withToken } from './http.js';

/**
 * @typedef {object} Transport
 * @property {Promise<void>} _ready resolves once the transport is open (before the hub handshake)
 * @property {((text: string) => Promise<void>) & {_idle?: () => Promise<void> | undefined}} _send idle: resolves when no send is in flight
 * @property {(lost?: boolean) => void} _close ends the transport; onClose is not called afterwards (lost: the link was lost, the connection lives on)
 */

/**
 * Opens a WebSocket to the connection URL (also to resume a stateful connection).
 * @param {string} url the connection URL, http(s) with ?id=
 * @param {import('./http.js').Env} env
 * @param {(text: string) => void} onData one message: one or more records
 * @param {(error?: Error) => void} onClose the socket ended after it opened
 * @returns {Transport}
 */
export function webSocket(url, env, onData, onClose) {
  /** @type {WebSocket | undefined} */
  let ws;
  let closed = false;
  const ready = withToken(env, url.replace(/^http/, 'ws')).then((wsURL) => new Promise((resolve, reject) => {
    if (closed) return reject(new Error('closed'));
    const socket = ws = new env._webSocket(wsURL);
    let open = false;
    // Binary messages (MessagePack) as ArrayBuffers; a text protocol never gets any.
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => { open = true; resolve(undefined); };
    socket.onerror = () => {};
    socket.onmessage = (/** @type {MessageEvent} */ e) => closed || onData(e.data);
    socket.onclose = (/** @type {CloseEvent} */ e) => {
      if (!open) return reject(new Error(`WebSocket failed (${e.code})`));
      if (closed) return;
      closed = true;
      onClose(e.code === 1000 ? undefined : new Error(`WebSocket closed (${e.code})`));
    };
  }));
  return {
    _ready: ready,
    _send: async (text) => {
      if (!ws || ws.readyState !== 1) throw new Error('WebSocket is not open');
      ws.send(text);
    },
    _close(lost) {
      closed = true;
      // 4000: a link cut to be resumed; a plain close tells the server we are gone.
      try { ws?.close(lost ? 4000 : undefined); } catch { /* closing a socket that is still connecting may throw */ }
    },
  };
}
