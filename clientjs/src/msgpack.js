// The SignalR MessagePack hub protocol, an optional module beside the core:
//
//   new Hubbub.HubConnection(url, { protocol: HubbubMsgPack.protocol() })
//
// A minimal MessagePack codec written for it (no dependencies), with the value
// mapping of @microsoft/signalr-protocol-msgpack (which uses @msgpack/msgpack):
// nil <-> null (undefined encodes as nil), maps <-> plain objects, bin <-> Uint8Array
// (any ArrayBuffer or view encodes as bin), int64/uint64 decode to Number, BigInt
// encodes as int64/uint64, timestamp extension -1 <-> Date. Records are framed
// with a varint length prefix, and each message is an array laid out as in
// HubProtocol.md and the official client.
//
// The decoder trusts nothing it reads from the server: every announced length
// is checked against the bytes left before anything is read or allocated,
// nesting is capped, unknown extensions and malformed messages are refused with
// an error (the connection then drops the link, as for bad JSON).

/** Nesting deeper than this is refused, both ways (as @msgpack/msgpack's default maxDepth). */
const MAX_DEPTH = 100;

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

/**
 * Throws; an expression, so that `x || fail(…)` reads as "x, or the error".
 * @param {string} message
 * @returns {never}
 */
function fail(message) {
  throw new Error(message);
}

/**
 * The bytes of an ArrayBuffer or of any view, without copying.
 * @param {ArrayBuffer | ArrayBufferView} data
 */
const asBytes = (data) => ArrayBuffer.isView(data)
  ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  : new Uint8Array(data);

// --- encoder -----------------------------------------------------------------

/** The encoder's buffer, reused and grown as needed; encode returns a copy. */
let out = new Uint8Array(1024);
let outView = new DataView(out.buffer);
let at = 0;

/** Makes room for n more bytes. @param {number} n */
function room(n) {
  if (at + n > out.length) {
    const old = out;
    out = new Uint8Array(Math.max(old.length * 2, at + n));
    out.set(old);
    outView = new DataView(out.buffer);
  }
}

/**
 * Writes an unsigned big-endian number of `size` bytes (0, 1, 2, 4 or 8); the
 * DataView setters (and asUintN for 64 bits) wrap a negative n to two's complement.
 * @param {number} size @param {number | bigint} [n]
 */
function raw(size, n = 0) {
  room(size);
  if (size === 1) outView.setUint8(at, Number(n));
  else if (size === 2) outView.setUint16(at, Number(n));
  else if (size === 4) outView.setUint32(at, Number(n));
  else if (size === 8) outView.setBigUint64(at, BigInt.asUintN(64, BigInt(n)));
  at += size;
}

/**
 * A format byte, then n in `size` bytes.
 * @param {number} format @param {number} size @param {number | bigint} [n]
 */
function put(format, size, n) {
  raw(1, format);
  raw(size, n);
}

/** @param {Uint8Array} bytes */
function putBytes(bytes) {
  room(bytes.length);
  out.set(bytes, at);
  at += bytes.length;
}

/**
 * The header of a str, bin, array or map of n items: its fix form below fixLimit,
 * then the 8-bit (if the family has one), 16-bit and 32-bit forms.
 * @param {number} n @param {number} fix @param {number} fixLimit @param {number} f8 @param {number} f16 @param {number} f32
 */
function lengthHeader(n, fix, fixLimit, f8, f16, f32) {
  if (n < fixLimit) put(fix | n, 0);
  else if (f8 && n < 256) put(f8, 1, n);
  else if (n < 65536) put(f16, 2, n);
  else put(f32, 4, n);
}

/** @param {number} n */
function putNumber(n) {
  if (!Number.isSafeInteger(n)) {
    put(0xcb, 0);
    room(8);
    outView.setFloat64(at, n);
    at += 8;
  } else if (n >= 0) {
    // positive fixint, uint 8, 16, 32, 64
    if (n < 128) put(n, 0);
    else if (n < 256) put(0xcc, 1, n);
    else if (n < 65536) put(0xcd, 2, n);
    else if (n < 2 ** 32) put(0xce, 4, n);
    else put(0xcf, 8, n);
  } else if (n >= -32) {
    // negative fixint
    put(n & 0xff, 0);
  } else {
    // int 8, 16, 32, 64 (0xd0 to 0xd3)
    const size = n >= -128 ? 1 : n >= -32768 ? 2 : n >= -(2 ** 31) ? 4 : 8;
    put(0xd0 + Math.log2(size), size, n);
  }
}

