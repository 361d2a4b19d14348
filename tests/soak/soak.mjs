// soak.mjs -- `make soak`: memory and delivery over time, from outside.
//
// Starts a real broker and gateway (bin/, shipped defaults, 127.0.0.1, free
// ports, a temporary database) and runs this mix for SOAK_MINUTES (default
// 10):
//   - 20 clients in 4 rooms (5 a room), 50 messages/s in all, each with an
//     `id`; a message with no answer is sent again, with the same `id`, on
//     the client's next connection (idempotent send);
//   - every client closes and reconnects every 20-40 s and resumes with
//     `since` (the last seq it saw);
//   - one slow reader (client 0) stops reading for 30 s every 90 s;
//   - one more client sends garbage (bad JSON, unknown events, bad fields,
//     binary data, a text message over max_frame_bytes, invalid UTF-8,
//     reserved opcodes, RSV bits) and reconnects whenever it is closed.
// Every 10 s it samples both processes' resident memory (VmRSS of
// /proc/PID/status), the gateway's threads that have run (workers that have
// served a WebSocket), and the sizes of the database and its WAL. At the end it stops the traffic, lets every answer
// arrive, and checks that nothing was lost: every sent `id` was stored once,
// and every client holds every seq of its room (live, by catch-up, or by
// `history` after an `enter` that said `truncated`). Then it prints the
// memory table and a verdict: whether each process's memory levelled off
// (the growth rate of the last third of the run against the first).
//
// Exit status: 0 when nothing was lost and both processes lived and stopped
// cleanly; 1 otherwise. The memory verdict is a report, not a failure: see
// README "Soak". Everything started is stopped at the end, on failure too.
//
// Environment: SOAK_MINUTES (default 10), SOAK_GATEWAY (extra gateway
// overrides, `key=value` separated by spaces, e.g. `threads=64`),
// ROOMCAST_BIN_DIR (default bin/). The `ws` client comes from
// tests/node_modules. Both processes' stderr is saved under tests/out/.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import http from 'node:http';
import crypto from 'node:crypto';
import WebSocket from 'ws';

const ROOT = path.resolve(fileURLToPath(new URL('../../', import.meta.url)));
// ROOMCAST_BIN_DIR runs the soak against binaries elsewhere (default bin/),
// as the integration tests do: an ASan build of the gateway, say.
const BIN_DIR = process.env.ROOMCAST_BIN_DIR ? path.resolve(process.env.ROOMCAST_BIN_DIR) : path.join(ROOT, 'bin');
const MINUTES = Number(process.env.SOAK_MINUTES || 10);
const DURATION_MS = Math.max(0.5, MINUTES) * 60000;
const CLIENTS = 20;
const ROOMS = 4;
const RATE = 50;                 // messages a second, all clients together
const SAMPLE_MS = 10000;
const SLOW_EVERY_MS = 90000;
const SLOW_FOR_MS = 30000;
const GARBAGE_EVERY_MS = 500;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rand = (lo, hi) => lo + Math.random() * (hi - lo);
const log = (s) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

// --- processes ------------------------------------------------------------

const procs = [];
let tmp = null;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function start(bin, overrides, label) {
  const args = [];
  for (const [k, v] of Object.entries(overrides)) args.push('-o', `${k}=${v}`);
  const child = spawn(path.join(BIN_DIR, bin), args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const p = { label, child, pid: child.pid, stderr: '', code: undefined };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { p.stderr = (p.stderr + d).slice(-200000); });
  p.exited = new Promise((resolve) => child.on('close', (code, signal) => {
    p.code = code === null ? `signal ${signal}` : code;
    resolve(p.code);
  }));
  procs.push(p);
  return p;
}

function killAll() {
  for (const p of procs) if (p.code === undefined) { try { p.child.kill('SIGKILL'); } catch { /* gone */ } }
  if (tmp) { try { fs.rmSync(tmp, { recursive: true, force: true }); } catch { /* */ } }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { killAll(); process.exit(128 + (os.constants.signals[sig] || 0)); });
}

async function stopProc(p) {
  if (p.code !== undefined) return p.code;
  p.child.kill('SIGTERM');
  const code = await Promise.race([p.exited, sleep(10000).then(() => 'timeout')]);
  if (code === 'timeout') { p.child.kill('SIGKILL'); await p.exited; return 'no exit within 10 s of SIGTERM'; }
  return code;
}

