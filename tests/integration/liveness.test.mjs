// liveness.test.mjs -- docs/protocol.md "Liveness" and README "What is
// guaranteed" under stress: server heartbeat cadence, silent clients closed with
// 4000, gateways killed with SIGKILL (and restarted under the same id), a
// client that stops reading (slow consumer) in a busy room, the gateway's
// capacity limit (503 while /healthz and static files still answer) and
// max_conns_per_ip (429).
//
// Timing assertions are loose on purpose (a shared 2-core machine loses CPU
// time to its host): they check that something happens "about when" it
// should, with seconds of slack, and print the measured figures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  Client, WebSocket, startBroker, startGateway, connect, stop, within, sleep, waitFor,
  httpGet, getMetrics, metric, expectFields, rawUpgrade,
} from './harness.mjs';

// ---------------------------------------------------------------------------
// Helpers

/** A minimal RFC 6455 client on a raw TCP socket, so that the test decides
 *  exactly when bytes are read: after the handshake it parses frames until
 *  pause() is called; then the socket is not read at all (net.Socket.pause:
 *  Node stops reading from the descriptor once its small internal buffer is
 *  full, so the kernel's receive window closes and the server's writes
 *  back up). */
class RawWs {
  constructor(port, label) {
    this.port = port;
    this.label = label;
    this.frames = [];        // parsed text frames (JSON objects) before pause()
    this.bytesRead = 0;      // bytes received after the handshake
    this.buf = Buffer.alloc(0);
    this.ended = false;      // the server ended the TCP connection (FIN or reset)
    this.endedAt = null;
    this.closeCode = null;   // code of a close frame seen, if any
    this.waiters = [];
  }

  open(timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      const key = crypto.randomBytes(16).toString('base64');
      const s = net.connect({ host: '127.0.0.1', port: this.port });
      this.socket = s;
      let head = Buffer.alloc(0);
      let upgraded = false;
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`${this.label}: no 101 within ${timeoutMs} ms`)); }, timeoutMs);
      const markEnded = () => {
        if (!this.ended) { this.ended = true; this.endedAt = performance.now(); }
        for (const w of this.waiters.splice(0)) w();
      };
      s.on('end', markEnded);
      s.on('close', markEnded);
      s.on('error', (e) => { this.error = e; });
      s.on('connect', () => {
        s.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      });
      s.on('data', (d) => {
        if (!upgraded) {
          head = Buffer.concat([head, d]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          const status = head.subarray(0, end).toString('latin1');
          clearTimeout(timer);
          if (!/^HTTP\/1\.1 101 /.test(status)) {
            s.destroy();
            reject(new Error(`${this.label}: upgrade refused: ${status.split('\r\n')[0]}`));
            return;
          }
          upgraded = true;
          d = head.subarray(end + 4);
          resolve(this);
          if (d.length === 0) return;
        }
        this.bytesRead += d.length;
        this.buf = Buffer.concat([this.buf, d]);
        this.parse();
      });
    });
  }

  parse() {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const op = b[0] & 0x0f;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
      if (b.length < off + len) return;
      const payload = b.subarray(off, off + len);
      this.buf = b.subarray(off + len);
      if (op === 1) {
        try { this.frames.push(JSON.parse(payload.toString('utf8'))); } catch { this.frames.push({ __raw: payload.toString() }); }
      } else if (op === 8 && payload.length >= 2) {
        this.closeCode = payload.readUInt16BE(0);
      }
      for (const w of this.waiters.splice(0)) w();
    }
  }

  /** Resolves with the first parsed frame matching pred. */
  async next(pred, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.ended) throw new Error(`${this.label}: connection ended; frames: ${JSON.stringify(this.frames).slice(0, 500)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.label}: timeout; frames: ${JSON.stringify(this.frames).slice(0, 500)}`);
      await new Promise((r) => { const t = setTimeout(r, left); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
  }

  /** Sends one masked text frame. */
  send(obj) {
    const payload = Buffer.from(JSON.stringify(obj));
    const mask = crypto.randomBytes(4);
    let hdr;
    if (payload.length < 126) hdr = Buffer.from([0x81, 0x80 | payload.length]);
    else { hdr = Buffer.alloc(4); hdr[0] = 0x81; hdr[1] = 0x80 | 126; hdr.writeUInt16BE(payload.length, 2); }
    const masked = Buffer.alloc(payload.length);
    for (let i = 0; i < payload.length; i++) masked[i] = payload[i] ^ mask[i & 3];
    this.socket.write(Buffer.concat([hdr, mask, masked]));
  }

  /** Stops reading the socket. */
  pause() { this.socket.pause(); this.paused = true; }

  /** Reads again (everything the kernel kept), to see whether the server has
   *  ended the connection: resolves true once it has (within timeoutMs). */
  async drainUntilEnd(timeoutMs) {
    this.socket.resume();
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await sleep(50);
    return this.ended;
  }

  destroy() { try { this.socket.destroy(); } catch { /* */ } }
}

