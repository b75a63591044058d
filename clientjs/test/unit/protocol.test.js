import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frame, handshake, json, parse, parseHandshake, RS } from '../../src/protocol.js';

test('frame ends a record with RS and keeps SignalR field names', () => {
  assert.equal(frame({ type: 1, invocationId: '0', target: 'Echo', arguments: ['hi'] }),
    '{"type":1,"invocationId":"0","target":"Echo","arguments":["hi"]}\x1e');
  assert.equal(handshake(1, 'json'), '{"protocol":"json","version":1}\x1e');
  assert.equal(handshake(2, 'json'), '{"protocol":"json","version":2}\x1e');
  assert.equal(handshake(1, 'messagepack'), '{"protocol":"messagepack","version":1}\x1e');
});

test('parse splits a unit into records', () => {
  const tests = [
    { name: 'one record', in: '{"type":6}' + RS, want: [{ type: 6 }] },
    { name: 'several records', in: '{"type":6}' + RS + '{"type":1,"target":"x","arguments":[1]}' + RS,
      want: [{ type: 6 }, { type: 1, target: 'x', arguments: [1] }] },
    { name: 'RS inside a JSON string is escaped by JSON', in: frame({ type: 1, target: 'a', arguments: ['x\x1ey'] }),
      want: [{ type: 1, target: 'a', arguments: ['x\x1ey'] }] },
    { name: 'newlines and unicode', in: frame({ type: 2, invocationId: '1', item: 'a\nb ☃' }), want: [{ type: 2, invocationId: '1', item: 'a\nb ☃' }] },
  ];
  for (const tc of tests) assert.deepEqual(parse(tc.in), tc.want, tc.name);
});

test('parse rejects incomplete units and bad JSON', () => {
  assert.throws(() => parse('{"type":6}'), /Message is incomplete/);
  assert.throws(() => parse(''), /Message is incomplete/);
  assert.throws(() => parse('{"type":' + RS), SyntaxError);
});

test('parseHandshake returns the reply\'s error and the messages after it', () => {
  assert.deepEqual(parseHandshake('{}' + RS, json), [undefined, []]);
  assert.deepEqual(parseHandshake('{}' + RS + '{"type":6}' + RS, json), [undefined, [{ type: 6 }]]);
  assert.deepEqual(parseHandshake('{"error":"nope"}' + RS, json), ['nope', []]);
  assert.throws(() => parseHandshake('{"type":6}' + RS, json), /handshake/);
  assert.throws(() => parseHandshake('[]' + RS, json), /handshake/);
  assert.throws(() => parseHandshake('5' + RS, json), /handshake/);
  assert.throws(() => parseHandshake('{}', json), /incomplete/);
});

test('the JSON protocol object: text transfer format, records joined as text', async () => {
  assert.equal(json.name, 'json');
  assert.equal(json.format, 'Text');
  assert.equal(json.write({ type: 6 }), '{"type":6}' + RS);
  assert.deepEqual(json.parse('{"type":6}' + RS), [{ type: 6 }]);
  assert.equal(json.join(['a' + RS, 'b' + RS]), 'a' + RS + 'b' + RS);
  assert.equal(await json.read(new Response('x' + RS)), 'x' + RS);
});