function httpGet(port, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.setTimeout(2000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// Threads of pid that have run for more than 0.1 ms in all. An idle
// civetweb worker has run for well under that since it was created; one
// that has served a WebSocket, for more: so this counts the workers that
// have served at least once (plus the gateway's dozen other threads).
function threadsUsed(pid) {
  try {
    let n = 0;
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        if (Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]) > 1e5) n++;
      } catch { /* the thread ended */ }
    }
    return n;
  } catch { return null; }
}

function fileKb(file) {
  try { return Math.round(fs.statSync(file).size / 1024); } catch { return null; }
}

function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

// --- the clients -----------------------------------------------------------

const stats = { opens: 0, closesByCode: {}, errors: {}, garbageErrors: {}, garbageCloses: {},
  sent: 0, resent: 0, truncated: 0, historyFilled: 0, dup: 0, slowPauses: 0 };
const stored = new Map();       // "uid id" -> seq (first stored copy seen)
const badStore = [];            // an id seen with two different seqs
let wsUrl = '';
let running = true;             // traffic and reconnects on

class SoakClient {
  constructor(i) {
    this.i = i;
    this.uid = `soak-${i}`;
    this.name = `Soak ${i}`;
    this.room = `soak-${i % ROOMS}`;
    this.seen = new Set();       // seqs received live or by catch-up
    this.maxSeq = 0;
    this.entered = false;
    this.pending = new Map();    // id -> text: sent, no copy back yet
    this.n = 0;
    this.ws = null;
    this.paused = false;
    this.timer = null;
    this.waiters = [];
  }

  connect() {
    if (this.stopped) return;
    const ws = new WebSocket(wsUrl, { perMessageDeflate: false, handshakeTimeout: 5000 });
    this.ws = ws;
    this.entered = false;
    this.paused = false;
    ws.on('open', () => { stats.opens++; });
    ws.on('error', () => { /* a close follows */ });
    ws.on('message', (data, isBinary) => { if (!isBinary) this.onFrame(JSON.parse(data.toString())); });
    ws.on('close', (code) => {
      stats.closesByCode[code] = (stats.closesByCode[code] || 0) + 1;
      if (this.ws !== ws) return;
      this.entered = false;
      clearTimeout(this.timer);
      if (!this.stopped) setTimeout(() => this.connect(), rand(100, 1000));
    });
  }

  send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
  }

  onFrame(f) {
    switch (f.event) {
    case 'welcome': {
      const e = { event: 'enter', room: this.room, name: this.name, uid: this.uid };
      if (this.maxSeq > 0) e.since = this.maxSeq;
      this.send(e);
      break;
    }
    case 'heartbeat':
      if (f.message === 'ping') this.send({ event: 'heartbeat', message: 'pong' });
      break;
    case 'message':
      if (f.room !== this.room) break;
      if (this.seen.has(f.seq)) stats.dup++;
      this.seen.add(f.seq);
      if (f.seq > this.maxSeq) this.maxSeq = f.seq;
      this.noteStored(f);
      break;
    case 'enter':
      if (f.uid !== this.uid || f.room !== this.room || this.entered) break;
      this.entered = true;
      if (f.truncated) { stats.truncated++; this.fillFromHistory(f.seq); }
      for (const [id, text] of this.pending) {   // unanswered: same id again
        stats.resent++;
        this.send({ event: 'message', room: this.room, message: text, id });
      }
      clearTimeout(this.timer);
      if (running && !this.final) this.timer = setTimeout(() => this.reconnect(), rand(20000, 40000));
      break;
    case 'history':
      for (const w of this.waiters.splice(0)) w(f);
      break;
    case 'error':
      stats.errors[f.code] = (stats.errors[f.code] || 0) + 1;
      break;
    default:
      break;
    }
  }

  noteStored(f) {
    if (!f.id) return;
    const key = `${f.uid} ${f.id}`;
    const had = stored.get(key);
    if (had === undefined) stored.set(key, f.seq);
    else if (had !== f.seq) badStore.push(`${key}: seq ${had} and ${f.seq}`);
    if (f.uid === this.uid) this.pending.delete(f.id);
  }

  history(before, limit = 200) {
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(null), 10000);
      this.waiters.push((f) => { clearTimeout(t); resolve(f); });
      const q = { event: 'history', room: this.room, limit };
      if (before) q.before = before;
      this.send(q);
    });
  }

  // After a truncated catch-up: what was left out is fetched with history.
  async fillFromHistory(upTo) {
    let before = upTo + 1;
    for (;;) {
      const missing = [];
      for (let s = 1; s < before; s++) if (!this.seen.has(s)) missing.push(s);
      if (!missing.length) return;
      const h = await this.history(missing[missing.length - 1] + 1);
      if (!h || !h.messages.length) return;
      for (const m of h.messages) {
        if (!this.seen.has(m.seq)) { this.seen.add(m.seq); stats.historyFilled++; }
        this.noteStored(m);
      }
      before = h.messages[0].seq;
      if (!h.more) return;
    }
  }

  reconnect() {
    if (!running || this.paused) {
      if (running) this.timer = setTimeout(() => this.reconnect(), 5000);
      return;
    }
    this.ws.close(1000);
  }

  post() {
    const id = `${this.uid}-${++this.n}`;
    const text = `soak ${this.uid} ${this.n} ${'x'.repeat(40)}`;
    this.pending.set(id, text);
    stats.sent++;
    this.send({ event: 'message', room: this.room, message: text, id });
  }

  pause(on) {   // ws's own pause: stops reading the socket
    this.paused = on;
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    if (on) { this.ws.pause(); stats.slowPauses++; } else this.ws.resume();
  }
}

