// Which transports to try, in which order, and the memory of the one that
// worked last time for an origin (sessionStorage in browsers), so that the next
// page load does not pay again for a probe that fails behind the same proxy.

export const WEBSOCKETS = 'WebSockets', SSE = 'ServerSentEvents', LONG_POLLING = 'LongPolling';

/** @type {Record<string, string>} */
const NAMES = {
  websockets: WEBSOCKETS, websocket: WEBSOCKETS, ws: WEBSOCKETS,
  serversentevents: SSE, sse: SSE, eventsource: SSE,
  longpolling: LONG_POLLING, polling: LONG_POLLING,
};

/**
 * Turns user spellings ("websocket", "sse", "longPolling"…) into the protocol's
 * transport names.
 * @param {string[]} names
 * @returns {string[]}
 */
export function transportNames(names) {
  return names.map((n) => {
    const name = NAMES[String(n).toLowerCase().replace(/[^a-z]/g, '')];
    if (!name) throw new Error(`hubbub: unknown transport "${n}"`);
    return name;
  });
}

/**
 * The order in which to try transports: the remembered one first, then the
 * wanted ones in the user's order, with demoted ones (those that kept failing
 * after they opened) last; only those the server offers.
 * @param {string[]} wanted transport names, in preference order
 * @param {string[]} offered the transport names negotiate returned
 * @param {string | null} [remembered] the transport that worked last time
 * @param {Set<string>} [demoted]
 * @returns {string[]}
 */
export function transportOrder(wanted, offered, remembered, demoted = new Set()) {
  // Array sort is stable: the demoted ones move to the end, each group in order.
  // No remembered transport (null) is dropped by the filter: wanted has no null.
  return [...new Set([/** @type {string} */ (remembered), ...wanted])]
    .filter((t) => wanted.includes(t) && offered.includes(t))
    .sort((a, b) => +demoted.has(a) - +demoted.has(b));
}

/**
 * The memory of the transport that worked for an origin, over a Storage-like
 * object; undefined means sessionStorage where there is one. remember(name)
 * stores it, remember() reads it (null if none). Storage that is missing or
 * throws (private modes, sandboxed frames, where even reading sessionStorage
 * throws) turns it into a no-op.
 * @param {Pick<Storage, 'getItem' | 'setItem'> | null | undefined} storage
 * @param {string} origin
 * @returns {(name?: string) => string | null}
 */
export function transportMemory(storage, origin) {
  const key = 'hubbub.transport ' + origin;
  return (name) => {
    try {
      const store = storage === undefined ? globalThis.sessionStorage : storage;
      if (name) store?.setItem(key, name);
      return store?.getItem(key) ?? null;
    } catch {
      return null;
    }
  };
}
