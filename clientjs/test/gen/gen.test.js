// The generated typed connections (internal/demo/types, written by
// `go run ./cmd/hubbub gen ts`) both ways: right calls compile (usage.ts, and the
// demo pages that use them), and each wrong call in bad/calls.ts fails tsc with
// the error its `// @expect TSnnnn` comment names, and nothing else fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');

function run(project) {
  const r = spawnSync(process.execPath, [tsc, '-p', join(here, project), '--pretty', 'false'], { encoding: 'utf8' });
  const errors = [...r.stdout.matchAll(/^(.+?)\((\d+),\d+\): error (TS\d+):/gm)]
    .map((m) => `${m[1].split(/[\\/]/).pop()}:${m[2]} ${m[3]}`);
  return { status: r.status, out: r.stdout + r.stderr, errors };
}

test('right calls through the typed connections compile', () => {
  const r = run('tsconfig.json');
  assert.equal(r.status, 0, r.out);
});

test('the demo pages type-check against the generated types', () => {
  const r = run('tsconfig.pages.json');
  assert.equal(r.status, 0, r.out);
});

test('each wrong call fails with the expected error, and only those', () => {
  const expected = readFileSync(join(here, 'bad', 'calls.ts'), 'utf8').split('\n')
    .flatMap((line, i) => [...line.matchAll(/@expect (TS\d+)/g)].map((m) => `calls.ts:${i + 1} ${m[1]}`));
  assert.ok(expected.length >= 10, `only ${expected.length} marked lines`);
  const r = run(join('bad', 'tsconfig.json'));
  assert.notEqual(r.status, 0, 'tsc accepted the wrong calls');
  assert.deepEqual([...new Set(r.errors)].sort(), expected.sort(), r.out);
});
