"use strict";
// Building, starting and stopping the real server binary (cmd/hubbub).

const { spawn, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");

/** The repository root: two directories above testdata/official, where go.mod lives. */
function repoRoot() {
  const root = path.resolve(__dirname, "..", "..", "..");
  if (!fs.existsSync(path.join(root, "go.mod"))) {
    throw new Error(`repository root not found: no go.mod in ${root}`);
  }
  return root;
}

/**
 * Returns the path of a server binary: $HUBBUB_BIN if set, else `go build` of
 * ./cmd/hubbub into a fresh temp dir (cwd = repository root).
 */
function serverBinary() {
  if (process.env.HUBBUB_BIN) {
    if (!fs.existsSync(process.env.HUBBUB_BIN)) {
      throw new Error(`HUBBUB_BIN=${process.env.HUBBUB_BIN} does not exist`);
    }
    return process.env.HUBBUB_BIN;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hubbub-official-"));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, "hubbub");
  process.stderr.write(`building ./cmd/hubbub -> ${bin}\n`);
  const r = spawnSync("go", ["build", "-o", bin, "./cmd/hubbub"], {
    cwd: repoRoot(),
    stdio: ["ignore", "inherit", "inherit"],
    timeout: 10 * 60 * 1000,
  });
  if (r.error) throw new Error(`go build failed to run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`go build ./cmd/hubbub exited with ${r.status}`);
  process.env.HUBBUB_BIN = bin; // later servers of this process reuse the build
  return bin;
}

/** A free loopback port: listen on port 0, read the port, close. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function healthy(url) {
  try {
    const res = await fetch(url + "/healthz", { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/**
 * Starts the binary on a free 127.0.0.1 port and resolves once it has printed its URL
 * (or /healthz answers 200). Returns { url, port, stop(), logTail(n), logFile, removeLog() }.
 * Server stdout+stderr go to a log file so a failing run can show them.
 */
async function startServer({ bin, args = [], startupTimeoutMs = 30000, attempts = 3 } = {}) {
  bin = bin || serverBinary();
  let lastErr;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = await freePort();
    try {
      return await startOnce(bin, port, args, startupTimeoutMs);
    } catch (err) {
      lastErr = err;
      // The port may have been taken between close and bind; try another one.
      if (!/address already in use|EADDRINUSE/i.test(String(err && err.message))) break;
    }
  }
  throw lastErr;
}

function startOnce(bin, port, args, startupTimeoutMs) {
  const url = `http://127.0.0.1:${port}`;
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "hubbub-log-"));
  const logFile = path.join(logDir, "server.log");
  const removeLog = () => fs.rmSync(logDir, { recursive: true, force: true });
  const log = fs.createWriteStream(logFile);
  const lines = [];
  const remember = (prefix) => (line) => {
    lines.push(prefix + line);
    if (lines.length > 2000) lines.splice(0, lines.length - 2000);
    log.write(prefix + line + "\n");
  };
  const fullArgs = ["--addr", `127.0.0.1:${port}`, ...args];
  const child = spawn(bin, fullArgs, { stdio: ["ignore", "pipe", "pipe"] });
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  const onExit = () => { try { child.kill("SIGKILL"); } catch {} };
  process.on("exit", onExit);

  const logTail = (n = 80) => lines.slice(-n).join("\n");
  const stop = async () => {
    process.removeListener("exit", onExit);
    if (exited === null) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10000);
      await exitPromise;
      clearTimeout(t);
    }
    await new Promise((r) => log.end(r));
    return exited;
  };

  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        stop().finally(() => { removeLog(); reject(err); });
      } else {
        resolve({ url, port, stop, logTail, logFile, removeLog, args: fullArgs, exitPromise });
      }
    };
    const timer = setTimeout(
      () => finish(new Error(`server did not report readiness within ${startupTimeoutMs} ms\n${logTail()}`)),
      startupTimeoutMs,
    );
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      remember("[stdout] ")(line);
      if (/https?:\/\/\S+/.test(line)) finish();
    });
    readline.createInterface({ input: child.stderr }).on("line", remember("[stderr] "));
    child.on("error", (err) => finish(new Error(`cannot start ${bin}: ${err.message}`)));
    exitPromise.then((e) =>
      finish(new Error(`server exited during startup (code ${e.code}, signal ${e.signal})\n${logTail()}`)));
    // Fallback readiness check in case the URL line changes shape.
    (async () => {
      while (!done) {
        await sleep(250);
        if (!done && (await healthy(url))) finish();
      }
    })();
  });
}

module.exports = { repoRoot, serverBinary, freePort, startServer, sleep };
