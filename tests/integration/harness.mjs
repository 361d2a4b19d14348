// harness.mjs -- real roomcast processes and a real WebSocket client for the
// integration tests.
//
// Every test gets its own processes: fresh free TCP ports on 127.0.0.1 and a
// fresh temporary directory for the SQLite database. Importing this module
// installs root-level node:test hooks: everything a test started (processes,
// client connections) is killed when that test ends, pass or fail; when it
// failed, the stderr of each of its processes is printed (and saved under
// tests/out/). A process 'exit' handler SIGKILLs anything still alive.
//
//   const broker = await startBroker({ gateway_timeout_ms: 1000 });
//   const gw = await startGateway(broker, { rate_per_s: 5000 });   // waits for /healthz 200
//   const c = await connect(gw);            // c.welcome is the first frame
//   c.send({ event: 'enter', room: 'r', name: 'alice' });
//   const ev = await c.next({ event: 'enter', uid: c.uid });
//
// Readiness: a gateway is ready when GET /healthz answers 200 (polled every
// 50 ms up to 10 s). The broker has no HTTP: it is ready when a gateway
// attached to it reports 200, so startBroker() only spawns it.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import http from 'node:http';
import crypto from 'node:crypto';
import { beforeEach, afterEach, after } from 'node:test';
import WebSocket from 'ws';

export const ROOT = path.resolve(fileURLToPath(new URL('../../', import.meta.url)));
// ROOMCAST_BIN_DIR runs the tests against binaries elsewhere (default bin/).
const BIN_DIR = process.env.ROOMCAST_BIN_DIR ? path.resolve(process.env.ROOMCAST_BIN_DIR) : path.join(ROOT, 'bin');
export const BIN = {
  broker: path.join(BIN_DIR, 'roomcast-broker'),
  gateway: path.join(BIN_DIR, 'roomcast-gateway'),
};
export const WWW = path.join(ROOT, 'www');
export const OUT = path.join(ROOT, 'tests', 'out');

const READY_TIMEOUT_MS = 10000;
const POLL_MS = 50;

// ---------------------------------------------------------------------------
// Bookkeeping: everything started gets a sequence number; each test kills what
// was started since it began (tests of one file run one after another).

let seqCounter = 0;
const live = new Set();      // running processes (Proc)
const allProcs = [];         // every Proc ever started, for logs
const clients = new Set();   // open Client objects
const tempDirs = [];
const marks = [];            // stack of seqCounter values at test start

function killAllSync() {
  for (const p of live) {
    try { p.child.kill('SIGKILL'); } catch { /* gone */ }
  }
}
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { killAllSync(); process.exit(128 + (os.constants.signals[sig] || 0)); });
}

function safeName(s) {
  return String(s).replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 80);
}

beforeEach(() => { marks.push(seqCounter); });

afterEach(async (t) => {
  const mark = marks.length ? marks.pop() : 0;
  await cleanup(mark, t);
});

after(async () => { await cleanup(0, null); });

/** Kills every process and closes every client started at or after `mark`
 *  (all of them by default). When `t` is a failed test context, prints the
 *  processes' stderr and saves it under tests/out/. */
export async function cleanup(mark = 0, t = null) {
  for (const c of [...clients]) {
    if (c.seq >= mark) { try { c.ws.terminate(); } catch { /* */ } clients.delete(c); }
  }
  const mine = allProcs.filter((p) => p.seq >= mark);
  const failed = t && !t.passed;
  if (failed && mine.length) {
    const text = mine.map((p) =>
      `----- ${p.label} (${p.argv.join(' ')}) exit=${p.exitCode ?? 'running'} signal=${p.exitSignal ?? ''} -----\n` +
      (p.stderr || '(no stderr)\n')).join('');
    try {
      fs.mkdirSync(OUT, { recursive: true });
      const file = path.join(OUT, `${safeName(path.basename(process.argv[1] || 'test'))}--${safeName(t.fullName || t.name)}.log`);
      fs.writeFileSync(file, text);
      process.stderr.write(`stderr of the processes of failed test "${t.name}" (also in ${file}):\n${text}`);
    } catch {
      process.stderr.write(text);
    }
  }
  await Promise.all(mine.filter((p) => live.has(p)).map((p) => kill(p)));
  for (const p of mine) {
    const i = allProcs.indexOf(p);
    if (i >= 0) allProcs.splice(i, 1);
  }
  if (mark === 0) {
    for (const d of tempDirs.splice(0)) { try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* */ } }
  }
}

