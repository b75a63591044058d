// The MessagePack hub protocol module (src/msgpack.js): the value codec, the
// spec's example payloads byte for byte, the varint framing, and hostile input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode, protocol } from '../../src/msgpack.js';

const hex = (/** @type {string} */ s) => Uint8Array.from(s.trim().split(/\s+/), (b) => parseInt(b, 16));
const bytes = (/** @type {number[]} */ ...b) => Uint8Array.from(b);
const cat = (/** @type {Uint8Array[]} */ ...parts) => Uint8Array.from(parts.flatMap((p) => [...p]));
/** A record: varint length prefix, then the body. */
const framed = (/** @type {Uint8Array} */ body) => {
  const prefix = [];
  let n = body.length;
  do { prefix.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0)); n >>>= 7; } while (n);
  return cat(Uint8Array.from(prefix), body);
};

test('values round-trip through encode and decode', () => {
  const values = [
    null, true, false, 0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER,
    -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, Number.MIN_SAFE_INTEGER,
    0.5, -1.25, 1e300, Infinity, -Infinity,
    '', 'x', 'é☃😀', 'a'.repeat(31), 'a'.repeat(32), 'b'.repeat(255), 'c'.repeat(256), 'd'.repeat(70000),
    [], [1, [2, [3]]], Array.from({ length: 16 }, (_, i) => i), Array.from({ length: 70000 }, () => 1),
    {}, { a: 1, b: { c: [null, 'x'] } }, Object.fromEntries(Array.from({ length: 16 }, (_, i) => ['k' + i, i])),
    new Uint8Array(0), bytes(0, 1, 254, 255), new Uint8Array(300).fill(7), new Uint8Array(70000).fill(9),
    new Date(0), new Date(1700000000000), new Date(1700000000123), new Date(-1000), new Date(2 ** 34 * 1000 + 5),
  ];
  for (const v of values) {
    assert.deepEqual(decode(encode(v)), v, `round trip of ${String(v).slice(0, 40)}`);
  }
  assert.ok(Number.isNaN(decode(encode(NaN))));
});

test('encoding picks the smallest format, as @msgpack/msgpack does', () => {
  const tests = [
    [null, 'c0'], [false, 'c2'], [true, 'c3'], [0, '00'], [127, '7f'], [128, 'cc 80'], [256, 'cd 01 00'],
    [65536, 'ce 00 01 00 00'], [2 ** 32, 'cf 00 00 00 01 00 00 00 00'], [-1, 'ff'], [-32, 'e0'], [-33, 'd0 df'],
    [-129, 'd1 ff 7f'], [-32769, 'd2 ff ff 7f ff'], [-(2 ** 31) - 1, 'd3 ff ff ff ff 7f ff ff ff'],
    [1.5, 'cb 3f f8 00 00 00 00 00 00'], ['abc', 'a3 61 62 63'], ['a'.repeat(32), 'd9 20' + ' 61'.repeat(32)],
    [[1, 2], '92 01 02'], [{ a: 1 }, '81 a1 61 01'], [bytes(1, 2), 'c4 02 01 02'], [undefined, 'c0'],
    [{ a: undefined }, '81 a1 61 c0'], [2n ** 63n - 1n, 'd3 7f ff ff ff ff ff ff ff'], [2n ** 64n - 1n, 'cf ff ff ff ff ff ff ff ff'],
    [-5n, 'd3 ff ff ff ff ff ff ff fb'],
    [new Date(1000), 'd6 ff 00 00 00 01'], [new Date(1500), 'd7 ff 77 35 94 00 00 00 00 01'],
    [new Date(-1000), 'c7 0c ff 00 00 00 00 ff ff ff ff ff ff ff ff'],
  ];
  for (const [v, want] of tests) assert.deepEqual(encode(v), hex(want), `encoding of ${String(v)}`);
  // Any view over bytes (and an ArrayBuffer) is bin.
  assert.deepEqual(encode(new Uint16Array([0x0102]).buffer), hex('c4 02 02 01'));
  assert.deepEqual(encode(new DataView(bytes(5).buffer)), hex('c4 01 05'));
});

