import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_DELAY, reconnectDelay } from '../../src/backoff.js';

const lo = () => 0;          // least jitter: the full base delay
const hi = () => 0.999999;   // most jitter

test('default policy: exponential base, jitter bounds, cap', () => {
  for (let attempt = 0; attempt < 30; attempt++) {
    const base = Math.min(15000, 500 * 2 ** attempt);
    assert.equal(reconnectDelay(attempt, undefined, undefined, lo), base, `attempt ${attempt} upper bound`);
    const d = reconnectDelay(attempt, true, undefined, hi);
    assert.ok(d >= base / 2 - 1 && d <= base, `attempt ${attempt}: ${d} within [${base / 2}, ${base}]`);
  }
});

test('random delays stay inside the bounds and are spread out', () => {
  const seen = new Set();
  for (let i = 0; i < 1000; i++) {
    const d = /** @type {number} */ (reconnectDelay(3, { delay: 1000, factor: 2, maxDelay: 60000, jitter: 0.5 }));
    assert.ok(d >= 4000 && d <= 8000, String(d));
    seen.add(d);
  }
  assert.ok(seen.size > 100, 'jitter spreads delays');
});

test('never a tight loop: every delay has a floor', () => {
  const policies = [{ delay: 0 }, { delay: 1, jitter: 1 }, { delay: 10, jitter: 5 }, () => 0, () => -0];
  for (const p of policies) {
    for (let a = 0; a < 5; a++) {
      const d = reconnectDelay(a, p, undefined, hi);
      assert.ok(d !== null && d >= MIN_DELAY, `${JSON.stringify(p)} attempt ${a}: ${d}`);
    }
  }
});

test('giving up', () => {
  assert.equal(reconnectDelay(0, false), null);
  assert.equal(reconnectDelay(3, { retries: 3 }), null);
  assert.notEqual(reconnectDelay(2, { retries: 3 }), null);
  assert.equal(reconnectDelay(0, () => null), null);
  assert.equal(reconnectDelay(0, () => -1), null);
});

test('a function policy sees the attempt and the error', () => {
  const seen = [];
  const policy = (attempt, err) => (seen.push([attempt, err?.message]), attempt < 2 ? 1000 * (attempt + 1) : null);
  assert.equal(reconnectDelay(0, policy, new Error('x')), 1000);
  assert.equal(reconnectDelay(1, policy), 2000);
  assert.equal(reconnectDelay(2, policy), null);
  assert.deepEqual(seen, [[0, 'x'], [1, undefined], [2, undefined]]);
});
