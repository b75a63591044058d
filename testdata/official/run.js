#!/usr/bin/env node
"use strict";
// `npm test`: builds cmd/hubbub (unless HUBBUB_BIN is set), starts it on a free
// 127.0.0.1 port, runs test/*.test.js with `node --test`, stops the server, and exits
// with the test runner's status. Extra arguments are passed to `node --test`
// (e.g. `npm test -- --test-name-pattern=LongPolling`).

const { spawn } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const { serverBinary, startServer } = require("./lib/server");

const OVERALL_TIMEOUT_MS = 5 * 60 * 1000;

async function main() {
  const t0 = Date.now();
  const bin = serverBinary();
  const jwtSecret = crypto.randomBytes(24).toString("base64url");
  const server = await startServer({ bin, args: ["--jwt-secret", jwtSecret], startupTimeoutMs: 60000 });
  process.stderr.write(`hubbub under test: ${server.url} (${bin}); server log: ${server.logFile}\n`);

  const testDir = path.join(__dirname, "test");
  const files = fs.readdirSync(testDir).filter((f) => f.endsWith(".test.js")).sort().map((f) => path.join(testDir, f));
  const args = [
    "--test",
    "--test-reporter=spec",
    `--test-concurrency=${files.length}`,
    "--test-force-exit",
    ...process.argv.slice(2),
    ...files,
  ];
  const child = spawn(process.execPath, args, {
    cwd: __dirname,
    stdio: "inherit",
    env: {
      ...process.env,
      HUBBUB_URL: server.url,
      HUBBUB_BIN: bin,
      HUBBUB_JWT_SECRET: jwtSecret,
    },
  });
  const watchdog = setTimeout(() => {
    process.stderr.write(`\nofficial-client suite exceeded ${OVERALL_TIMEOUT_MS / 1000} s; killing it\n`);
    child.kill("SIGKILL");
  }, OVERALL_TIMEOUT_MS);
  const code = await new Promise((resolve) => child.on("exit", (c, sig) => resolve(c === null ? 1 : c)));
  clearTimeout(watchdog);

  const exit = await server.stop();
  let status = code;
  if (exit && exit.signal === null && exit.code !== 0) {
    process.stderr.write(`\nserver exited with code ${exit.code} after SIGTERM (want a clean shutdown, 0)\n`);
    status = status || 1;
  }
  if (status !== 0) {
    process.stderr.write(`\n--- last lines of the server log (kept in ${server.logFile}) ---\n${server.logTail(120)}\n`);
  } else {
    server.removeLog();
  }
  process.stderr.write(`\nofficial-client suite finished in ${((Date.now() - t0) / 1000).toFixed(1)} s, status ${status}\n`);
  process.exit(status);
}

main().catch((err) => {
  process.stderr.write(`official-client suite could not run: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