test('decoding accepts every format a server may pick', () => {
  const tests = [
    ['cc ff', 255], ['cd ff ff', 65535], ['ce ff ff ff ff', 2 ** 32 - 1], ['cf 00 00 00 01 00 00 00 00', 2 ** 32],
    ['d0 80', -128], ['d1 80 00', -32768], ['d2 80 00 00 00', -(2 ** 31)], ['d3 ff ff ff ff ff ff ff ff', -1],
    ['ca 3f c0 00 00', 1.5], ['cb 3f f8 00 00 00 00 00 00', 1.5],
    ['d9 01 61', 'a'], ['da 00 01 61', 'a'], ['db 00 00 00 01 61', 'a'],
    ['c4 01 05', bytes(5)], ['c5 00 01 05', bytes(5)], ['c6 00 00 00 01 05', bytes(5)],
    ['dc 00 01 01', [1]], ['dd 00 00 00 01 01', [1]], ['de 00 01 a1 61 01', { a: 1 }], ['df 00 00 00 01 a1 61 01', { a: 1 }],
    ['81 01 02', { 1: 2 }],
    ['d6 ff 00 00 00 01', new Date(1000)], ['d7 ff 00 00 00 00 00 00 00 02', new Date(2000)],
    ['c7 0c ff 00 00 00 00 00 00 00 00 00 00 00 03', new Date(3000)],
  ];
  for (const [input, want] of tests) assert.deepEqual(decode(hex(input)), want, input);
  // A bin is a copy: the record's buffer is not kept alive by it.
  const bin = decode(hex('c4 01 05'));
  assert.equal(bin.buffer.byteLength, 1);
});

const p = protocol();

test('the protocol object: name, version, binary transfer format', () => {
  assert.equal(p.name, 'messagepack');
  assert.equal(p.version, 2);
  assert.equal(p.format, 'Binary');
});

// The examples of HubProtocol.md (dotnet/aspnetcore src/SignalR/docs/specs), MessagePack section.
const SPEC = [
  ['Invocation', '96 01 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90',
    { type: 1, headers: {}, invocationId: 'xyz', target: 'method', arguments: [42], streamIds: [] }],
  ['non-blocking Invocation', '96 01 80 c0 a6 6d 65 74 68 6f 64 91 2a 90',
    { type: 1, headers: {}, target: 'method', arguments: [42], streamIds: [] }],
  ['StreamInvocation', '96 04 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90',
    { type: 4, headers: {}, invocationId: 'xyz', target: 'method', arguments: [42], streamIds: [] }],
  ['StreamItem', '94 02 80 a3 78 79 7a 2a', { type: 2, headers: {}, invocationId: 'xyz', item: 42 }],
  ['error Completion', '95 03 80 a3 78 79 7a 01 a5 45 72 72 6f 72', { type: 3, headers: {}, invocationId: 'xyz', error: 'Error' }],
  ['void Completion', '94 03 80 a3 78 79 7a 02', { type: 3, headers: {}, invocationId: 'xyz' }],
  ['non-void Completion', '95 03 80 a3 78 79 7a 03 2a', { type: 3, headers: {}, invocationId: 'xyz', result: 42 }],
  ['CancelInvocation', '93 05 80 a3 78 79 7a', { type: 5, headers: {}, invocationId: 'xyz' }],
  ['Ping', '91 06', { type: 6 }],
  ['Close', '92 07 a3 78 79 7a', { type: 7, error: 'xyz' }],
  ['Close allowing reconnect', '93 07 a3 78 79 7a c3', { type: 7, error: 'xyz', allowReconnect: true }],
  ['Ack', '92 08 24', { type: 8, sequenceId: 36 }],
  ['Sequence', '92 09 13', { type: 9, sequenceId: 19 }],
  ['headers', '96 01 82 a1 78 a1 79 a1 7a a1 7a a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90',
    { type: 1, headers: { x: 'y', z: 'z' }, invocationId: 'xyz', target: 'method', arguments: [42], streamIds: [] }],
];

test('write produces the spec examples, framed', () => {
  for (const [name, body, msg] of SPEC) assert.deepEqual(p.write(msg), framed(hex(body)), name);
});

