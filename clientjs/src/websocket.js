// The WebSocket transport. Browsers cannot set headers on the upgrade, so the
// access token rides in the access_token query parameter, as SignalR does.

import { withToken } from './http.js';

/**
 * Opens a WebSocket to the connection URL (also to resume a stateful connection):
 * onData gets each message (one or more records), onClose the end of a socket
 * that opened.
 * @type {import('./http.js').OpenTransport}
 */
export function webSocket(url, env, onData, onClose) {
  /** @type {WebSocket | undefined} */
  let ws;
  let closed = false;
  const ready = withToken(env, url.replace(/^http/, 'ws')).then((wsURL) => new Promise((resolve, reject) => {
    if (closed) {
      reject(new Error('closed'));
      return;
    }
    // The connection tries WebSockets only when it has a constructor. ws is for
    // _send and _close; socket, never undefined, for the handlers.
    const socket = ws = new /** @type {import('./http.js').WebSocketClass} */ (env._webSocket)(wsURL);
    let open = false;
    // Binary messages (MessagePack) as ArrayBuffers; a text protocol never gets any.
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => {
      open = true;
      resolve(undefined);
    };
    // onclose follows with the code; a browser says no more than that.
    socket.onerror = () => {};
    socket.onmessage = (e) => {
      if (!closed) onData(e.data);
    };
    socket.onclose = (e) => {
      if (!open) {
        reject(new Error(`WebSocket failed (${e.code})`));
        return;
      }
      if (closed) return;
      closed = true;
      onClose(e.code === 1000 ? undefined : new Error(`WebSocket closed (${e.code})`));
    };
  }));
  return {
    _ready: ready,
    _send: async (record) => {
      if (!ws || ws.readyState !== 1) throw new Error('WebSocket is not open');
      ws.send(record);
    },
    _close(lost) {
      closed = true;
      // 4000: a link cut to be resumed; a plain close tells the server we are gone.
      try { ws?.close(lost ? 4000 : undefined); } catch { /* closing a socket that is still connecting may throw */ }
    },
  };
}
