"use strict";
// The link-cutting proxy (internal/linkcut/cmd/linkcut) in front of a server under test:
// built once per process (or $LINKCUT_BIN), started on a free loopback port, driven
// through its control API.

const { spawn, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");

function cutterBinary() {
  if (process.env.LINKCUT_BIN) return process.env.LINKCUT_BIN;
  const root = path.resolve(__dirname, "..", "..", "..");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "linkcut-"));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, "linkcut");
  const r = spawnSync("go", ["build", "-o", bin, "./internal/linkcut/cmd/linkcut"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) throw new Error("go build ./internal/linkcut/cmd/linkcut failed");
  process.env.LINKCUT_BIN = bin;
  return bin;
}

/** Starts a cutter in front of target; extra args go to the command (-every, -kinds…). */
async function startCutter(target, args = []) {
  const child = spawn(cutterBinary(), ["-target", target, ...args], { stdio: ["pipe", "pipe", "inherit"] });
  const url = await new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    rl.on("line", (line) => {
      const m = /^LISTEN (\S+)/.exec(line);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`linkcut exited with ${code} before listening`)));
  });
  const control = (p, method = "POST") => fetch(url + "/__linkcut/" + p, { method }).then((r) => r.json());
  return {
    url,
    /** Cuts now; resolves to the number of links cut. */
    cut: async (kind) => (await control("cut?kind=" + kind)).cut || 0,
    stats: () => control("stats", "GET"),
    stop: () => new Promise((resolve) => {
      child.on("exit", resolve);
      child.stdin.end();
      setTimeout(() => child.kill("SIGKILL"), 3000).unref();
    }),
  };
}

module.exports = { startCutter };
