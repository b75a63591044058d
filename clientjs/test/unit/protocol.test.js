import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frame, handshake, parse, parseHandshake, RS } from '../../src/protocol.js';

test('frame ends a record with RS and keeps SignalR field names', () => {
  assert.equal(frame({ type: 1, invocationId: '0', target: 'Echo', arguments: ['hi'] }),
    '{"type":1,"invocationId":"0","target":"Echo","arguments":["hi"]}\x1e');
  assert.equal(handshake(), '{"protocol":"json","version":1}\x1e');
  assert.equal(handshake(2), '{"protocol":"json","version":2}\x1e');
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

test('parseHandshake returns the reply and the messages after it', () => {
  assert.deepEqual(parseHandshake('{}' + RS), { error: undefined, rest: [] });
  assert.deepEqual(parseHandshake('{}' + RS + '{"type":6}' + RS), { error: undefined, rest: [{ type: 6 }] });
  assert.deepEqual(parseHandshake('{"error":"nope"}' + RS), { error: 'nope', rest: [] });
  assert.throws(() => parseHandshake('{"type":6}' + RS), /handshake/);
  assert.throws(() => parseHandshake('{}'), /incomplete/);
});
