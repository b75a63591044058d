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
 * The hub protocol's messages, as HubProtocol.md lays them out in JSON (the
 * MessagePack protocol turns its arrays into the same objects). What the server
 * sends is taken to have these shapes: JSON.parse checks no more than syntax.
 * @typedef {{type: typeof INVOCATION, target: string, arguments: unknown[], invocationId?: string, streamIds?: string[], headers?: Record<string, string>}} InvocationMessage
 *   a call; one with an invocationId waits for a Completion
 * @typedef {{type: typeof STREAM_ITEM, invocationId: string, item: unknown, headers?: Record<string, string>}} StreamItemMessage
 * @typedef {{type: typeof COMPLETION, invocationId: string, result?: unknown, error?: string, headers?: Record<string, string>}} CompletionMessage
 *   the end of a call or stream: its result, or its error
 * @typedef {{type: typeof STREAM_INVOCATION, invocationId: string, target: string, arguments: unknown[], streamIds?: string[], headers?: Record<string, string>}} StreamInvocationMessage
 * @typedef {{type: typeof CANCEL_INVOCATION, invocationId: string, headers?: Record<string, string>}} CancelInvocationMessage
 * @typedef {{type: typeof PING}} PingMessage
 * @typedef {{type: typeof CLOSE, error?: string, allowReconnect?: boolean}} CloseMessage
 * @typedef {{type: typeof ACK, sequenceId: number}} AckMessage
 *   stateful reconnect: every message up to sequenceId arrived
 * @typedef {{type: typeof SEQUENCE, sequenceId: number}} SequenceMessage
 *   stateful reconnect: the next trackable message is number sequenceId
 * @typedef {InvocationMessage | StreamItemMessage | CompletionMessage | StreamInvocationMessage | CancelInvocationMessage
 *   | PingMessage | CloseMessage | AckMessage | SequenceMessage} HubMessage
 */

/**
 * A record is one framed message: JSON text, or MessagePack bytes (never a view
 * of shared memory, which fetch and WebSocket refuse). A delivery unit (a
 * WebSocket message, an SSE event, a long-poll body) holds one or more;
 * WebSockets deliver binary ones as ArrayBuffers.
 * @typedef {string | Uint8Array<ArrayBuffer>} HubRecord
 * @typedef {string | ArrayBuffer | Uint8Array} Delivery
 */

/**
 * Frames one message as a record.
 * @param {object} message
 * @returns {string}
 */
export const frame = (message) => JSON.stringify(message) + RS;

/**
 * Splits a delivery unit into its records and parses each one.
 * @param {string} text one or more complete records
 * @returns {HubMessage[]} the parsed messages, in order
 * @throws {Error} when the unit does not end with RS ("Message is incomplete.")
 */
export function parse(text) {
  if (text[text.length - 1] !== RS) throw new Error('Message is incomplete.');
  return text.slice(0, -1).split(RS).map((record) => JSON.parse(record));
}

/**
 * The server's answer to the handshake request: {} when it accepts, {error} when
 * it refuses. Anything with a type is a message, so not a handshake reply.
 * @typedef {{type?: unknown, error?: string}} HandshakeReply
 */

/**
 * Parses the first unit the server sends: the handshake reply (JSON), then
 * ordinary messages.
 * @param {Delivery} data
 * @param {HubProtocol} protocol
 * @returns {[string | undefined, HubMessage[]]} a server refusal (the reply's error), and the messages that followed
 * @throws {Error} when the unit is incomplete or the first record is not a handshake reply
 */
export function parseHandshake(data, protocol) {
  // With handshake, parse returns the reply first: a plain object with no message type.
  const [reply, ...rest] = /** @type {[HandshakeReply?, ...HubMessage[]]} */ (protocol.parse(data, true));
  if (reply?.constructor !== Object || 'type' in reply) throw new Error('not a handshake reply');
  return [reply.error, rest];
}

/**
 * What HubConnection needs of a hub protocol (the `protocol` option): see
 * HubProtocol in hubbub.d.ts, and src/msgpack.js for the MessagePack one.
 * Methods, as in hubbub.d.ts: the JSON protocol's parse takes only text, which
 * is all a transport gives a text protocol.
 * @typedef {{
 *   name: string,
 *   format: 'Text' | 'Binary',
 *   write(message: HubMessage): HubRecord,
 *   parse(data: Delivery, handshake?: boolean): HubMessage[],
 *   join(records: HubRecord[]): HubRecord,
 *   read(response: Response): Promise<HubRecord>,
 * }} HubProtocol
 *   name: the name in the handshake request; format: the transfer format a
 *   transport must offer to carry it; write: one message as a record; parse: the
 *   messages of one delivery unit, with handshake the handshake reply first;
 *   join: records as one delivery unit; read: a long-poll response's body, as
 *   parse takes it
 */

/** The JSON hub protocol, the default. @type {HubProtocol} */
export const json = { name: 'json', write: frame, parse, join: (records) => records.join(''), read: (res) => res.text(), format: 'Text' };
