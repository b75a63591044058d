"use strict";
// Helpers shared by the test files: the server under test, connections built with the
// official client, a log collector that ends up in failure messages, waiting helpers,
// and HS256 JWTs.

const crypto = require("node:crypto");
const { before, after } = require("node:test");
const signalR = require("@microsoft/signalr");
const { MessagePackHubProtocol } = require("@microsoft/signalr-protocol-msgpack");
const { startServer } = require("./server");

const { HttpTransportType } = signalR;

/**
 * The hub protocols every scenario runs with. `create: null` = the client's default
 * (JSON). MessagePack needs a transport that carries binary: WebSockets or long polling.
 */
const PROTOCOLS = [
  { name: "JSON", create: null, binary: false },
  { name: "MessagePack", create: () => new MessagePackHubProtocol(), binary: true },
];
const JSON_PROTOCOL = PROTOCOLS[0];
const MESSAGEPACK = PROTOCOLS[1];

/** A transport row combined with a protocol row: what defineTransportSuite and scenario() take. */
function withProtocol(transportRow, protocol = JSON_PROTOCOL) {
  const label = protocol === JSON_PROTOCOL ? transportRow.name : `${transportRow.name}/${protocol.name}`;
  return { ...transportRow, protocol, label };
}

/** The transports every scenario runs on. `transport: undefined` = default negotiation. */
const TRANSPORTS = [
  { name: "WebSockets", transport: HttpTransportType.WebSockets, expect: "WebSockets" },
  { name: "ServerSentEvents", transport: HttpTransportType.ServerSentEvents, expect: "ServerSentEvents" },
  { name: "LongPolling", transport: HttpTransportType.LongPolling, expect: "LongPolling" },
  { name: "Default", transport: undefined, expect: "WebSockets" },
];

const TRANSPORT_NAMES = {
  [HttpTransportType.WebSockets]: "WebSockets",
  [HttpTransportType.ServerSentEvents]: "ServerSentEvents",
  [HttpTransportType.LongPolling]: "LongPolling",
};

const WAIT_MS = 8000; // below the 10 s per-test timeout so our own message wins
const TEST_TIMEOUT_MS = 10000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Registers before/after hooks that provide the server for this test file:
 * $HUBBUB_URL (started by run.js) or, when a file runs on its own, a server started here
 * (from $HUBBUB_BIN or a fresh `go build`). Returns a getter for { url, jwtSecret }.
 */
function useServer({ args } = {}) {
  let srv = null;
  let own = null;
  before(async () => {
    if (process.env.HUBBUB_URL && !args) {
      srv = { url: process.env.HUBBUB_URL.replace(/\/+$/, ""), jwtSecret: process.env.HUBBUB_JWT_SECRET || null };
      return;
    }
    const jwtSecret = process.env.HUBBUB_JWT_SECRET || crypto.randomBytes(24).toString("base64url");
    own = await startServer({ args: ["--jwt-secret", jwtSecret, ...(args || [])] });
    srv = { url: own.url, jwtSecret, own };
  });
  after(async () => {
    if (own) {
      const exit = await own.stop();
      own.removeLog();
      if (exit && exit.code !== 0 && exit.signal === null) {
        process.stderr.write(`server exited with code ${exit.code} on SIGTERM\n${own.logTail()}\n`);
      }
    }
  });
  return () => {
    if (!srv) throw new Error("server not started");
    return srv;
  };
}

/** Short unique names so concurrent tests never see each other's events or groups. */
function uniq(prefix = "x") {
  return `${prefix}-${crypto.randomBytes(5).toString("hex")}`;
}

/** Polls pred (sync or async) until it returns truthy, or throws after timeout. */
async function waitUntil(pred, what, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let lastErr;
  for (;;) {
    try {
      if (await pred()) return;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}` + (lastErr ? ` (last error: ${lastErr.message})` : ""));
    }
    await sleep(20);
  }
}

/** Rejects with a clear message if p does not settle in time. */
function within(p, what, timeout = WAIT_MS) {
  let timer;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeout} ms waiting for ${what}`)), timeout);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * MessagePack hub messages from the client's hex dump of one binary transport message
 * ("0x95 0x01 …"), as the official protocol parses them. A handshake response (JSON
 * ending in 0x1e) at the start is skipped; what cannot be parsed becomes { unparsed }.
 */