/** Opens a WebSocket from a given local address (127.0.0.x) with extra
 *  headers; resolves with a harness Client once welcomed, or rejects with
 *  e.status when the upgrade is refused. */
function connectFrom(gw, { localAddress, headers, label } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${gw.wsUrl}/ws`, { localAddress, headers, perMessageDeflate: false, handshakeTimeout: 5000 });
    const c = new Client(ws, label || `client from ${localAddress}`);
    ws.on('unexpected-response', (req, res) => {
      const e = new Error(`${c.label}: upgrade refused with HTTP ${res.statusCode}`);
      e.status = res.statusCode;
      res.resume();
      ws.terminate();
      reject(e);
    });
    ws.on('error', (e) => reject(new Error(`${c.label}: ${e.message}`)));
    ws.on('open', () => c.next(() => true).then((f) => {
      if (f.event !== 'welcome') throw new Error(`first frame is not welcome: ${JSON.stringify(f)}`);
      c.welcome = f;
      resolve(c);
    }, reject));
  });
}

/** Asks `who` and returns {uid: member}. */
async function who(c, room) {
  c.send({ event: 'who', room });
  const w = await c.next({ event: 'who', room });
  return Object.fromEntries(w.members.map((m) => [m.uid, m]));
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

// ---------------------------------------------------------------------------
// (a), (b): heartbeats

test('server heartbeat: with heartbeat_ms=300 pings arrive about every 300 ms and an answering client stays', { timeout: 30000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { heartbeat_ms: 300 });
  const c = await connect(gw, { label: 'answers' });
  assert.equal(c.welcome.heartbeat_ms, 300, `welcome.heartbeat_ms: ${JSON.stringify(c.welcome)}`);
  c.autoPong = true; // answers every ping, or it would be closed after 600 ms
  const times = [];
  c.ws.on('message', (data) => {
    if (String(data).includes('"heartbeat"') && String(data).includes('"ping"')) times.push(performance.now());
  });
  const t0 = performance.now();
  await sleep(2000);
  const inWindow = times.filter((x) => x - t0 <= 2000);
  const gaps = inWindow.slice(1).map((x, i) => Math.round(x - inWindow[i]));
  console.log(`heartbeat_ms=300: ${inWindow.length} pings in 2 s, gaps ${JSON.stringify(gaps)} ms`);
  assert.ok(inWindow.length >= 3, `at least 3 server pings within 2 s at heartbeat_ms=300; got ${inWindow.length} (gaps ${gaps})`);
  assert.ok(inWindow.length <= 14, `no more than about one ping per heartbeat_ms; got ${inWindow.length} in 2 s (gaps ${gaps})`);
  assert.equal(c.closeInfo, null, `the answering client is still open: ${JSON.stringify(c.closeInfo)}`);
  await c.ping();
  // WebSocket ping frames count as signs of life too ("any frame").
  c.autoPong = false;
  const keep = setInterval(() => { try { c.ws.ping(); } catch { /* */ } }, 150);
  try {
    await sleep(1500);
    assert.equal(c.closeInfo, null, `a client sending only WebSocket ping frames is kept: ${JSON.stringify(c.closeInfo)}`);
  } finally {
    clearInterval(keep);
  }
});

test('a silent client is closed with 4000 after about 2 x heartbeat_ms and its room sees out', { timeout: 30000 }, async () => {
  const HB = 300;
  const SLACK = 2500; // housekeeping runs every 100 ms; the rest is for a loaded machine
  const broker = await startBroker();
  const gw = await startGateway(broker, { heartbeat_ms: HB });
  const obs = await connect(gw, { label: 'observer' });
  obs.autoPong = true;
  await obs.enter('quiet-room', 'Obs', { uid: 'obs' });

  // One that never sends a single frame.
  const mute = await connect(gw, { label: 'mute' });
  const muteOpened = performance.now();
  // One that enters, then never sends again (and does not answer pings).
  const silent = await connect(gw, { label: 'silent' });
  await silent.enter('quiet-room', 'Quiet', { uid: 'quiet' });
  const lastSent = performance.now();
  expectFields(await obs.next({ event: 'enter', uid: 'quiet' }), { num: 2, total: 2 }, 'observer sees quiet enter');

  // Close times taken when each close happens, whichever comes first.
  const stamp = (c) => c.closed.then((info) => ({ info, at: performance.now() }));
  const [mc, sc] = [stamp(mute), stamp(silent)];
  const cmx = await within(mc, 2 * HB + SLACK + 2000);
  const csx = await within(sc, 2 * HB + SLACK + 2000);
  const cm = cmx && cmx.info;
  const cs = csx && csx.info;
  const muteAfter = cmx ? cmx.at - muteOpened : NaN;
  const silentAfter = csx ? csx.at - lastSent : NaN;
  console.log(`heartbeat_ms=${HB}: mute closed ${Math.round(muteAfter)} ms after opening, silent ${Math.round(silentAfter)} ms after its last frame`);
  assert.ok(cm, `the client that never sent anything is closed (within ${2 * HB + SLACK + 2000} ms)`);
  assert.equal(cm.code, 4000, `close code for the mute client: ${JSON.stringify(cm)}`);
  assert.ok(cs, 'the silent client is closed');
  assert.equal(cs.code, 4000, `close code for the silent client: ${JSON.stringify(cs)}`);
  assert.ok(silentAfter <= 2 * HB + SLACK, `closed within 2 x heartbeat_ms + ${SLACK} ms of its last frame; took ${Math.round(silentAfter)} ms`);
  assert.ok(silentAfter >= 2 * HB - 50, `not closed before 2 x heartbeat_ms of silence; closed after ${Math.round(silentAfter)} ms`);
  const out = await obs.next({ event: 'out', uid: 'quiet' }, 5000);
  expectFields(out, { room: 'quiet-room', name: 'Quiet', num: 1, total: 2 }, 'out after the heartbeat timeout');
  assert.equal(obs.closeInfo, null, 'the observer, which answers pings, is still open');
  const m = (await getMetrics(gw)).metrics;
  assert.ok(metric(m, 'roomcast_heartbeat_timeouts_total') >= 2, `roomcast_heartbeat_timeouts_total counts both: ${metric(m, 'roomcast_heartbeat_timeouts_total')}`);
});

// ---------------------------------------------------------------------------
// (c): gateways killed with SIGKILL

test('SIGKILL of one of two gateways: the other\'s members see out within gateway_timeout_ms; a restart under the same id leaves no ghosts', { timeout: 60000 }, async () => {
  const TIMEOUT = 1000;
  const broker = await startBroker({ gateway_timeout_ms: TIMEOUT });
  const gwA = await startGateway(broker, { id: 'gw-keep' });
  const gwB = await startGateway(broker, { id: 'gw-doomed' });
  const ROOM = 'kill-room';
  const alice = await connect(gwA, { label: 'alice@A' });
  const bobA = await connect(gwA, { label: 'bob@A' });
  const bobB = await connect(gwB, { label: 'bob@B' });
  const dave = await connect(gwB, { label: 'dave@B' });
  const erin = await connect(gwB, { label: 'erin@B' });
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  await bobA.enter(ROOM, 'Bob', { uid: 'bob' });
  await bobB.enter(ROOM, 'Bob', { uid: 'bob' });    // bob is online on both gateways
  await dave.enter(ROOM, 'Dave', { uid: 'dave' });
  expectFields(await erin.enter(ROOM, 'Erin', { uid: 'erin' }), { num: 4, total: 4 }, 'erin enter: alice, bob, dave, erin');
  await alice.next({ event: 'enter', uid: 'erin' });
  alice.drain();

  const t0 = performance.now();
  await stop(gwB, 'SIGKILL');
  const outs = [await alice.next({ event: 'out' }, TIMEOUT + 9000), await alice.next({ event: 'out' }, 5000)];
  const took = performance.now() - t0;
  console.log(`gateway SIGKILL: both out events ${Math.round(took)} ms after the kill (gateway_timeout_ms=${TIMEOUT})`);
  outs.sort((x, y) => x.uid.localeCompare(y.uid));
  expectFields(outs[0], { room: ROOM, uid: 'dave', name: 'Dave', total: 4 }, 'out for dave');
  expectFields(outs[1], { room: ROOM, uid: 'erin', name: 'Erin', total: 4 }, 'out for erin');
  assert.deepEqual(outs.map((o) => o.num).sort(), [2, 3], `num falls to 3 then 2 (alice and bob remain): ${JSON.stringify(outs)}`);
  assert.ok(took <= TIMEOUT + 4000, `out within gateway_timeout_ms (+ 4 s of slack); took ${Math.round(took)} ms`);
  await sleep(300);
  assert.deepEqual(alice.pending({ event: 'out', uid: 'bob' }), [], 'bob, still online on the surviving gateway, does not go out');
  assert.deepEqual(bobA.pending({ event: 'out', uid: 'bob' }), [], 'bob does not see himself go out');
  let members = await who(alice, ROOM);
  assert.deepEqual(Object.fromEntries(Object.entries(members).map(([u, m]) => [u, m.online])),
    { alice: true, bob: true, dave: false, erin: false }, `who after the kill: ${JSON.stringify(members)}`);

  // The same id comes back (a new process, as systemd's Restart= does).
  const gwB2 = await startGateway(broker, { id: 'gw-doomed' });
  await sleep(TIMEOUT + 500); // long enough for anything stale to surface
  members = await who(alice, ROOM);
  assert.deepEqual(Object.fromEntries(Object.entries(members).map(([u, m]) => [u, m.online])),
    { alice: true, bob: true, dave: false, erin: false }, `who after the restart under the same id: no ghosts: ${JSON.stringify(members)}`);
  assert.deepEqual(alice.pending({ event: 'enter' }), [], 'nobody comes back online by the restart alone');
  const dave2 = await connect(gwB2, { label: 'dave@B2' });
  expectFields(await dave2.enter(ROOM, 'Dave', { uid: 'dave' }), { num: 3, total: 4 }, 'dave back through the restarted gateway');
  expectFields(await alice.next({ event: 'enter', uid: 'dave' }), { num: 3, total: 4 }, 'alice sees dave back');
  dave2.send({ event: 'message', room: ROOM, message: 'back' });
  await alice.next({ event: 'message', message: 'back' });
  await bobA.next({ event: 'message', message: 'back' });
  const mB2 = (await getMetrics(gwB2)).metrics;
  assert.equal(metric(mB2, 'roomcast_connections'), 1, 'the restarted gateway holds only dave\'s new connection');
});

test('a gateway killed and restarted under the same id before gateway_timeout_ms: its old connections go out, no ghosts', { timeout: 60000 }, async () => {
  // A long timeout, so that only the restart itself can clear the old
  // process's connections within the test's window.
  const TIMEOUT = 30000;
  const broker = await startBroker({ gateway_timeout_ms: TIMEOUT });
  const gwA = await startGateway(broker, { id: 'gw-stay' });
  const gwB = await startGateway(broker, { id: 'gw-phoenix' });
  const ROOM = 'phoenix-room';
  const alice = await connect(gwA, { label: 'alice@A' });
  const dave = await connect(gwB, { label: 'dave@B' });
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  await dave.enter(ROOM, 'Dave', { uid: 'dave' });
  await alice.next({ event: 'enter', uid: 'dave' });

  const t0 = performance.now();
  await stop(gwB, 'SIGKILL');
  const gwB2 = await startGateway(broker, { id: 'gw-phoenix' });
  const out = await alice.next({ event: 'out', uid: 'dave' }, 10000).catch((e) => {
    throw new Error(`a gateway that comes back under the same id must take the old process's connections offline at once (no ghost until gateway_timeout_ms=${TIMEOUT}): ${e.message}`);
  });
  console.log(`gateway restarted under the same id: out ${Math.round(performance.now() - t0)} ms after the kill`);
  expectFields(out, { room: ROOM, num: 1, total: 2 }, 'out for the killed process\'s member');
  const members = await who(alice, ROOM);
  assert.equal(members.dave && members.dave.online, false, `dave is offline in who: ${JSON.stringify(members)}`);
  const dave2 = await connect(gwB2, { label: 'dave@B2' });
  expectFields(await dave2.enter(ROOM, 'Dave', { uid: 'dave' }), { num: 2, total: 2 }, 'dave back');
});