/** The timestamp extension (type -1) in its smallest form, as the msgpack spec gives them. @param {Date} date */
function putDate(date) {
  const ms = date.getTime();
  if (Number.isNaN(ms)) fail('hubbub-msgpack: cannot encode an invalid Date');
  const sec = Math.floor(ms / 1000);
  const nsec = (ms - sec * 1000) * 1e6;
  if (sec >= 0 && sec < 2 ** 34) {
    if (!nsec && sec < 2 ** 32) {
      // fixext 4: seconds
      put(0xd6, 0);
      put(0xff, 4, sec);
    } else {
      // fixext 8: nanoseconds (30 bits) above seconds (34 bits)
      put(0xd7, 0);
      put(0xff, 8, (BigInt(nsec) << 34n) | BigInt(sec));
    }
  } else {
    // ext 8 of 12 bytes: nanoseconds, then signed seconds
    put(0xc7, 1, 12);
    put(0xff, 4, nsec);
    raw(8, sec);
  }
}

/** @param {unknown} v @param {number} depth */
function putValue(v, depth) {
  if (depth > MAX_DEPTH) fail(`hubbub-msgpack: nesting too deep (over ${MAX_DEPTH} levels)`);
  if (v == null) put(0xc0, 0);
  else if (typeof v === 'boolean') put(v ? 0xc3 : 0xc2, 0);
  else if (typeof v === 'number') putNumber(v);
  else if (typeof v === 'bigint') put(v < 2n ** 63n ? 0xd3 : 0xcf, 8, v); // int64, unless only uint64 holds it
  else if (typeof v === 'string') {
    const bytes = textEncoder.encode(v);
    lengthHeader(bytes.length, 0xa0, 32, 0xd9, 0xda, 0xdb);
    putBytes(bytes);
  } else if (v instanceof Date) putDate(v);
  else if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    const bytes = asBytes(v);
    lengthHeader(bytes.length, 0, 0, 0xc4, 0xc5, 0xc6);
    putBytes(bytes);
  } else if (Array.isArray(v)) {
    lengthHeader(v.length, 0x90, 16, 0, 0xdc, 0xdd);
    for (const item of v) putValue(item, depth + 1);
  } else if (typeof v === 'object') {
    const map = /** @type {Record<string, unknown>} */ (v);
    const keys = Object.keys(map);
    lengthHeader(keys.length, 0x80, 16, 0, 0xde, 0xdf);
    for (const k of keys) {
      putValue(k, depth);
      putValue(map[k], depth + 1);
    }
  } else {
    fail('hubbub-msgpack: cannot encode a ' + typeof v);
  }
}

/**
 * Encodes one value as MessagePack.
 * @param {unknown} value
 * @returns {Uint8Array}
 */
export function encode(value) {
  at = 0;
  putValue(value, 0);
  return out.slice(0, at);
}

// --- decoder -----------------------------------------------------------------

/**
 * Decodes exactly one MessagePack value from the bytes.
 * @param {ArrayBuffer | ArrayBufferView} data
 * @returns {unknown}
 * @throws {Error} on truncated or malformed input, unknown extensions, nesting over 100 levels, or bytes left over
 */