// --- the garbage client ----------------------------------------------------

function frame(opcode, payload, { fin = true, rsv = 0 } = {}) {
  const p = Buffer.from(payload);
  const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode)];
  if (p.length < 126) head.push(0x80 | p.length);
  else if (p.length < 65536) head.push(0x80 | 126, p.length >> 8, p.length & 255);
  else {
    head.push(0x80 | 127, 0, 0, 0, 0);
    head.push((p.length >>> 24) & 255, (p.length >> 16) & 255, (p.length >> 8) & 255, p.length & 255);
  }
  const key = crypto.randomBytes(4);
  const body = Buffer.alloc(p.length);
  for (let i = 0; i < p.length; i++) body[i] = p[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(head), key, body]);
}

const GARBAGE = [
  { text: '{bad json' },
  { text: '{"event":"message","room":"soak-0","message":"x",}' },
  { text: '[1,2,3]' },
  { text: '{"event":42}' },
  { text: '{"event":"no-such-event","id":"g1"}' },
  { text: '{"event":"message","room":"no spaces allowed","message":"x"}' },
  { text: '{"event":"message","room":"soak-0","message":"not a member"}' },
  { text: '{"event":"history","room":"soak-1","limit":0}' },
  { text: '{"event":"enter","room":"soak-2"}' },
  { text: '{"event":"heartbeat","message":"beat"}' },
  { text: '{"a":1,"a":2,"event":"who"}' },
  { binary: crypto.randomBytes(64) },
  { raw: () => frame(1, Buffer.from([0x7b, 0xc3, 0x28, 0x7d])) },          // invalid UTF-8: 1007
  { raw: () => frame(3, 'reserved') },                                      // reserved opcode: 1002
  { raw: () => frame(1, '{"event":"who","room":"soak-0"}', { rsv: 4 }) },   // RSV1: 1002
  { raw: () => frame(0, 'stray continuation') },                           // 1002
  { text: 'x'.repeat(70000) },                                              // over max_frame_bytes: 1009
];

class GarbageClient {
  constructor() { this.k = 0; this.ws = null; }
  connect() {
    if (!running) return;
    const ws = new WebSocket(wsUrl, { perMessageDeflate: false, handshakeTimeout: 5000 });
    this.ws = ws;
    ws.on('open', () => { stats.opens++; });
    ws.on('error', () => { /* a close follows */ });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let f;
      try { f = JSON.parse(data.toString()); } catch { return; }
      if (f.event === 'error') stats.garbageErrors[f.code] = (stats.garbageErrors[f.code] || 0) + 1;
      else if (f.event === 'heartbeat' && f.message === 'ping') ws.send('{"event":"heartbeat","message":"pong"}');
    });
    ws.on('close', (code) => {
      stats.garbageCloses[code] = (stats.garbageCloses[code] || 0) + 1;
      if (running) setTimeout(() => this.connect(), 200);
    });
  }
  tick() {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const g = GARBAGE[this.k++ % GARBAGE.length];
    try {
      if (g.text !== undefined) ws.send(g.text);
      else if (g.binary) ws.send(g.binary, { binary: true });
      else ws._socket.write(g.raw());
    } catch { /* closing */ }
  }
}

