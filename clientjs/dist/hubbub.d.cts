// Type declarations for hubbub-client (hand-written; checked by `npm run check:types`).

/** The transports, as the SignalR protocol names them. */
export type TransportName = 'WebSockets' | 'ServerSentEvents' | 'LongPolling';

/** Where a connection is in its life. */
export type ConnectionState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting';

/**
 * Exponential backoff with jitter. Attempt n waits a random time in
 * [base·(1−jitter), base] with base = min(maxDelay, delay·factor^n), never less than 50 ms.
 */
export interface ReconnectPolicy {
  /** Base delay of the first attempt, ms. Default 500. */
  delay?: number;
  /** Cap of the base delay, ms. Default 15000. */
  maxDelay?: number;
  /** Growth of the base delay per attempt. Default 2. */
  factor?: number;
  /** Share of the delay that is random, 0..1. Default 0.5. */
  jitter?: number;
  /** Attempts before giving up (then `onclose` fires). Default Infinity. */
  retries?: number;
}

/** A custom policy: ms to wait before attempt `attempt` (0-based), or null to give up. */
export type ReconnectFunction = (attempt: number, error?: Error) => number | null;

/** Log levels, with @microsoft/signalr's names and numbers. */
export declare const LogLevel: {
  readonly Trace: 0;
  readonly Debug: 1;
  readonly Information: 2;
  readonly Warning: 3;
  readonly Error: 4;
  readonly Critical: 5;
  readonly None: 6;
};
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

/** @microsoft/signalr's ILogger: gets every message, whatever its level, and filters itself. */
export interface ILogger {
  log(level: LogLevel, message: string): void;
}

/** The part of the Web Storage API the transport memory uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface HubConnectionOptions {
  /**
   * Transports to try, in order. Accepts the protocol names and `websocket`, `sse`,
   * `longpolling`, `polling`. Default `['WebSockets', 'ServerSentEvents', 'LongPolling']`.
   */
  transports?: string[];
  /**
   * ms to wait for the server's handshake reply on a transport before trying the
   * next one (a proxy that drops WebSocket frames or buffers SSE); opening the
   * transport has the same deadline. Default 1000.
   */
  probeTimeout?: number;
  /** The same deadline for the last transport in the order. Default 15000. */
  handshakeTimeout?: number;
  /** Default timeout of invoke/send in ms; 0 means none. Default 0. */
  timeout?: number;
  /** Ping the server when nothing was sent for this long (WebSockets, SSE). Default 15000. */
  keepAliveInterval?: number;
  /** Consider the connection lost when nothing arrived for this long (WebSockets, SSE). Default 30000. */
  serverTimeout?: number;
  /** Automatic reconnect of a lost connection: true (default policy), false, a policy or a function. Default true. */
  reconnect?: boolean | ReconnectPolicy | ReconnectFunction;
  /**
   * How long a cut link is retried on the same connection before the client gives
   * up on it and starts a new connection, ms: a long poll or send cut by a proxy
   * (502/503/504) or the network, and, with stateful reconnect, a lost link on any
   * transport. Default 30000.
   */
  reconnectWindow?: number;
  /**
   * Ask the server for stateful reconnect: messages are numbered and acked both
   * ways, and a lost link is resumed on the same connection (same ID, groups, no
   * message lost or doubled). Used only when the server agrees. Default true.
   */
  statefulReconnect?: boolean;
  /** Bytes of sent messages kept until the server acks them (stateful reconnect); past it, sends wait. Default 100000. */
  statefulReconnectBufferSize?: number;
  /** Returns the bearer token; called for every negotiate and again after a 401. */
  accessTokenFactory?: () => string | null | undefined | Promise<string | null | undefined>;
  /** Extra headers on HTTP requests (negotiate, SSE, polls, sends). */
  headers?: Record<string, string>;
  /** fetch credentials mode. Default 'same-origin'. */
  credentials?: 'omit' | 'same-origin' | 'include';
  /** A WebSocket constructor; Node 20 has none: pass `(await import('ws')).default`. Default globalThis.WebSocket. */
  WebSocket?: new (url: string) => unknown;
  /** A fetch function. Default globalThis.fetch. */
  fetch?: (input: string, init?: any) => Promise<any>;
  /** Where the working transport is remembered per origin; null turns that off. Default sessionStorage when there is one. */
  storage?: StorageLike | null;
  /**
   * The hub protocol. Default JSON. `protocol()` of hubbub-client/msgpack
   * (hubbub-msgpack.js, the global HubbubMsgPack) gives MessagePack, which only
   * WebSockets and long polling carry: Server-Sent Events are then skipped.
   */
  protocol?: HubProtocol;
  /**
   * Where the client explains each transport fallback, at Warning: the transport
   * that failed, why, and the one tried next. A level (the console from that
   * level up) or an ILogger. Default LogLevel.Information, which normal
   * operation leaves silent.
   */
  logger?: LogLevel | ILogger;
  /**
   * After connecting, tell the server why each transport tried before was left,
   * in one message: a non-blocking invocation of the reserved target
   * "hubbub:fallback" whose one argument maps each transport left to a stable
   * reason ("upgrade-refused", "frames-dropped", "stream-buffered",
   * "requests-cut" or "failed"), e.g. `{"WebSockets": "upgrade-refused"}`. The
   * server counts them (hubbub_transport_fallbacks_total). Nothing is sent when
   * no transport was left. Default true; false sends nothing.
   */
  reportFallback?: boolean;
}