function parseBinaryRecords(hexDump) {
  let bytes = Uint8Array.from(hexDump.trim().split(/\s+/).filter(Boolean), (h) => parseInt(h, 16));
  if (bytes[0] === 0x7b) {
    const end = bytes.indexOf(0x1e);
    bytes = bytes.slice(end + 1);
  }
  if (bytes.length === 0) return [];
  try {
    return new MessagePackHubProtocol().parseMessages(bytes.slice().buffer, signalR.NullLogger.instance);
  } catch (err) {
    return [{ unparsed: hexDump, error: err.message }];
  }
}

function signJwt(payload, secret, header = { alg: "HS256", typ: "JWT" }) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const data = `${b64(header)}.${b64(payload)}`;
  const sig = crypto.createHmac("sha256", secret).update(data).digest("base64url");
  return `${data}.${sig}`;
}

const LEVELS = ["Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"];

/**
 * One scenario's state: every connection it builds logs (at Trace, with message
 * content) into one collector, and is stopped at the end. On failure the collected
 * client log is appended to the error message.
 */
class Scenario {
  constructor(server, entry) {
    this.server = server;
    this.entry = entry;
    this.logs = [];
    this.conns = [];
    this.t0 = Date.now();
  }

  logger(label) {
    return {
      log: (level, message) => {
        this.logs.push({ ts: Date.now(), label, level, message: String(message) });
      },
    };
  }

  /** Transport option for a build: opts.transport if given (undefined = default), else the entry's. */
  transportOf(opts) {
    return "transport" in opts ? opts.transport : this.entry.transport;
  }

  /** Protocol row for a build: opts.protocol if given, else the entry's (JSON if none). */
  protocolOf(opts) {
    return opts.protocol || (this.entry && this.entry.protocol) || JSON_PROTOCOL;
  }

  /** True when this scenario's connections speak MessagePack by default. */
  get binary() {
    return this.protocolOf({}).binary;
  }

  build(opts = {}) {
    const label = opts.label || `c${this.conns.length + 1}`;
    const path = opts.path || "/hubs/conformance";
    // (opts.path may end in "/": the client then negotiates at "<path>negotiate".)
    let url = this.server.url + path;
    if (opts.query) url += (url.includes("?") ? "&" : "?") + opts.query;
    const httpOptions = { logMessageContent: true };
    const transport = this.transportOf(opts);
    if (transport !== undefined) httpOptions.transport = transport;
    if (opts.headers) httpOptions.headers = opts.headers;
    if (opts.accessTokenFactory) httpOptions.accessTokenFactory = opts.accessTokenFactory;
    if (opts.skipNegotiation) httpOptions.skipNegotiation = true;
    let b = new signalR.HubConnectionBuilder()
      .withUrl(url, httpOptions)
      .configureLogging(this.logger(label));
    if (opts.reconnect) b = b.withAutomaticReconnect(opts.reconnect);
    if (opts.serverTimeout) b = b.withServerTimeout(opts.serverTimeout);
    if (opts.keepAlive) b = b.withKeepAliveInterval(opts.keepAlive);
    if (opts.statefulReconnect) b = b.withStatefulReconnect();
    const protocol = this.protocolOf(opts);
    if (protocol.create) b = b.withHubProtocol(protocol.create());
    const conn = b.build();
    conn.label = label;
    conn.protocol = protocol;
    conn.markers = new Set();
    conn.on("__marker", (token) => conn.markers.add(token));
    this.conns.push(conn);
    return conn;
  }

  async connect(opts = {}) {
    const conn = this.build(opts);
    await within(conn.start(), `start() of ${conn.label}`);
    return conn;
  }