// --- memory ----------------------------------------------------------------

function slope(points) { // least squares, KB per minute
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0; let den = 0;
  for (const p of points) { num += (p.x - mx) * (p.y - my); den += (p.x - mx) ** 2; }
  return den ? num / den : 0;
}

function verdict(samples, key) {
  const pts = samples.filter((s) => s[key] !== null).map((s) => ({ x: s.t / 60, y: s[key], opens: s.opens }));
  const third = Math.max(3, Math.floor(pts.length / 3));
  const first = pts.slice(0, third);
  const last = pts.slice(-third);
  const s1 = slope(first);
  const s3 = slope(last);
  const perOpen = (a) => {
    const d = a[a.length - 1].opens - a[0].opens;
    return d > 0 ? (a[a.length - 1].y - a[0].y) / d : 0;
  };
  // Flat: the last third grows by under 64 kB a minute (noise of the
  // allocator and the page cache). Levelling: it grows at most a quarter as
  // fast as the first third. Otherwise still growing.
  const verdict = s3 <= 64 ? 'FLAT' : s3 <= s1 / 4 ? 'LEVELLING OFF (slow growth left)' : 'STILL GROWING';
  return { s1, s3, perOpen1: perOpen(first), perOpen3: perOpen(last), verdict,
    from: pts[0].y, to: pts[pts.length - 1].y };
}

// --- the run ---------------------------------------------------------------