// ---------------------------------------------------------------------------
// Small helpers

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves with what `promise` resolves to, or with null when it has not
 *  settled within `ms` (the timer is cleared either way). */
export async function within(promise, ms) {
  let timer;
  try {
    return await Promise.race([promise, new Promise((r) => { timer = setTimeout(() => r(null), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** A free TCP port on 127.0.0.1 (listen on port 0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix = 'roomcast-it-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

/** Polls `fn` (sync or async) every `interval` ms until it returns a truthy
 *  value, which is returned. Rejects after `timeoutMs` with `what` and the
 *  last value/error seen. */
export async function waitFor(fn, { timeoutMs = 10000, interval = POLL_MS, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${detail}`);
    }
    await sleep(interval);
  }
}

function overridesToArgs(overrides) {
  const args = [];
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined || v === null) continue;
    args.push('-o', `${k}=${v}`);
  }
  return args;
}

// ---------------------------------------------------------------------------
// Processes

/** Spawns a binary; returns a Proc {child, pid, stderr, stdout, exited, ...}. */
export function spawnProc(bin, args, label) {
  if (!fs.existsSync(bin)) throw new Error(`${bin} does not exist: run make in ${ROOT}`);
  const child = spawn(bin, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = {
    label, child, pid: child.pid, argv: [path.relative(ROOT, bin), ...args],
    stdout: '', stderr: '', exitCode: null, exitSignal: null, seq: seqCounter++,
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { p.stdout += d; });
  child.stderr.on('data', (d) => { p.stderr += d; });
  p.exited = new Promise((resolve) => {
    child.on('error', (e) => { p.stderr += `spawn error: ${e.message}\n`; });
    child.on('close', (code, signal) => {
      p.exitCode = code; p.exitSignal = signal; live.delete(p);
      resolve(code === null ? `signal ${signal}` : code);
    });
  });
  live.add(p);
  allProcs.push(p);
  return p;
}

/** Sends `signal` and resolves with the exit code (or "signal SIGx" when the
 *  process died of a signal). Rejects when it has not exited after
 *  `timeoutMs` (then SIGKILLs it). */
export async function stop(proc, signal = 'SIGTERM', timeoutMs = 10000) {
  const p = proc.proc || proc;
  if (live.has(p)) {
    try { p.child.kill(signal); } catch { /* */ }
  }
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      try { p.child.kill('SIGKILL'); } catch { /* */ }
      reject(new Error(`${p.label} did not exit within ${timeoutMs} ms of ${signal}; stderr:\n${p.stderr}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([p.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function kill(p) {
  if (!live.has(p)) return;
  try { p.child.kill('SIGKILL'); } catch { /* */ }
  await Promise.race([p.exited, sleep(3000)]);
}

/** Runs a binary to completion (for --help, --version, bad configs), with
 *  no signal. Resolves with {code, signal, stdout, stderr}; rejects (after a
 *  SIGKILL) when it has not exited within timeoutMs. */
export async function runCli(which, args, timeoutMs = 10000) {
  const bin = BIN[which] || which;
  const p = spawnProc(bin, args, `${which}-cli`);
  let timer;
  const res = await Promise.race([
    p.exited.then(() => 'exited'),
    new Promise((r) => { timer = setTimeout(() => r('timeout'), timeoutMs); }),
  ]);
  clearTimeout(timer);
  if (res === 'timeout') {
    await kill(p);
    throw new Error(`${p.argv.join(' ')} did not exit within ${timeoutMs} ms; stderr:\n${p.stderr}`);
  }
  return { code: p.exitCode, signal: p.exitSignal, stdout: p.stdout, stderr: p.stderr };
}

/** Starts a broker with fresh ports and db (or the ones of `opts.like`, to
 *  restart a stopped broker on the same ports and database). Other keys of
 *  opts are `-o` overrides. Resolves with a Broker object:
 *  {proc, events_url, fanout_url, db, dir, overrides}. */
export async function startBroker(opts = {}) {
  const { like, ...extra } = opts;
  let base;
  if (like) {
    base = { ...like.overrides };
  } else {
    const dir = tempDir();
    base = {
      db: path.join(dir, 'roomcast.db'),
      events_url: `tcp://127.0.0.1:${await freePort()}`,
      fanout_url: `tcp://127.0.0.1:${await freePort()}`,
      log_level: 'warn',
    };
  }
  const overrides = { ...base, ...extra };
  const proc = spawnProc(BIN.broker, overridesToArgs(overrides), 'broker');
  const b = {
    proc, overrides, events_url: overrides.events_url, fanout_url: overrides.fanout_url,
    db: overrides.db, dir: path.dirname(overrides.db), gateways: like ? like.gateways : 0,
  };
  // Fail fast if it dies at start-up (bad config, port in use ...).
  const early = await Promise.race([proc.exited.then((c) => ({ c })), sleep(100)]);
  if (early && early.c !== undefined) {
    throw new Error(`broker exited at start with ${early.c}; stderr:\n${proc.stderr}`);
  }
  return b;
}

/** Restarts a broker (stopped or not) on the same ports and database. */
export async function restartBroker(broker, extra = {}) {
  if (live.has(broker.proc)) await stop(broker.proc);
  const nb = await startBroker({ like: broker, ...extra });
  broker.proc = nb.proc;
  return broker;
}

const GW_IDS = 'abcdefghijklmnopqrstuvwxyz';

/** Starts a gateway attached to `broker` with a fresh listen port. opts: any
 *  `-o` overrides (id defaults to gw-a, gw-b ... per broker), plus
 *  `ready` (default true: wait for /healthz 200; false: only for the port to
 *  answer HTTP at all). Resolves with a Gateway {proc, port, url, id, overrides}. */
export async function startGateway(broker, opts = {}) {
  const { ready = true, ...extra } = opts;
  const port = await freePort();
  const n = broker.gateways++;
  const overrides = {
    events_url: broker.events_url,
    fanout_url: broker.fanout_url,
    listen: `127.0.0.1:${port}`,
    www: WWW,
    id: `gw-${GW_IDS[n % 26]}${n >= 26 ? n : ''}`,
    log_level: 'warn',
    // The default (10240 workers: 200 MB and 10,000 tasks per gateway) is
    // too big for many test gateways on a shared machine; a test that
    // wants it passes threads: null (capacity.test.mjs does).
    threads: 1024,
    ...extra,
  };
  const proc = spawnProc(BIN.gateway, overridesToArgs(overrides), `gateway ${overrides.id}`);
  const gw = gatewayAt(proc, port, overrides.id);
  gw.overrides = overrides;
  gw.broker = broker;
  await waitReady(gw, ready ? 200 : null);
  return gw;
}

/** A Gateway object for a gateway process started some other way (with -c,
 *  say) that listens on 127.0.0.1:port. */
export function gatewayAt(proc, port, id = 'gw') {
  return { proc, port, host: '127.0.0.1', id, overrides: {}, broker: null,
    url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}` };
}

/** Waits until GET /healthz on gw answers `status` (any status when null).
 *  Polls every 50 ms; rejects after timeoutMs or when the process exits. */
export async function waitReady(gw, status = 200, timeoutMs = READY_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    if (!live.has(gw.proc)) {
      await gw.proc.exited;
      throw new Error(`${gw.proc.label} exited (${gw.proc.exitCode ?? gw.proc.exitSignal}) before /healthz answered ${status ?? 'at all'}; stderr:\n${gw.proc.stderr}`);
    }
    try {
      const r = await httpGet(gw, '/healthz', { timeoutMs: 2000 });
      last = `${r.status} ${r.body}`;
      if (status === null || r.status === status) return r;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() >= deadline) {
      throw new Error(`${gw.proc.label}: /healthz did not answer ${status ?? 'at all'} within ${timeoutMs} ms (last: ${last}); stderr:\n${gw.proc.stderr}`);
    }
    await sleep(POLL_MS);
  }
}

// ---------------------------------------------------------------------------
// HTTP

/** GET a path on a gateway. Resolves with {status, headers, body}. */
export function httpGet(gw, urlPath, { headers = {}, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: gw.host || '127.0.0.1', port: gw.port, path: urlPath, method: 'GET', headers, agent: false,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${urlPath}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Sends a WebSocket upgrade request for `urlPath` and resolves with the
 *  HTTP status of the answer (101 when the server upgraded). */
export function rawUpgrade(gw, urlPath, headers = {}, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: gw.host || '127.0.0.1', port: gw.port, path: urlPath, method: 'GET', agent: false,
      headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'), ...headers,
      },
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`upgrade ${urlPath}: no answer within ${timeoutMs} ms`)));
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode, headers: res.headers }); });
    req.on('response', (res) => { res.resume(); resolve({ status: res.statusCode, headers: res.headers }); });
    req.on('error', reject);
    req.end();
  });
}

/** Parses Prometheus text into {name: [{labels, value}]}; `metric(m, name)`
 *  gives the sum over its series. */
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    (out[m[1]] ||= []).push({ labels: m[2] || '', value: Number(m[3]) });
  }
  return out;
}
export function metric(parsed, name) {
  const s = parsed[name];
  if (!s) return undefined;
  return s.reduce((a, x) => a + x.value, 0);
}
export async function getMetrics(gw) {
  const r = await httpGet(gw, '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.body}`);
  return { ...r, metrics: parseMetrics(r.body) };
}

// ---------------------------------------------------------------------------
// WebSocket client

/** A binary WebSocket message as a frame: a binary chat message's header
 *  fields (docs/protocol.md "Binary messages") plus `__binary` (the first bytes
 *  in hex) and a non-enumerable `payload` (a Buffer); anything else only
 *  `__binary`. */
export function decodeBinary(data) {
  const f = { __binary: data.toString('hex').slice(0, 200) };
  if (data.length >= 4) {
    const n = data.readUInt32BE(0);
    if (n >= 1 && 4 + n <= data.length) {
      try {
        Object.assign(f, JSON.parse(data.subarray(4, 4 + n).toString()));
        Object.defineProperty(f, 'payload', { value: data.subarray(4 + n), enumerable: false });
      } catch { /* not that layout: hex only */ }
    }
  }
  return f;
}

/** Encodes a binary chat message: 4-byte big-endian header length, the
 *  header (an object, or a string sent as is), then the payload. */
export function encodeBinary(header, payload) {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(h.length);
  return Buffer.concat([len, h, Buffer.from(payload)]);
}

function describeFrame(f) {
  const s = JSON.stringify(f);
  return s.length > 300 ? s.slice(0, 300) + '...' : s;
}

/** Builds a predicate from a function, an event name, or an object whose
 *  fields must all be equal (deep-equal for objects) in the frame. */
export function matcher(pred) {
  if (typeof pred === 'function') return pred;
  if (typeof pred === 'string') return (f) => f && f.event === pred;
  if (pred && typeof pred === 'object') {
    return (f) => f && typeof f === 'object' &&
      Object.entries(pred).every(([k, v]) => JSON.stringify(f[k]) === JSON.stringify(v));
  }
  throw new Error(`bad predicate ${pred}`);
}

function predText(pred) {
  if (typeof pred === 'function') return pred.label || pred.toString().slice(0, 120);
  return JSON.stringify(pred);
}

export class Client {
  constructor(ws, label) {
    this.ws = ws;
    this.label = label;
    this.queue = [];     // received, not yet taken by next()
    this.log = [];       // everything received, in order (last 200)
    this.waiters = [];
    this.pongs = 0;
    this.autoPong = false; // when true, server heartbeat pings are answered
    this.seq = seqCounter++;
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        clients.delete(this);
        resolve(this.closeInfo);
        for (const w of this.waiters.splice(0)) w.onClose();
      });
    });
    ws.on('error', (e) => { this.lastError = e; });
    ws.on('pong', () => { this.pongs++; if (this.pongWaiter) this.pongWaiter(); });
    ws.on('message', (data, isBinary) => {
      let f;
      if (isBinary) f = decodeBinary(data);
      else {
        const text = data.toString();
        try { f = JSON.parse(text); } catch { f = { __raw: text }; }
      }
      this.log.push(f);
      if (this.log.length > 200) this.log.shift();
      if (this.autoPong && f && f.event === 'heartbeat' && f.message === 'ping') {
        try { this.send({ event: 'heartbeat', message: 'pong' }); } catch { /* closing */ }
      }
      for (let i = 0; i < this.waiters.length; i++) {
        if (this.waiters[i].match(f)) {
          const [w] = this.waiters.splice(i, 1);
          w.resolve(f);
          return;
        }
      }
      this.queue.push(f);
    });
    clients.add(this);
  }

  get uid() { return this.welcome && this.welcome.uid; }

  send(obj) { this.ws.send(JSON.stringify(obj)); }
  sendRaw(text) { this.ws.send(text); }
  sendBinary(buf) { this.ws.send(buf, { binary: true }); }

  /** Resolves with the first queued or incoming frame matching pred
   *  (function, event name, or object of required fields), removing it from
   *  the queue. Rejects after timeoutMs, or at once when the connection
   *  closes, listing what arrived. */
  next(pred, timeoutMs = 5000) {
    const match = matcher(pred);
    const i = this.queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    const started = this.log.length;
    return new Promise((resolve, reject) => {
      const fail = (why) => {
        const seen = this.log.slice(Math.max(0, started - 20));
        reject(new Error(`${this.label}: ${why} waiting for ${predText(pred)}.\n` +
          `  frames not taken (${this.queue.length}): ${this.queue.slice(-30).map(describeFrame).join('\n    ') || 'none'}\n` +
          `  recent frames received (${seen.length}): ${seen.map(describeFrame).join('\n    ') || 'none'}` +
          (this.closeInfo ? `\n  connection closed: ${JSON.stringify(this.closeInfo)}` : '')));
      };
      const w = {
        match,
        resolve: (f) => { clearTimeout(timer); resolve(f); },
        onClose: () => { clearTimeout(timer); fail('connection closed'); },
      };
      const timer = setTimeout(() => {
        const k = this.waiters.indexOf(w);
        if (k >= 0) this.waiters.splice(k, 1);
        fail(`timeout after ${timeoutMs} ms`);
      }, timeoutMs);
      if (this.closeInfo) { w.onClose(); return; }
      this.waiters.push(w);
    });
  }

  /** Collects `count` frames matching pred (in arrival order). */
  async collect(pred, count, timeoutMs = 30000) {
    const match = matcher(pred);
    const out = [];
    const deadline = Date.now() + timeoutMs;
    while (out.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.label}: collected only ${out.length}/${count} frames matching ${predText(pred)} in ${timeoutMs} ms; last: ${out.slice(-3).map(describeFrame).join(' ')}`);
      out.push(await this.next(match, left).catch((e) => {
        throw new Error(`collected ${out.length}/${count}: ${e.message}`);
      }));
    }
    return out;
  }

  /** Frames in the queue that match pred (not removed). */
  pending(pred = () => true) { return this.queue.filter(matcher(pred)); }
  /** Removes all queued frames (returns them). */
  drain() { return this.queue.splice(0); }

  /** Sends a heartbeat ping and waits for the pong: proves the connection
   *  is alive and usable. */
  async ping(timeoutMs = 5000) {
    this.send({ event: 'heartbeat', message: 'ping' });
    return this.next({ event: 'heartbeat', message: 'pong' }, timeoutMs);
  }

  /** Sends a WebSocket ping frame and waits for a pong frame. */
  wsPing(timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      const before = this.pongs;
      const timer = setTimeout(() => { this.pongWaiter = null; reject(new Error(`${this.label}: no pong frame within ${timeoutMs} ms`)); }, timeoutMs);
      this.pongWaiter = () => { if (this.pongs > before) { clearTimeout(timer); this.pongWaiter = null; resolve(); } };
      this.ws.ping(Buffer.from('hi'));
    });
  }

  /** Sends `enter` and waits for this connection's own `enter` event. */
  async enter(room, name, extra = {}, timeoutMs = 5000) {
    this.send({ event: 'enter', room, name, ...extra });
    const uid = extra.uid || this.uid;
    return this.next({ event: 'enter', room, uid }, timeoutMs);
  }

  close(code = 1000, reason = '') {
    if (!this.closeInfo) {
      try { this.ws.close(code, reason); } catch { this.ws.terminate(); }
    }
    return this.closed;
  }
  terminate() { this.ws.terminate(); return this.closed; }
}

/** Opens a WebSocket to gw (path /ws by default). Resolves once open and,
 *  unless opts.welcome === false, once the first frame arrived: it must be
 *  `welcome`, stored as client.welcome (and not left in the queue).
 *  Rejects with the HTTP status when the upgrade is refused. */
export function connect(gw, { path: urlPath = '/ws', headers, welcome = true, label, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const url = `${gw.wsUrl}${urlPath}`;
    const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: timeoutMs });
    const c = new Client(ws, label || `client@${gw.id}`);
    let done = false;
    const finish = (err, v) => { if (done) return; done = true; clearTimeout(timer); err ? reject(err) : resolve(v); };
    const timer = setTimeout(() => { ws.terminate(); finish(new Error(`connect ${url}: no ${welcome ? 'welcome' : 'open'} within ${timeoutMs} ms`)); }, timeoutMs);
    ws.on('unexpected-response', (req, res) => {
      const e = new Error(`connect ${url}: upgrade refused with HTTP ${res.statusCode}`);
      e.status = res.statusCode;
      res.resume();
      ws.terminate();
      finish(e);
    });
    ws.on('error', (e) => finish(new Error(`connect ${url}: ${e.message}`)));
    ws.on('open', async () => {
      if (!welcome) return finish(null, c);
      try {
        const first = await c.next(() => true, timeoutMs);
        if (!first || first.event !== 'welcome') {
          throw new Error(`first frame is not welcome: ${describeFrame(first)}`);
        }
        c.welcome = first;
        finish(null, c);
      } catch (e) {
        finish(new Error(`connect ${url}: ${e.message}`));
      }
    });
  });
}

/** Asserts (by waiting) that none of `clients` has a queued frame matching
 *  pred right now. Returns the offending frames or []. */
export function unexpected(clientsList, pred) {
  const bad = [];
  for (const c of clientsList) for (const f of c.pending(pred)) bad.push(`${c.label}: ${describeFrame(f)}`);
  return bad;
}

export { WebSocket };

/** Asserts that frame has each field of `expected` (deep-equal), with a
 *  message showing the whole frame. */
export function expectFields(frame, expected, what = 'frame') {
  for (const [k, v] of Object.entries(expected)) {
    const got = frame ? frame[k] : undefined;
    if (JSON.stringify(got) !== JSON.stringify(v)) {
      const e = new Error(`${what}: field "${k}" is ${JSON.stringify(got)}, expected ${JSON.stringify(v)}; frame: ${JSON.stringify(frame)}`);
      e.code = 'ERR_ASSERTION';
      throw e;
    }
  }
  return frame;
}
