// Type declarations for hubbub-client/msgpack (hand-written; checked by `npm run check:types`).
import type { HubProtocol } from './hubbub.cjs';

/**
 * The MessagePack hub protocol, for HubConnection's `protocol` option:
 * `connect(url, { protocol: protocol() })`. Values map as in
 * @microsoft/signalr-protocol-msgpack: Uint8Array (any ArrayBuffer or view) <-> bin,
 * Date <-> timestamp, plain objects <-> maps, int64 decodes to a number, BigInt encodes as int64.
 */
export declare function protocol(): HubProtocol & { readonly name: 'messagepack'; readonly version: 2; readonly format: 'Binary' };

/** One value as MessagePack. Throws on functions, symbols and nesting deeper than 100. */
export declare function encode(value: unknown): Uint8Array;

/** Exactly one MessagePack value. Throws on truncated or malformed input, unknown extensions, nesting deeper than 100, or bytes left over. */
export declare function decode(data: ArrayBuffer | ArrayBufferView): any;

/** The classic script (dist/hubbub-msgpack.js) defines these as the global `HubbubMsgPack`. */
export as namespace HubbubMsgPack;
