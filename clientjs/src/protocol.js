// The SignalR JSON hub protocol: records are JSON texts, each ended by the
// record separator 0x1E. One delivery unit (a WebSocket message, an SSE event,
// a long-poll body) holds one or more complete records.

/** The record separator that ends every JSON record. */
export const RS = '\x1e';

/** Message types of the hub protocol. */
export const INVOCATION = 1, STREAM_ITEM = 2, COMPLETION = 3, STREAM_INVOCATION = 4,
  CANCEL_INVOCATION = 5, PING = 6, CLOSE = 7, ACK = 8, SEQUENCE = 9;

/**
 * The handshake request the client sends first on every transport: version 2
 * asks for stateful reconnect (numbered, acked messages).
 * @param {number} [version]
 */
export const handshake = (version = 1) => `{"protocol":"json","version":${version}}` + RS;

/**
 * Frames one message as a record.
 * @param {object} message
 * @returns {string}
 */
export const frame = (message) => JSON.stringify(message) + RS;

/**
 * Splits a delivery unit into its records and parses each one.
 * @param {string} text one or more complete records
 * @returns {any[]} the parsed messages, in order
 * @throws {Error} when the unit does not end with RS ("Message is incomplete.")
 */
export function parse(text) {
  if (text[text.length - 1] !== RS) throw new Error('Message is incomplete.');
  return text.slice(0, -1).split(RS).map((record) => JSON.parse(record));
}

/**
 * Parses the first record of the first unit the server sends: the handshake
 * reply. Records after it in the same unit are ordinary messages.
 * @param {string} text
 * @returns {{error?: string, rest: any[]}} a server refusal in error, and the messages that followed
 * @throws {Error} when the unit is incomplete or the first record is not a handshake reply
 */
export function parseHandshake(text) {
  const [reply, ...rest] = parse(text);
  if (!reply || typeof reply !== 'object' || 'type' in reply) throw new Error('expected a handshake reply');
  return { error: reply.error, rest };
}