// ---------------------------------------------------------------------------
// (d): slow consumer

/** One round: `sender` posts n messages of `size` bytes to room as fast as
 *  the rate limit and its socket allow; resolves with what the normal
 *  reader got and its latencies (ms, from the send call to arrival; sender
 *  and readers share this process, so the figures include its own event
 *  loop). Stops early when the sender or the reader is closed. */
async function blast({ sender, reader, room, n, size }) {
  const sentAt = new Array(n);
  const got = [];
  const lat = [];
  const body = 'x'.repeat(size);
  const onMsg = (data) => {
    const now = performance.now();
    const s = String(data);
    if (!s.startsWith('{"event":"message"')) return;
    const f = JSON.parse(s);
    if (f.room !== room) return;
    const i = Number(String(f.id).slice(2));
    got.push({ seq: f.seq, i });
    if (sentAt[i] !== undefined) lat.push(now - sentAt[i]);
  };
  const open = (c) => c.ws.readyState === WebSocket.OPEN;
  reader.ws.on('message', onMsg);
  const t0 = performance.now();
  let sent = 0;
  try {
    for (let i = 0; i < n && open(sender) && open(reader); i++) {
      sentAt[i] = performance.now();
      sender.send({ event: 'message', room, message: body, id: `m-${i}` });
      sent++;
      if (i % 50 === 49) {
        // Let the event loop read what arrives (the readers live in this
        // process too) and keep the sender's own buffer bounded.
        await new Promise((r) => setImmediate(r));
        while (sender.ws.bufferedAmount > 512 * 1024 && open(sender)) await sleep(1);
      }
    }
    await waitFor(() => got.length >= n || !open(reader) || !open(sender) || null, {
      timeoutMs: 60000, interval: 20, what: `${n} messages at the normal reader (has ${got.length})`,
    }).catch(() => {});
    // A closed reader may still have frames in flight: a moment for them.
    if (got.length < n) await sleep(500);
    const totalMs = performance.now() - t0;
    lat.sort((a, b) => a - b);
    return {
      got, lat, sent, totalMs,
      senderClosed: !open(sender) ? (sender.closeInfo || 'closing') : null,
      readerClosed: !open(reader) ? (reader.closeInfo || 'closing') : null,
    };
  } finally {
    reader.ws.off('message', onMsg);
  }
}