test('parse reads the spec examples', () => {
  for (const [name, body, msg] of SPEC) {
    assert.deepEqual(p.parse(framed(hex(body))), [msg], name);
  }
  // Also the spec's unsigned ints of any size, and trailing elements a later version may add.
  assert.deepEqual(p.parse(framed(hex('92 08 cc 24'))), [{ type: 8, sequenceId: 36 }]);
  assert.deepEqual(p.parse(framed(hex('93 06 01 02'))), [{ type: 6 }]);
  // Unknown message types are skipped, as the official client does.
  assert.deepEqual(p.parse(cat(framed(hex('91 0f')), framed(hex('91 06')))), [{ type: 6 }]);
});

test('what the client writes: the official client\'s layouts', () => {
  const tests = [
    // A call without upload streams has no StreamIds element.
    [{ type: 1, invocationId: '0', target: 'Echo', arguments: ['hi'] }, '95 01 80 a1 30 a4 45 63 68 6f 91 a2 68 69'],
    [{ type: 1, target: 'F', arguments: [1, 2] }, '95 01 80 c0 a1 46 92 01 02'],
    [{ type: 1, invocationId: '1', target: 'S', arguments: [], streamIds: ['2'] }, '96 01 80 a1 31 a1 53 90 91 a1 32'],
    [{ type: 4, invocationId: '1', target: 'C', arguments: [3] }, '95 04 80 a1 31 a1 43 91 03'],
    [{ type: 2, invocationId: '2', item: bytes(1) }, '94 02 80 a1 32 c4 01 01'],
    [{ type: 3, invocationId: '2' }, '94 03 80 a1 32 02'],
    [{ type: 3, invocationId: 's1', result: null }, '95 03 80 a2 73 31 03 c0'],
    [{ type: 3, invocationId: 's1', error: 'no' }, '95 03 80 a2 73 31 01 a2 6e 6f'],
    [{ type: 5, invocationId: '3' }, '93 05 80 a1 33'],
    [{ type: 7 }, '92 07 c0'],
    [{ type: 8, sequenceId: 300 }, '92 08 cd 01 2c'],
    [{ type: 9, sequenceId: 1 }, '92 09 01'],
  ];
  for (const [msg, body] of tests) assert.deepEqual(p.write(msg), framed(hex(body)), JSON.stringify(msg));
  assert.throws(() => p.write({ type: 42 }), /message type/);
});

test('framing: several records in one unit, long varint prefixes, the handshake reply before them', () => {
  const ping = framed(hex('91 06'));
  const big = { type: 2, headers: {}, invocationId: '1', item: 'x'.repeat(5248) };
  const bigRecord = p.write(big);
  assert.deepEqual([...bigRecord.subarray(0, 3)], [0x88, 0x29, 0x94], 'a two-byte prefix: 0x88 0x29 = 5256');
  assert.deepEqual(p.parse(cat(ping, bigRecord, ping)), [{ type: 6 }, big, { type: 6 }]);
  assert.deepEqual(p.parse(cat(ping).buffer), [{ type: 6 }], 'an ArrayBuffer (WebSocket binary message)');
  assert.deepEqual(p.parse(new Uint8Array(0)), [], 'an empty poll');
  // The handshake reply is JSON ended by 0x1e, in a binary or a text frame, messages after it.
  const reply = new TextEncoder().encode('{}\x1e');
  assert.deepEqual(p.parse(cat(reply, ping), true), [{}, { type: 6 }]);
  assert.deepEqual(p.parse('{"error":"nope"}\x1e', true), [{ error: 'nope' }]);
  assert.throws(() => p.parse(new TextEncoder().encode('{}'), true), /incomplete/i);
  // Parts of a POST body, the handshake request (text) among them.
  assert.deepEqual(p.join([ping, ping]), cat(ping, ping));
  assert.deepEqual(p.join(['{}\x1e', ping]), cat(reply, ping));
});

test('a long-poll body is read as bytes', async () => {
  const ping = framed(hex('91 06'));
  const body = await p.read(new Response(ping));
  assert.ok(body instanceof Uint8Array);
  assert.deepEqual(p.parse(body), [{ type: 6 }]);
  assert.equal((await p.read(new Response(null))).length, 0, 'an empty poll is empty');
});