  /**
   * Ordering barrier: conn asks the server to send itself a marker and waits for it.
   * Messages already queued to conn by an earlier, completed invocation arrive before
   * the marker, so "did not receive X" can be checked without sleeping.
   */
  async barrier(conn) {
    const token = uniq("m");
    await within(conn.invoke("SendToCaller", "__marker", token), `SendToCaller marker on ${conn.label}`);
    await waitUntil(() => conn.markers.has(token), `marker on ${conn.label}`);
  }

  /** Records every call of event on conn (handlers are registered before any send). */
  record(conn, event) {
    const calls = [];
    conn.on(event, (...args) => calls.push(args));
    return calls;
  }

  /**
   * The hub-protocol records conn received on the wire (from the client's Trace log,
   * entries from index `fromIndex` of this.logs on), as parsed JSON or, for a
   * MessagePack connection, as the official MessagePack protocol parses them.
   */
  received(conn, fromIndex = 0) {
    const out = [];
    const text = /data received\. String data of length \d+\. Content: '([\s\S]*)'\.$/;
    const binary = /data received\. Binary data of length \d+\. Content: '([0-9a-fx ]*)'\.$/;
    for (const e of this.logs.slice(fromIndex)) {
      if (e.label !== conn.label) continue;
      let m = text.exec(e.message);
      if (m) {
        for (const rec of m[1].split("\x1e")) {
          if (!rec) continue;
          try {
            out.push({ ts: e.ts, msg: JSON.parse(rec) });
          } catch {
            out.push({ ts: e.ts, msg: { unparsed: rec } });
          }
        }
        continue;
      }
      m = binary.exec(e.message);
      if (!m) continue;
      for (const msg of parseBinaryRecords(m[1])) out.push({ ts: e.ts, msg });
    }
    return out;
  }

  dump(maxLines = 150) {
    const lines = this.logs.map((e) => {
      let m = e.message.replace(/\x1e/g, "<RS>");
      if (m.length > 600) m = m.slice(0, 600) + `… (${m.length} chars)`;
      return `  +${String(e.ts - this.t0).padStart(5)}ms ${e.label} ${LEVELS[e.level] || e.level}: ${m}`;
    });
    const skipped = Math.max(0, lines.length - maxLines);
    return (skipped ? `  … ${skipped} earlier lines omitted\n` : "") + lines.slice(-maxLines).join("\n");
  }

  async cleanup() {
    await Promise.allSettled(
      this.conns.map((c) => (c.state === "Disconnected" ? Promise.resolve() : within(c.stop(), `stop() of ${c.label}`, 5000))),
    );
  }
}

/**
 * Wraps a scenario body fn(s) as a node:test test function: creates the Scenario,
 * always stops its connections, and appends the client log on failure.
 */
function scenario(getServer, entry, fn) {
  return async (t) => {
    const s = new Scenario(getServer(), entry);
    s.t = t;
    try {
      await fn(s, t);
    } catch (err) {
      const log = s.dump();
      if (err && typeof err === "object") {
        try {
          // Reporters print the stack, which V8 formats (with the message) on first access:
          // read it before changing the message, then put the new message into it.
          const oldStack = err.stack;
          const oldMessage = err.message;
          err.message = `${oldMessage}\n--- official client log (${entry ? entry.label || entry.name : "n/a"}) ---\n${log}`;
          if (typeof oldStack === "string") {
            err.stack = oldMessage && oldStack.includes(oldMessage)
              ? oldStack.replace(oldMessage, err.message)
              : `${oldStack}\n${err.message}`;
          }
        } catch {
          /* read-only message */
        }
      }
      throw err;
    } finally {
      await s.cleanup();
    }
  };
}

module.exports = {
  signalR,
  HttpTransportType,
  TRANSPORTS,
  TRANSPORT_NAMES,
  PROTOCOLS,
  JSON_PROTOCOL,
  MESSAGEPACK,
  withProtocol,
  WAIT_MS,
  TEST_TIMEOUT_MS,
  useServer,
  uniq,
  waitUntil,
  within,
  sleep,
  signJwt,
  Scenario,
  scenario,
};