/**
 * A hub protocol as HubConnection uses it. Records are strings (text format) or
 * Uint8Arrays (binary format); a delivery unit holds one or more records.
 */
export interface HubProtocol {
  /** The name in the handshake request: 'json', 'messagepack'. */
  readonly name: string;
  /** The transfer format a transport must offer (negotiate's transferFormats) to carry it. */
  readonly format: 'Text' | 'Binary';
  /** One hub message ({type, invocationId, target, arguments, …}, as in the JSON protocol) as one record. */
  write(message: object): string | Uint8Array;
  /**
   * The hub messages of one delivery unit (a WebSocket message, a long-poll body);
   * with `handshake`, the unit starts with the handshake reply (JSON ended by 0x1e), returned first.
   * Throws on malformed input.
   */
  parse(data: string | ArrayBuffer | Uint8Array, handshake?: boolean): any[];
  /** Records as one delivery unit (an HTTP POST body). */
  join(records: (string | Uint8Array)[]): string | Uint8Array;
  /** A long-poll response's body, in the form parse takes. */
  read(response: Response): Promise<string | Uint8Array>;
}

/** What `onreconnected` listeners learn besides the connection ID. */
export interface ReconnectedInfo {
  /** True when the same connection was resumed; false when a new one was started and its state (groups, messages in flight) lost. */
  resumed: boolean;
}

/** A server-to-client stream: an async iterator of its items. */
export interface HubStream<T = any> extends AsyncIterableIterator<T> {
  /** Asks the server to stop the stream and ends the iteration. */
  cancel(): void;
}

/** invoke and send with a deadline, from `connection.timeout(ms)`. */
export interface TimedCalls {
  invoke<T = any>(method: string, ...args: any[]): Promise<T>;
  send(method: string, ...args: any[]): Promise<void>;
}

export declare class HubConnection {
  /**
   * A connection to the hub at `url` (relative URLs resolve against the page).
   * Nothing happens until start().
   */
  constructor(url: string, options?: HubConnectionOptions);
  readonly url: string;
  readonly options: Required<Pick<HubConnectionOptions, 'transports' | 'probeTimeout' | 'handshakeTimeout' | 'timeout' | 'keepAliveInterval' | 'serverTimeout' | 'reconnect' | 'reconnectWindow' | 'statefulReconnect' | 'statefulReconnectBufferSize'>> & HubConnectionOptions;
  readonly state: ConnectionState;
  /** True while connected. */
  readonly connected: boolean;
  /** The transport in use while connected, else null. */
  readonly transport: TransportName | null;
  /** The public connection ID the server gave, null before the first negotiate. */
  readonly connectionId: string | null;

  /** Connects; resolves once connected, rejects if no transport works. Calling it again returns the same promise. */
  start(): Promise<void>;
  /** Sends Close and ends the connection; no reconnect follows. */
  stop(): Promise<void>;

  /** Handles calls from the server to `method` (case-insensitive). The return value answers client-result calls. */
  on(method: string, handler: (...args: any[]) => any): this;
  /** Removes one handler, or all handlers of `method`. */
  off(method: string, handler?: (...args: any[]) => any): this;

  /** Each returns a function that unsubscribes. */
  onconnected(listener: (connectionId: string) => void): () => void;
  onreconnecting(listener: (error?: Error) => void): () => void;
  /** `resumed` is true when the link was resumed and the connection (ID, groups, messages) kept. */
  onreconnected(listener: (connectionId: string, info: ReconnectedInfo) => void): () => void;
  onclose(listener: (error?: Error) => void): () => void;

  /** Calls a hub method; resolves with its result, rejects with its error. Async-iterable arguments are streamed to the server. */
  invoke<T = any>(method: string, ...args: any[]): Promise<T>;
  /** Calls a hub method without waiting for its result; resolves once sent. */
  send(method: string, ...args: any[]): Promise<void>;
  /** invoke/send that reject with a TimeoutError after `ms`. */
  timeout(ms: number): TimedCalls;
  /** Calls a streaming hub method. */
  stream<T = any>(method: string, ...args: any[]): HubStream<T>;
}

/** Creates a connection and starts it; calls made before it is connected wait for it. */
export declare function connect(url: string, options?: HubConnectionOptions): HubConnection;

/** The reconnect delay for `attempt` under `policy` (exported for tests and custom policies). */
export declare function reconnectDelay(
  attempt: number,
  policy?: boolean | ReconnectPolicy | ReconnectFunction,
  error?: Error,
  random?: () => number,
): number | null;

/** The classic script (dist/hubbub.js) defines these as the global `Hubbub`. */
export as namespace Hubbub;
