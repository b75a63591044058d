// Starts cmd/hubbub for the demo browser tests: built from the repository with
// `go build` into a temporary directory (or the binary in HUBBUB_BIN), on a free
// loopback port, with a fast news publisher and a short chat sign-in timeout.
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

/** @param {string[]} [args] extra flags for cmd/hubbub */
export async function startHubServer(args = []) {
  let bin = process.env.HUBBUB_BIN;
  let built = '';
  if (!bin) {
    built = mkdtempSync(path.join(tmpdir(), 'hubbub-bin-'));
    bin = path.join(built, 'hubbub');
    execFileSync('go', ['build', '-o', bin, './cmd/hubbub'], { cwd: repo, stdio: 'inherit' });
  }
  mkdirSync(path.join(here, 'test-results'), { recursive: true });
  const log = createWriteStream(path.join(here, 'test-results', 'hubbub-server.log'));
  const child = spawn(bin, ['--addr', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.pipe(log);
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('hubbub did not print its URL within 30 s: ' + out)), 30000);
    child.stdout.on('data', (d) => {
      out += d;
      log.write(d);
      const m = out.match(/https?:\/\/[^\s/]+/);
      if (m) { clearTimeout(timer); resolve(m[0]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`hubbub exited with ${code}: ${out}`)); });
  });
  const res = await fetch(url + '/healthz');
  if (res.status !== 200) throw new Error('/healthz: ' + res.status);
  return {
    url,
    close: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.on('exit', r)));
      if (built) rmSync(built, { recursive: true, force: true });
    },
  };
}