function report(what, r, n) {
  const f = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
  const s = `${what}: ${r.got.length}/${n} delivered in ${Math.round(r.totalMs)} ms ` +
    `(${Math.round(r.got.length / (r.totalMs / 1000))} msg/s), latency p50 ${f(percentile(r.lat, 50))} ms, ` +
    `p99 ${f(percentile(r.lat, 99))} ms, max ${f(r.lat[r.lat.length - 1])} ms` +
    (r.readerClosed ? `; READER CLOSED ${JSON.stringify(r.readerClosed)}` : '') +
    (r.senderClosed ? `; SENDER CLOSED ${JSON.stringify(r.senderClosed)}` : '');
  console.log(s);
  return s;
}

/** Problems with what the normal reader got ([] when it got every message
 *  once, in order, with consecutive seq). */
function completeness(r, n, what) {
  const bad = [];
  if (r.readerClosed) bad.push(`${what}: the normal reader, which reads at full speed, was closed: ${JSON.stringify(r.readerClosed)}`);
  if (r.senderClosed) bad.push(`${what}: the sender, which reads at full speed, was closed: ${JSON.stringify(r.senderClosed)}`);
  if (r.got.length !== n) bad.push(`${what}: the normal reader got ${r.got.length}/${n} messages (${r.sent} sent)`);
  for (let k = 0; k < r.got.length; k++) {
    if (r.got[k].i !== k || r.got[k].seq !== r.got[0].seq + k) {
      bad.push(`${what}: message ${k} out of order or missing: ${JSON.stringify(r.got.slice(Math.max(0, k - 2), k + 3))}`);
      break;
    }
  }
  return bad;
}

