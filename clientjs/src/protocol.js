// The SignalR JSON hub protocol: records are JSON texts, each ended by the
// record separator 0x1E. One delivery unit (a WebSocket message, an SSE event,
// a long-poll body) holds one or more complete records.

/** The record separator that ends every JSON record. */
export const RS = '\x1e';

/** Message types of the hub protocol. */
export const INVOCATION = 1, STREAM_ITEM = 2, COMPLETION = 3, STREAM_INVOCATION = 4,
  CANCEL_INVOCATION = 5, PING = 6, CLOSE = 7, ACK = 8, SEQUENCE = 9;

/**
 * The handshake request the client sends first on every transport, JSON text
 * whatever the protocol: version 2 asks for stateful reconnect (numbered, acked messages).
 * @param {number} version
 * @param {string} protocol
 */
export const handshake = (version, protocol) => JSON.stringify({ protocol, version }) + RS;

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
 * Parses the first unit the server sends: the handshake reply (JSON), then
 * ordinary messages.
 * @param {any} data
 * @param {HubProtocol} protocol
 * @returns {[string | undefined, any[]]} a server refusal (the reply's error), and the messages that followed
 * @throws {Error} when the unit is incomplete or the first record is not a handshake reply
 */
export function parseHandshake(data, protocol) {
  const [reply, ...rest] = protocol.parse(data, true);
  if (reply?.constructor !== Object || 'type' in reply) throw new Error('not a handshake reply');
  return [reply.error, rest];
}

/**
 * What HubConnection needs of a hub protocol (the `protocol` option): see
 * HubProtocol in hubbub.d.ts, and src/msgpack.js for the MessagePack one.
 * @typedef {object} HubProtocol
 * @property {string} name the name in the handshake request
 * @property {'Text' | 'Binary'} format the transfer format a transport must offer to carry it
 * @property {(message: any) => any} write one message as a record (string or Uint8Array)
 * @property {(data: any, handshake?: boolean) => any[]} parse the messages of one delivery unit; with handshake, the handshake reply first
 * @property {(records: any[]) => any} join records into one delivery unit
 * @property {(response: Response) => Promise<any>} read a long-poll response's body, as parse takes it
 */

/** The JSON hub protocol, the default. @type {HubProtocol} */
export const json = { name: 'json', write: frame, parse, join: (records) => records.join(''), read: (res) => res.text(), format: 'Text' };