async function main() {
  for (const b of ['roomcast-broker', 'roomcast-gateway']) {
    if (!fs.existsSync(path.join(BIN_DIR, b))) throw new Error(`${path.join(BIN_DIR, b)} is missing: run make`);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-soak-'));
  const [pe, pf, pg] = [await freePort(), await freePort(), await freePort()];
  const link = { events_url: `tcp://127.0.0.1:${pe}`, fanout_url: `tcp://127.0.0.1:${pf}`, log_level: 'warn' };
  const broker = start('roomcast-broker', { ...link, db: path.join(tmp, 'soak.db') }, 'broker');
  const extra = {};
  for (const kv of (process.env.SOAK_GATEWAY || '').split(/\s+/).filter(Boolean)) {
    const i = kv.indexOf('=');
    extra[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const gateway = start('roomcast-gateway', { ...link, listen: `127.0.0.1:${pg}`, www: path.join(ROOT, 'www'), id: 'soak', ...extra }, 'gateway');
  wsUrl = `ws://127.0.0.1:${pg}/ws`;
  const deadline = Date.now() + 10000;
  for (;;) {
    if (broker.code !== undefined || gateway.code !== undefined) throw new Error('a process exited at start-up');
    try { if ((await httpGet(pg, '/healthz')).status === 200) break; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error('the gateway was not ready within 10 s');
    await sleep(50);
  }
  log(`broker pid ${broker.pid}, gateway pid ${gateway.pid} on 127.0.0.1:${pg}${Object.keys(extra).length ? ` (${process.env.SOAK_GATEWAY})` : ''}; ${MINUTES} min`);

  const clients = Array.from({ length: CLIENTS }, (_, i) => new SoakClient(i));
  for (const c of clients) c.connect();
  const t0 = Date.now();
  while (!clients.every((c) => c.entered)) {
    if (Date.now() - t0 > 10000) throw new Error('clients did not enter within 10 s');
    await sleep(50);
  }
  const garbage = new GarbageClient();
  garbage.connect();

  const samples = [];
  const started = Date.now();
  const sample = () => {
    const s = { t: (Date.now() - started) / 1000, broker: rssKb(broker.pid), gateway: rssKb(gateway.pid),
      used: threadsUsed(gateway.pid), wal: fileKb(path.join(tmp, 'soak.db-wal')),
      db: fileKb(path.join(tmp, 'soak.db')), opens: stats.opens, sent: stats.sent };
    samples.push(s);
    log(`t=${s.t.toFixed(0)}s rss broker ${s.broker} kB gateway ${s.gateway} kB; gateway threads used ${s.used}; db ${s.db} kB, WAL ${s.wal} kB; connections opened ${s.opens}, messages sent ${s.sent}`);
  };
  sample();
  const timers = [];
  let next = 0;
  timers.push(setInterval(() => {    // 50 messages/s, round-robin over the entered clients
    const due = Math.floor(((Date.now() - started) / 1000) * RATE);
    for (let k = 0; k < CLIENTS * 2 && stats.sent + stats.skipped < due; k++) {
      const c = clients[next++ % CLIENTS];
      if (c.entered) c.post();
      else stats.skipped = (stats.skipped || 0) + 1;
    }
  }, 20));
  stats.skipped = 0;
  timers.push(setInterval(() => garbage.tick(), GARBAGE_EVERY_MS));
  timers.push(setInterval(sample, SAMPLE_MS));
  timers.push(setInterval(() => {
    clients[0].pause(true);
    setTimeout(() => clients[0].pause(false), SLOW_FOR_MS);
  }, SLOW_EVERY_MS));

  while (Date.now() - started < DURATION_MS) {
    await sleep(1000);
    if (broker.code !== undefined || gateway.code !== undefined) break;
  }

  // --- stop the traffic, let everything arrive, check ---------------------
  running = false;
  for (const t of timers) clearInterval(t);
  if (clients[0].paused) clients[0].pause(false);
  for (const c of clients) { c.final = true; clearTimeout(c.timer); }
  try { garbage.ws.close(1000); } catch { /* */ }
  const failures = [];
  if (broker.code !== undefined) failures.push(`broker exited during the run: ${broker.code}`);
  if (gateway.code !== undefined) failures.push(`gateway exited during the run: ${gateway.code}`);
  const settle = Date.now();
  let lastResend = Date.now();
  while (failures.length === 0) {
    const open = clients.every((c) => c.entered);
    const pend = clients.reduce((a, c) => a + c.pending.size, 0);
    if (open && pend === 0) break;
    if (Date.now() - settle > 60000) { failures.push(`after 60 s: ${pend} messages unanswered, ${clients.filter((c) => !c.entered).length} clients not back`); break; }
    if (Date.now() - lastResend > 10000) {  // unanswered for 10 s: resend (same id)
      lastResend = Date.now();
      for (const c of clients) if (c.entered) for (const [id, text] of c.pending) { stats.resent++; c.send({ event: 'message', room: c.room, message: text, id }); }
    }
    await sleep(200);
  }
  await sleep(2000);
  sample();

  let missingTotal = 0;
  if (failures.length === 0) {
    for (let r = 0; r < ROOMS; r++) {
      const members = clients.filter((c) => c.i % ROOMS === r);
      const h = await members[0].history(0, 1);
      const last = h && h.messages.length ? h.messages[h.messages.length - 1].seq : 0;
      for (const c of members) {
        const miss = [];
        for (let s = 1; s <= last; s++) if (!c.seen.has(s)) miss.push(s);
        if (miss.length) { missingTotal += miss.length; failures.push(`${c.uid} in soak-${r} (last seq ${last}) never got seqs ${miss.slice(0, 10).join(',')}${miss.length > 10 ? ` ... (${miss.length})` : ''}`); }
      }
      log(`room soak-${r}: last seq ${last}, every member has 1..${last}: ${members.every((c) => [...Array(last).keys()].every((k) => c.seen.has(k + 1)))}`);
    }
    const storedCount = stored.size;
    if (storedCount !== stats.sent) failures.push(`sent ${stats.sent} distinct ids, saw ${storedCount} stored`);
  }
  if (badStore.length) failures.push(`ids stored twice: ${badStore.slice(0, 5).join('; ')}`);
  if (stats.dup) failures.push(`${stats.dup} copies of a seq a client already had`);
  for (const c of clients) { c.stopped = true; try { c.ws.close(1000); } catch { /* */ } }
  await sleep(300);
  const gwExit = await stopProc(gateway);
  const bkExit = await stopProc(broker);
  if (gwExit !== 0) failures.push(`gateway stop: ${gwExit}`);
  if (bkExit !== 0) failures.push(`broker stop: ${bkExit}`);

  // --- report ---------------------------------------------------------------
  const out = [];
  out.push('');
  out.push(`soak: ${MINUTES} min, ${CLIENTS} clients in ${ROOMS} rooms, ${RATE} msg/s, reconnects every 20-40 s, one slow reader, one garbage sender${process.env.SOAK_GATEWAY ? `; gateway ${process.env.SOAK_GATEWAY}` : ''}`);
  out.push('');
  out.push('| t (s) | broker RSS (kB) | gateway RSS (kB) | gateway threads used | db / WAL (kB) | connections opened | messages sent |');
  out.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of samples) out.push(`| ${s.t.toFixed(0)} | ${s.broker ?? '-'} | ${s.gateway ?? '-'} | ${s.used ?? '-'} | ${s.db ?? '-'} / ${s.wal ?? '-'} | ${s.opens} | ${s.sent} |`);
  out.push('');
  out.push(`messages sent ${stats.sent} (resent with the same id ${stats.resent}, skipped while nobody was in ${stats.skipped}); ` +
    `stored ${stored.size}; missing ${missingTotal}; duplicates ${stats.dup}; truncated catch-ups ${stats.truncated} (${stats.historyFilled} seqs fetched by history)`);
  out.push(`closes seen by the 20 clients: ${JSON.stringify(stats.closesByCode)}; errors: ${JSON.stringify(stats.errors)}; slow-reader pauses ${stats.slowPauses}`);
  out.push(`garbage client: closes ${JSON.stringify(stats.garbageCloses)}, errors ${JSON.stringify(stats.garbageErrors)}`);
  out.push(`exit status after SIGTERM: gateway ${gwExit}, broker ${bkExit}`);
  for (const key of ['broker', 'gateway']) {
    if (samples.length < 6) { out.push(`${key}: too few samples for a verdict`); continue; }
    const v = verdict(samples, key);
    out.push(`${key}: ${v.from} -> ${v.to} kB; growth first third ${v.s1.toFixed(0)} kB/min (${v.perOpen1.toFixed(1)} kB per connection opened), ` +
      `last third ${v.s3.toFixed(0)} kB/min (${v.perOpen3.toFixed(1)} kB per connection opened): ${v.verdict}`);
  }
  const u = samples.filter((x) => x.used !== null && x.gateway !== null);
  if (u.length >= 2) {
    const a = u[0]; const z = u[u.length - 1];
    const threads = z.used - a.used;
    out.push(`gateway: ${threads} threads ran for the first time during the run (workers serving their first WebSocket), ` +
      `${z.opens - a.opens} connections opened; RSS growth ${z.gateway - a.gateway} kB` +
      (threads > 0 ? ` = ${((z.gateway - a.gateway) / threads).toFixed(1)} kB per newly used thread` : ''));
  }
  out.push(failures.length ? `FAIL:\n  ${failures.join('\n  ')}` : 'PASS: nothing lost, nothing doubled');
  const text = out.join('\n') + '\n';
  process.stdout.write(text);
  try {
    fs.mkdirSync(path.join(ROOT, 'tests', 'out'), { recursive: true });
    fs.writeFileSync(path.join(ROOT, 'tests', 'out', 'soak.txt'), text);
    for (const p of procs) fs.writeFileSync(path.join(ROOT, 'tests', 'out', `soak-${p.label}.log`), p.stderr);
  } catch { /* */ }
  if (failures.length) {
    for (const p of procs) if (p.stderr) process.stdout.write(`--- ${p.label} stderr (tail) ---\n${p.stderr.slice(-4000)}\n`);
  }
  return failures.length ? 1 : 0;
}

main().then((code) => { killAll(); process.exit(code); }, (e) => {
  process.stdout.write(`soak: ${e.stack || e}\n`);
  for (const p of procs) if (p.stderr) process.stdout.write(`--- ${p.label} stderr (tail) ---\n${p.stderr.slice(-4000)}\n`);
  killAll();
  process.exit(1);
});
