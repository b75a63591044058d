// A small reverse proxy for the browser tests. It serves the test page and the
// built client itself, forwards everything else to the hub server (keeping the
// Host header, as reverse proxies do, so the server's same-origin WebSocket
// check passes), and can be hostile in one of these ways:
//
//   none      forward everything faithfully
//   refuse    (a) answer every WebSocket upgrade with 403
//   drop      (b) complete the upgrade with the server, then discard every frame both ways
//   buffer    (c) hold each whole response until it ends (SSE delivers nothing), and refuse upgrades
//   cut       (d) destroy any request, upgraded sockets included, still open after `cutAfter` ms
import http from 'node:http';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>hubbub client test</title></head>
<body><script src="/hubbub.js"></script><script src="/hubbub-msgpack.js"></script><script src="/conformance.js"></script></body></html>`;

/**
 * @param {string} upstream the hub server's base URL, e.g. http://127.0.0.1:8080
 * @param {{mode?: string, cutAfter?: number}} [o]
 */
export async function startProxy(upstream, o = {}) {
  const target = new URL(upstream);
  const stats = { upgrades: 0, cut: 0, requests: 0 };
  const sockets = new Set();
  let mode = o.mode || 'none';
  const cutAfter = o.cutAfter || 2000;

  /** Destroys a and b after cutAfter ms unless done() is called first. */
  const guard = (/** @type {{destroy(): void}[]} */ ...ends) => {
    if (mode !== 'cut') return () => {};
    const t = setTimeout(() => { stats.cut++; ends.forEach((e) => e.destroy()); }, cutAfter);
    return () => clearTimeout(t);
  };

  const server = http.createServer((req, res) => {
    const local = {
      '/test.html': [PAGE, 'text/html; charset=utf-8'],
      '/hubbub.js': [() => readFileSync(path.join(here, '../dist/hubbub.js')), 'text/javascript'],
      '/hubbub-msgpack.js': [() => readFileSync(path.join(here, '../dist/hubbub-msgpack.js')), 'text/javascript'],
      '/conformance.js': [() => readFileSync(path.join(here, 'browser/conformance.js')), 'text/javascript'],
    }[req.url || ''];
    if (local) {
      const body = typeof local[0] === 'function' ? local[0]() : local[0];
      res.writeHead(200, { 'Content-Type': local[1], 'Cache-Control': 'no-store' });
      return res.end(body);
    }
    stats.requests++;
    const up = http.request({
      host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers,
    });
    const done = guard(up, req.socket);
    up.on('response', (ur) => {
      if (mode === 'buffer') {
        const chunks = [];
        ur.on('data', (c) => chunks.push(c));
        ur.on('end', () => {
          const headers = { ...ur.headers };
          delete headers['transfer-encoding'];
          const body = Buffer.concat(chunks);
          headers['content-length'] = String(body.length);
          res.writeHead(ur.statusCode || 502, headers);
          res.end(body);
          done();
        });
        ur.on('error', () => res.destroy());
        return;
      }
      res.writeHead(ur.statusCode || 502, ur.headers);
      ur.pipe(res);
      ur.on('end', done);
      ur.on('error', () => res.destroy());
    });
    up.on('error', () => { done(); res.destroy(); });
    res.on('close', () => { done(); up.destroy(); });
    req.pipe(up);
  });

  server.on('upgrade', (req, socket, head) => {
    stats.upgrades++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (mode === 'refuse' || mode === 'buffer') {
      return socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    }
    const up = net.connect(Number(target.port), target.hostname);
    sockets.add(up);
    up.on('close', () => { sockets.delete(up); socket.destroy(); });
    up.on('error', () => socket.destroy());
    socket.on('close', () => up.destroy());
    guard(up, socket);
    let head0 = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < req.rawHeaders.length; i += 2) head0 += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
    up.write(head0 + '\r\n');
    if (head.length && mode !== 'drop') up.write(head);
    if (mode !== 'drop') {
      socket.pipe(up);
      up.pipe(socket);
      return;
    }
    // drop: forward the server's 101 response, then nothing in either direction.
    socket.on('data', () => {});
    let buffered = Buffer.alloc(0);
    let passed = false;
    up.on('data', (chunk) => {
      if (passed) return;
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end >= 0) {
        passed = true;
        socket.write(buffered.subarray(0, end + 4));
      }
    });
  });

  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${addr.port}`,
    stats,
    /** @param {string} m */
    setMode(m) { mode = m; },
    close() {
      sockets.forEach((s) => s.destroy());
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r(undefined)));
    },
  };
}