export function decode(data) {
  const b = asBytes(data);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 0;

  /** Claims the next n bytes and returns where they start. @param {number} n */
  const take = (n) => {
    if (n > b.length - pos) fail(`MessagePack truncated: ${n} bytes announced, ${b.length - pos} left`);
    pos += n;
    return pos - n;
  };
  /** An unsigned big-endian number of `size` bytes; 64 bits as a Number, as @msgpack/msgpack does. @param {number} size */
  const uint = (size) => {
    const i = take(size);
    return size === 1 ? b[i] : size === 2 ? view.getUint16(i) : size === 4 ? view.getUint32(i)
      : view.getUint32(i) * 2 ** 32 + view.getUint32(i + 4);
  };
  /**
   * n items follow, each at least `min` bytes: refused before anything is
   * allocated if they cannot fit. Returns n.
   * @param {number} n @param {number} min
   */
  const items = (n, min) => {
    if (n * min > b.length - pos) fail(`MessagePack truncated: ${n} items announced, ${b.length - pos} bytes left`);
    return n;
  };

  /** @param {number} n @param {number} depth */
  const array = (n, depth) => {
    const a = [];
    for (let i = items(n, 1); i > 0; i--) a.push(value(depth + 1));
    return a;
  };
  /** @param {number} n @param {number} depth */
  const map = (n, depth) => {
    /** @type {Record<string, unknown>} */
    const o = {};
    for (let i = items(n, 2); i > 0; i--) {
      const key = value(depth + 1);
      if (typeof key !== 'string' && typeof key !== 'number') fail('MessagePack map key must be a string or a number, not ' + typeof key);
      if (key === '__proto__') fail('MessagePack map key __proto__ is not allowed');
      o[key] = value(depth + 1);
    }
    return o;
  };
  /** @param {number} n */
  const str = (n) => textDecoder.decode(b.subarray(take(n), pos));
  /** The extension of n data bytes: only the timestamp (-1). @param {number} n */
  const ext = (n) => {
    const type = view.getInt8(take(1));
    const i = take(n);
    if (type !== -1) fail(`MessagePack extension type ${type} is not supported`);
    let sec;
    let nsec;
    if (n === 4) {
      // seconds
      sec = view.getUint32(i);
      nsec = 0;
    } else if (n === 8) {
      // nanoseconds (30 bits) above seconds (34 bits)
      sec = (view.getUint32(i) & 3) * 2 ** 32 + view.getUint32(i + 4);
      nsec = view.getUint32(i) >>> 2;
    } else if (n === 12) {
      // nanoseconds, then signed seconds (64 bits)
      sec = view.getInt32(i + 4) * 2 ** 32 + view.getUint32(i + 8);
      nsec = view.getUint32(i);
    } else {
      fail(`MessagePack timestamp of ${n} bytes is invalid`);
    }
    return new Date(sec * 1000 + nsec / 1e6);
  };

  /** @param {number} depth @returns {unknown} */
  const value = (depth) => {
    if (depth > MAX_DEPTH) fail(`MessagePack nesting too deep (over ${MAX_DEPTH} levels)`);
    const f = b[take(1)];
    if (f < 0x80) return f;
    if (f < 0x90) return map(f & 15, depth);
    if (f < 0xa0) return array(f & 15, depth);
    if (f < 0xc0) return str(f & 31);
    if (f >= 0xe0) return f - 256;
    switch (f) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: case 0xc5: case 0xc6: {
        const n = uint(1 << (f - 0xc4));
        return b.slice(take(n), pos);
      }
      case 0xc7: case 0xc8: case 0xc9: return ext(uint(1 << (f - 0xc7)));
      case 0xca: return view.getFloat32(take(4));
      case 0xcb: return view.getFloat64(take(8));
      case 0xcc: case 0xcd: case 0xce: case 0xcf: return uint(1 << (f - 0xcc));
      case 0xd0: return view.getInt8(take(1));
      case 0xd1: return view.getInt16(take(2));
      case 0xd2: return view.getInt32(take(4));
      case 0xd3: {
        const i = take(8);
        return view.getInt32(i) * 2 ** 32 + view.getUint32(i + 4);
      }
      case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return ext(1 << (f - 0xd4));
      case 0xd9: case 0xda: case 0xdb: return str(uint(1 << (f - 0xd9)));
      case 0xdc: case 0xdd: return array(uint(2 << (f - 0xdc)), depth);
      case 0xde: case 0xdf: return map(uint(2 << (f - 0xde)), depth);
    }
    return fail('MessagePack invalid format byte 0xc1');
  };

  const result = value(0);
  if (pos < b.length) fail(`MessagePack: ${b.length - pos} extra bytes after the value`);
  return result;
}

// --- hub messages ------------------------------------------------------------

const NAMES = ['', 'Invocation', 'StreamItem', 'Completion', 'StreamInvocation', 'CancelInvocation', 'Ping', 'Close', 'Ack', 'Sequence'];

/** @typedef {(v: unknown) => boolean} Check */
/** @type {Check} */
const isMap = (v) => /** @type {object | null | undefined} */ (v)?.constructor === Object;
/** @type {Check} */
const isString = (v) => typeof v === 'string';
/** @type {Check} */
const isStringOrNil = (v) => v == null || isString(v);
/** @type {Check} */
const isArray = Array.isArray;
/** @type {Check} */
const isNumber = (v) => typeof v === 'number';
/** @type {Check} */
const isBoolOrNil = (v) => v == null || typeof v === 'boolean';
/** @type {Check} */
const any = () => true;

/**
 * The elements after the type of each message type: [field, check, optional?].
 * A Completion's ResultKind and result follow its fields (see below).
 * @type {Record<number, [string, Check, boolean?][]>}
 */
const LAYOUTS = {
  1: [['headers', isMap], ['invocationId', isStringOrNil], ['target', isString], ['arguments', isArray], ['streamIds', isArray, true]],
  2: [['headers', isMap], ['invocationId', isString], ['item', any]],
  3: [['headers', isMap], ['invocationId', isString]],
  4: [['headers', isMap], ['invocationId', isString], ['target', isString], ['arguments', isArray], ['streamIds', isArray, true]],
  5: [['headers', isMap], ['invocationId', isString]],
  6: [],
  7: [['error', isStringOrNil], ['allowReconnect', isBoolOrNil, true]],
  8: [['sequenceId', isNumber]],
  9: [['sequenceId', isNumber]],
};

/** Completion ResultKind values. */
const ERROR_RESULT = 1, VOID_RESULT = 2, VALUE_RESULT = 3;