/** Runs the slow-consumer scenario on a gateway started with gwOpts: a
 *  baseline round (sender and normal reader), then a round in a room that
 *  also holds a reader that stopped reading. Asserts at the end, after
 *  printing the figures of both rounds. */
async function slowConsumerScenario(gwOpts, N, SIZE) {
  const broker = await startBroker();
  const gw = await startGateway(broker, gwOpts);
  const problems = [];
  const closes = async () => metric((await getMetrics(gw)).metrics, 'roomcast_slow_consumer_closes_total');

  // Baseline: the same traffic without a slow reader.
  const sender0 = await connect(gw, { label: 'sender (baseline)' });
  const reader0 = await connect(gw, { label: 'reader (baseline)' });
  await sender0.enter('base-room', 'S0', { uid: 's0' });
  await reader0.enter('base-room', 'R0', { uid: 'r0' });
  const base = await blast({ sender: sender0, reader: reader0, room: 'base-room', n: N, size: SIZE });
  const baseLine = report('normal reader WITHOUT a slow reader', base, N);
  problems.push(...completeness(base, N, 'baseline (no slow reader)'));
  await sender0.terminate();
  await reader0.terminate();
  const closesBefore = await closes();
  if (closesBefore !== 0) problems.push(`baseline: roomcast_slow_consumer_closes_total is ${closesBefore} with no slow reader in the room`);

  // The slow one enters, reads its own enter, and then stops reading.
  const slow = new RawWs(gw.port, 'slow');
  try {
    await slow.open();
    await slow.next((f) => f.event === 'welcome');
    slow.send({ event: 'enter', room: 'slow-room', name: 'Slow', uid: 'slow' });
    await slow.next((f) => f.event === 'enter' && f.uid === 'slow');
    slow.pause();
    const sender = await connect(gw, { label: 'sender' });
    const reader = await connect(gw, { label: 'reader' });
    await sender.enter('slow-room', 'S', { uid: 's' });
    await reader.enter('slow-room', 'R', { uid: 'r' });
    const withSlow = await blast({ sender, reader, room: 'slow-room', n: N, size: SIZE });
    const slowLine = report('normal reader WITH a slow reader', withSlow, N);
    console.log(`p99 summary (${JSON.stringify(gwOpts)}): ${baseLine} | ${slowLine}`);
    problems.push(...completeness(withSlow, N, 'with a slow reader'));

    // The gateway gave up on the slow one: counted, out of the room, and
    // its TCP connection ends.
    const m = await waitFor(async () => {
      const mm = (await getMetrics(gw)).metrics;
      return metric(mm, 'roomcast_slow_consumer_closes_total') > closesBefore ? mm : null;
    }, { timeoutMs: 15000, what: 'roomcast_slow_consumer_closes_total to count the slow reader' }).catch((e) => { problems.push(e.message); return null; });
    if (m) console.log(`slow consumer: closes_total ${metric(m, 'roomcast_slow_consumer_closes_total')}, queue_drops_total ${metric(m, 'roomcast_queue_drops_total')}`);
    if (!withSlow.readerClosed) {
      await reader.next({ event: 'out', uid: 'slow' }, 15000).then(
        (o) => { if (o.num !== 2) problems.push(`out for the slow reader has num ${o.num}, expected 2: ${JSON.stringify(o)}`); },
        (e) => problems.push(`the room does not see the slow reader go out: ${e.message.split('\n')[0]}`));
    }
    const ended = await slow.drainUntilEnd(15000);
    const msgs = slow.frames.filter((f) => f.event === 'message').length;
    console.log(`slow consumer: its connection ${ended ? 'ended' : 'DID NOT END'} after it had received ${msgs} of ${N} messages (close frame: ${slow.closeCode ?? 'none'})`);
    if (!ended) problems.push(`the slow reader's TCP connection was not ended by the gateway within 15 s of resuming (read ${slow.bytesRead} bytes)`);
    else if (msgs >= N) problems.push(`the slow reader got all ${msgs} messages: it was never cut off`);
  } finally {
    slow.destroy();
  }
  assert.deepEqual(problems, [], `slow-consumer scenario with ${JSON.stringify(gwOpts)}:\n  ${problems.join('\n  ')}`);
}