test('hostile input: a clear error, no crash, no allocation from an announced length', () => {
  const tests = [
    ['truncated varint', bytes(0x80), /message size/],
    ['varint of six bytes', bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x01), /message size|2GB/],
    ['varint over 2 GB', bytes(0xff, 0xff, 0xff, 0xff, 0x08), /2GB/],
    ['length prefix longer than the unit', cat(bytes(0x10), hex('91 06')), /Incomplete message/],
    ['empty record', bytes(0), /Invalid payload/],
    ['array32 announcing 2^32-1 elements', framed(hex('dd ff ff ff ff 06')), /truncated|Invalid/],
    ['map32 announcing 2^32-1 entries', framed(hex('93 01 df ff ff ff ff')), /truncated|Invalid/],
    ['array16 longer than the record', framed(hex('dc ff ff 06')), /truncated|Invalid/],
    ['str32 longer than the record', framed(hex('92 07 db 7f ff ff ff 61')), /truncated/],
    ['bin32 longer than the record', framed(hex('94 02 80 a1 31 c6 7f ff ff ff 00')), /truncated/],
    ['str cut short', framed(hex('92 07 a5 61')), /truncated/],
    ['float64 cut short', framed(hex('94 02 80 a1 31 cb 00')), /truncated/],
    ['unknown extension type', framed(hex('94 02 80 a1 31 d4 05 00')), /extension/],
    ['ext32 longer than the record', framed(hex('94 02 80 a1 31 c9 7f ff ff ff 05')), /truncated|extension/],
    ['the never-used byte 0xc1', framed(hex('92 07 c1')), /0xc1|invalid/i],
    ['deep nesting', framed(Uint8Array.from([0x92, 0x02, ...new Array(100000).fill(0x91), 0x00])), /deep/],
    ['not an array', framed(hex('a1 61')), /Invalid payload/],
    ['an empty array', framed(hex('90')), /Invalid payload/],
    ['bytes after the array', framed(hex('91 06 00')), /extra/i],
    ['headers not a map', framed(hex('95 01 01 c0 a1 46 90')), /headers/i],
    ['Invocation too short', framed(hex('94 01 80 c0 a1 46')), /Invocation/],
    ['Invocation target not a string', framed(hex('95 01 80 c0 01 90')), /Invocation/],
    ['Invocation arguments not an array', framed(hex('95 01 80 c0 a1 46 01')), /Invocation/],
    ['Invocation id not a string', framed(hex('95 01 80 01 a1 46 90')), /Invocation/],
    ['StreamItem too short', framed(hex('93 02 80 a1 31')), /StreamItem/],
    ['Completion too short', framed(hex('93 03 80 a1 31')), /Completion/],
    ['Completion without its result', framed(hex('94 03 80 a1 31 03')), /Completion/],
    ['Completion of an unknown kind', framed(hex('95 03 80 a1 31 07 00')), /Completion/],
    ['Completion id not a string', framed(hex('94 03 80 01 02')), /Completion/],
    ['Close error not a string', framed(hex('92 07 01')), /Close/],
    ['Ack without a number', framed(hex('91 08')), /Ack/],
    ['Sequence id not a number', framed(hex('92 09 a1 31')), /Sequence/],
    ['map key that is an array', framed(hex('94 02 80 a1 31 81 90 01')), /key/],
    ['__proto__ as a key', framed(hex('94 02 80 a1 31 81 a9 5f 5f 70 72 6f 74 6f 5f 5f 80')), /__proto__/],
  ];
  for (const [name, input, want] of tests) {
    assert.throws(() => p.parse(input), want, name);
  }
  // A huge announced length costs nothing: the error comes at once.
  assert.throws(() => decode(hex('c6 ff ff ff ff')), /truncated/);
  assert.throws(() => decode(hex('dd ff ff ff ff')), /truncated|Invalid/);
});

test('encode refuses what has no MessagePack form, and cycles', () => {
  assert.throws(() => encode(() => 1), /cannot encode/);
  assert.throws(() => encode(Symbol('s')), /cannot encode/);
  const cyclic = { a: /** @type {any} */ (null) };
  cyclic.a = cyclic;
  assert.throws(() => encode(cyclic), /deep/);
});