/**
 * Turns a decoded message array into a message object; null for an unknown type
 * (a later protocol version may add some: skipped, as the official client does).
 * The layouts check each field, so the object is the message they describe.
 * @param {unknown} a
 * @returns {import('./protocol.js').HubMessage | null}
 */
function toMessage(a) {
  if (!Array.isArray(a) || !a.length) fail('Invalid payload.');
  const type = a[0];
  const layout = LAYOUTS[type];
  if (!layout) return null;
  /** @returns {never} */
  const invalid = () => fail(`Invalid payload for ${NAMES[type]} message.`);
  /** @type {Record<string, unknown>} */
  const m = { type };
  for (let i = 0; i < layout.length; i++) {
    const [field, check, optional] = layout[i];
    if (i + 1 >= a.length) {
      if (!optional) invalid();
      continue;
    }
    const v = a[i + 1];
    if (!check(v)) {
      if (field === 'headers') fail('Invalid headers.');
      invalid();
    }
    // A nil field is left out, as if absent; a stream item may be nil.
    if (v !== null || check === any) m[field] = v;
  }
  if (type === 3) {
    // A Completion: its ResultKind, then the error or the result.
    const kind = a[3];
    if (kind !== VOID_RESULT && a.length < 5) invalid();
    if (kind === ERROR_RESULT) {
      if (!isString(a[4])) invalid();
      m.error = a[4];
    } else if (kind === VALUE_RESULT) {
      m.result = a[4];
    } else if (kind !== VOID_RESULT) {
      invalid();
    }
  }
  return /** @type {import('./protocol.js').HubMessage} */ (m);
}

/**
 * Frames one encoded message: its varint length (7 bits a byte, low first), then the body.
 * @param {Uint8Array} body
 */
function frame(body) {
  const prefix = [];
  let n = body.length;
  do {
    prefix.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n);
  const record = new Uint8Array(prefix.length + body.length);
  record.set(prefix);
  record.set(body, prefix.length);
  return record;
}

/**
 * What HubConnection needs of a hub protocol (see protocol.js), and the highest
 * version it speaks.
 * @typedef {import('./protocol.js').HubProtocol & {version: number}} HubProtocol
 */

/**
 * The MessagePack hub protocol, for HubConnection's `protocol` option. Only
 * WebSockets and long polling carry it (never Server-Sent Events).
 * @returns {HubProtocol}
 */
export function protocol() {
  return {
    name: 'messagepack',
    version: 2,
    format: 'Binary',
    write(message) {
      const type = message.type;
      const layout = LAYOUTS[type] || fail('hubbub-msgpack: cannot write message type ' + type);
      // The layout names the fields; what a message type lacks is undefined (nil).
      const fields = /** @type {Record<string, unknown>} */ (message);
      /** @type {unknown[]} */
      const a = [type];
      for (const [field, , optional] of layout) {
        const v = field === 'headers' ? fields.headers || {} : fields[field];
        if (v === undefined && optional) break;
        a.push(v);
      }
      if (message.type === 3) {
        if (message.error) a.push(ERROR_RESULT, message.error);
        else if (message.result !== undefined) a.push(VALUE_RESULT, message.result);
        else a.push(VOID_RESULT);
      }
      return frame(encode(a));
    },
    parse(data, handshake) {
      let b = typeof data === 'string' ? textEncoder.encode(data) : asBytes(data);
      /** @type {import('./protocol.js').HubMessage[]} */
      const messages = [];
      if (handshake) {
        // The handshake reply is JSON ended by the record separator, framed records may follow.
        const end = b.indexOf(0x1e);
        if (end < 0) fail('Message is incomplete.');
        messages.push(JSON.parse(textDecoder.decode(b.subarray(0, end))));
        b = b.subarray(end + 1);
      }
      for (let pos = 0; pos < b.length;) {
        let size = 0;
        for (let shift = 0, byte = 0x80; byte & 0x80; shift += 7) {
          if (shift > 28 || pos >= b.length) fail('Cannot read message size.');
          byte = b[pos++];
          size += (byte & 0x7f) * 2 ** shift;
        }
        if (size > 0x7fffffff) fail('Messages bigger than 2GB are not supported.');
        if (size > b.length - pos) fail('Incomplete message.');
        if (!size) fail('Invalid payload.');
        const m = toMessage(decode(b.subarray(pos, pos += size)));
        if (m) messages.push(m);
      }
      return messages;
    },
    read: async (response) => new Uint8Array(await response.arrayBuffer()),
    join(parts) {
      const bytes = parts.map((p) => (typeof p === 'string' ? textEncoder.encode(p) : p));
      const unit = new Uint8Array(bytes.reduce((n, p) => n + p.length, 0));
      let n = 0;
      for (const p of bytes) {
        unit.set(p, n);
        n += p.length;
      }
      return unit;
    },
  };
}