// Small queues, yet still above the largest burst: a broker round fans out
// up to commit_batch (500) messages at once, and the readers here share one
// busy Node process with a sender that blasts as fast as it can, so they
// can fall a few hundred messages behind without being slow consumers.
test('slow consumer, small queues (send_queue_frames=1000, send_queue_bytes=1000000): the reader that stops reading is closed, the others get everything in order', { timeout: 240000 }, async () => {
  await slowConsumerScenario({ send_queue_frames: 1000, send_queue_bytes: 1000000, rate_per_s: 100000 }, 5000, 1000);
});

test('slow consumer, default queues (4096 frames, 4 MiB), 10000 messages: the reader that stops reading is closed, the others get everything in order', { timeout: 240000 }, async () => {
  await slowConsumerScenario({ rate_per_s: 100000 }, 10000, 1000);
});

// ---------------------------------------------------------------------------
// (e), (f): capacity and per-address caps

test('capacity: with threads=20 upgrades past the worker reserve get 503; /healthz and / still answer', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { threads: 20 });
  const open = [];
  let refused = null;
  for (let i = 0; i < 25 && !refused; i++) {
    try {
      open.push(await connect(gw, { label: `c${i}` }));
    } catch (e) {
      refused = e;
    }
  }
  console.log(`threads=20: ${open.length} WebSockets open, then ${refused ? refused.message : 'no refusal'}`);
  assert.ok(refused, `an upgrade is refused before 25 connections (${open.length} open)`);
  assert.equal(refused.status, 503, `refused with HTTP 503: ${refused.message}`);
  assert.ok(open.length >= 1 && open.length < 20, `refused before the 20 workers are all taken (${open.length} open)`);
  // Those open still work, and the reserve serves plain HTTP.
  const hz = await httpGet(gw, '/healthz', { timeoutMs: 3000 });
  assert.equal(hz.status, 200, `/healthz at capacity: ${hz.status} ${hz.body}`);
  const page = await httpGet(gw, '/', { timeoutMs: 3000 });
  assert.equal(page.status, 200, `GET / at capacity: ${page.status}`);
  assert.match(page.body, /<html/i, 'GET / serves the page at capacity');
  await open[0].ping();
  await open[open.length - 1].ping();
  const again = await rawUpgrade(gw, '/ws');
  assert.equal(again.status, 503, 'still 503 while full');
  const m = (await getMetrics(gw)).metrics;
  assert.ok(metric(m, 'roomcast_upgrades_refused_capacity_total') >= 2, 'refusals counted');
  assert.equal(metric(m, 'roomcast_connections'), open.length, 'roomcast_connections at capacity');
  // A closed connection frees its worker: a new one is accepted again.
  await open.pop().close();
  const c = await waitFor(() => connect(gw, { label: 'after a close' }).catch(() => null),
    { timeoutMs: 10000, what: 'an upgrade accepted after one connection closed' });
  await c.ping();
});

test('max_conns_per_ip=3: the 4th WebSocket from one address gets 429; other addresses and closed slots are fine', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { max_conns_per_ip: 3 });
  const mine = [];
  for (let i = 0; i < 3; i++) mine.push(await connect(gw, { label: `ip1-${i}` }));
  const fourth = await connect(gw, { label: 'ip1-3' }).then((c) => { c.terminate(); return null; }, (e) => e);
  assert.ok(fourth, 'the 4th WebSocket from 127.0.0.1 is refused');
  assert.equal(fourth.status, 429, `refused with 429: ${fourth.message}`);
  // Plain HTTP from the same address is not capped.
  assert.equal((await httpGet(gw, '/healthz')).status, 200, '/healthz from a capped address');
  // Another address (127.0.0.2 is loopback too) has its own count.
  const other = await connectFrom(gw, { localAddress: '127.0.0.2', label: 'ip2' });
  await other.ping();
  // 127.0.0.1 is a trusted proxy (the default trusted_proxies): its
  // X-Forwarded-For names the client, which has a count of its own.
  const proxied = await connectFrom(gw, { headers: { 'X-Forwarded-For': '203.0.113.7' }, label: 'via proxy' });
  await proxied.ping();
  // 127.0.0.2 is not a trusted proxy: its X-Forwarded-For is ignored, so it
  // cannot dodge the cap by naming someone else.
  const gw2 = await startGateway(broker, { max_conns_per_ip: 1 });
  const first2 = await connectFrom(gw2, { localAddress: '127.0.0.2', label: 'gw2 ip2' });
  const spoof = await connectFrom(gw2, { localAddress: '127.0.0.2', headers: { 'X-Forwarded-For': '198.51.100.1' }, label: 'gw2 spoof' })
    .then((c) => { c.terminate(); return null; }, (e) => e);
  assert.ok(spoof && spoof.status === 429, `X-Forwarded-For from an untrusted peer is ignored (429); got ${spoof ? spoof.message : 'an open connection'}`);
  await first2.ping();
  // A closed connection frees its slot.
  await mine.pop().close();
  const again = await waitFor(() => connect(gw, { label: 'ip1 again' }).catch(() => null),
    { timeoutMs: 10000, what: 'a 3rd connection from 127.0.0.1 accepted after one closed' });
  await again.ping();
  const m = (await getMetrics(gw)).metrics;
  assert.ok(metric(m, 'roomcast_upgrades_refused_per_ip_total') >= 1, 'refusal counted in roomcast_upgrades_refused_per_ip_total');
});
