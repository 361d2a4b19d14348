// abuse.test.mjs -- a client that misbehaves on purpose: the rate limit
// (rate_limited errors, then 1008 for sustained flooding), max_conns_per_ip
// (HTTP 429), garbage after the upgrade, and frame headers that declare
// huge payloads. After each, the same gateway and broker serve a fresh
// client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  startBroker, startGateway, connect, httpGet, getMetrics, metric, waitFor, sleep,
} from './harness.mjs';
import { rawOpen, rawConnect, buildFrame, pseudoRandomBytes, OP } from './rawws.mjs';

const PING_EV = '{"event":"heartbeat","message":"ping"}';
const NOT_PING = (f) => !(f.event === 'heartbeat' && f.message === 'ping');

let freshCount = 0;

/** A new harness (ws) client enters a room, posts a message and gets it
 *  back: the processes still serve clients after `what`. */
async function served(gw, what) {
  assert.equal(gw.proc.exitCode, null, `gateway still running after ${what}; stderr:\n${gw.proc.stderr}`);
  const c = await connect(gw, { label: `fresh client after ${what}` })
    .catch((e) => { throw new Error(`no fresh client after ${what}: ${e.message}`); });
  const room = `fresh-${++freshCount}`;
  await c.enter(room, 'fresh');
  c.send({ event: 'message', room, message: 'still here' });
  await c.next({ event: 'message', room, message: 'still here' })
    .catch((e) => { throw new Error(`fresh client after ${what}: ${e.message}`); });
  await c.close();
}

test('rate limit: a burst of 20 at rate_per_s=5 gets pongs for some, rate_limited for the excess, and stays open', { timeout: 60000 }, async (t) => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { rate_per_s: 5 });

  // A burst of 20 events in one TCP write.
  const ws = await rawOpen(gw, { label: 'burst' });
  for (let i = 0; i < 20; i++) ws.sendText(PING_EV);
  const answers = [];
  await waitFor(() => {
    while (ws.events.length) {
      const f = ws.events.shift();
      if (NOT_PING(f)) answers.push(f);
    }
    return answers.length >= 20 || ws.closeFrame || ws.tcpEnd;
  }, { timeoutMs: 10000, what: '20 answers to a burst of 20 events' }).catch(() => {});
  await sleep(300);
  const pongs = answers.filter((f) => f.event === 'heartbeat' && f.message === 'pong').length;
  const limited = answers.filter((f) => f.event === 'error' && f.code === 'rate_limited').length;
  const summary = `pongs=${pongs} rate_limited=${limited} other=${JSON.stringify(answers.filter((f) => f.event !== 'heartbeat' && f.code !== 'rate_limited'))} ${ws.state()}`;
  t.diagnostic(`burst of 20 at rate_per_s=5: ${summary}`);
  assert.equal(ws.closeFrame, null, `a single burst of 20 is not sustained flooding: the connection stays open; ${summary}`);
  assert.ok(pongs >= 1 && pongs <= 10, `some of the burst is answered (the bucket holds 5): ${summary}`);
  assert.ok(limited >= 1, `the excess gets rate_limited: ${summary}`);
  assert.equal(pongs + limited, 20, `every event of the burst is answered, with a pong or rate_limited: ${summary}`);
  // Once the bucket has refilled, events are processed again.
  await sleep(1500);
  ws.sendText(PING_EV);
  await ws.next({ event: 'heartbeat', message: 'pong' });
  await served(gw, 'a burst');
});

test('rate limit: sustained flooding closes with 1008 after rate_limited errors; a fresh client is served', { timeout: 60000 }, async (t) => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { rate_per_s: 5 });
  // 3 events every 100 ms: 30 a second, 6 x the rate, for as long as it takes.
  const flood = await rawOpen(gw, { label: 'flood' });
  const started = Date.now();
  const timer = setInterval(() => { for (let i = 0; i < 3; i++) flood.sendText(PING_EV); }, 100);
  let r;
  try {
    r = await flood.waitClosed(30000);
  } finally {
    clearInterval(timer);
  }
  const errs = flood.log.filter((f) => f.code === 'rate_limited').length;
  const pongs = flood.log.filter((f) => f.message === 'pong').length;
  t.diagnostic(`flooding closed after ${Date.now() - started} ms; ${pongs} pongs and ${errs} rate_limited errors first; close ${JSON.stringify(r)}`);
  assert.ok(r.closeFrame, `sustained flooding ends with a close frame; ${flood.state()}`);
  assert.equal(r.code, 1008, `sustained flooding: close code; ${flood.state()}`);
  assert.ok(r.tcpEnded, `TCP closed after 1008; ${flood.state()}`);
  assert.ok(pongs >= 1, `events within the rate were answered first: ${flood.state()}`);
  assert.ok(errs >= 1, `rate_limited errors came before the close: ${flood.state()}`);
  await served(gw, 'flooding');
  const m = (await getMetrics(gw)).metrics;
  assert.ok(metric(m, 'roomcast_rate_limited_total') >= 1, 'roomcast_rate_limited_total counts refused events');
});

test('max_conns_per_ip=2: the third upgrade gets HTTP 429 while two work; a closed one frees its place', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { max_conns_per_ip: 2 });
  const a = await rawOpen(gw, { label: 'first' });
  const b = await connect(gw, { label: 'second' });
  const third = await rawConnect(gw, { label: 'third' });
  assert.equal(third.status, 429, `third upgrade from one address: ${third.statusLine} ${third.body}`);
  assert.equal(third.headers['sec-websocket-accept'], undefined, 'no handshake on a 429');
  await assert.rejects(connect(gw, { label: 'fourth' }), (e) => e.status === 429, 'the ws client is refused with 429 too');
  // The two admitted connections work.
  a.sendText(PING_EV);
  await a.next({ event: 'heartbeat', message: 'pong' });
  await b.enter('capped', 'bee');
  b.send({ event: 'message', room: 'capped', message: 'hi' });
  await b.next({ event: 'message', message: 'hi' });
  // Plain HTTP from the same address is not capped.
  assert.equal((await httpGet(gw, '/healthz')).status, 200, '/healthz at the per-address cap');
  const m = await getMetrics(gw);
  assert.ok(metric(m.metrics, 'roomcast_upgrades_refused_per_ip_total') >= 2, `refusals counted: ${m.body}`);
  // Closing one lets a new one in.
  a.sendClose(1000);
  await a.waitClosed(5000);
  const c = await waitFor(async () => {
    const x = await rawConnect(gw, { label: 'after a close' });
    if (x.status === 101) return x;
    x.destroy();
    return null;
  }, { timeoutMs: 5000, what: 'an upgrade admitted after one of the two closed' });
  c.sendText(PING_EV);
  await c.next({ event: 'heartbeat', message: 'pong' });
  // A connection that dies without a close frame frees its place too.
  c.destroy();
  await waitFor(async () => {
    const x = await rawConnect(gw, { label: 'after a reset' });
    const ok = x.status === 101;
    x.destroy();
    return ok;
  }, { timeoutMs: 5000, what: 'an upgrade admitted after a TCP reset' });
  await b.close();
  await waitFor(async () => metric((await getMetrics(gw)).metrics, 'roomcast_connections') === 0, { timeoutMs: 5000, what: 'no connections left' });
  await served(gw, 'per-address refusals');
});

test('garbage after the upgrade: 1002 or the TCP connection ends; the gateway keeps serving', { timeout: 90000 }, async (t) => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { max_frame_bytes: 4096, max_message_bytes: 1024 });
  const seeds = [1, 2, 3, 42, 1234, 99991, 31337, 7];
  for (const seed of seeds) {
    const ws = await rawOpen(gw, { label: `garbage seed ${seed}` });
    const other = await connect(gw, { label: `bystander ${seed}` });
    await other.enter(`bystanders-${seed}`, 'bystander');
    const junk = pseudoRandomBytes(64 * 1024, seed);
    ws.write(junk);
    const r = await ws.waitClosed(10000);
    const first = `first bytes ${junk.subarray(0, 12).toString('hex')}`;
    t.diagnostic(`garbage seed ${seed} (${first}): close frame ${r.code}, TCP ended ${r.tcpEnded} (${r.error})`);
    assert.ok(r.tcpEnded, `garbage seed ${seed} (${first}): the TCP connection ends within 10 s; ${ws.state()}`);
    if (r.closeFrame) {
      assert.ok([1002, 1007, 1009].includes(r.code), `garbage seed ${seed} (${first}): close code ${r.code}, expected a protocol error (1002; 1007/1009 when the bytes happened to form such a frame); ${ws.state()}`);
    }
    // A connection open meanwhile is unaffected.
    other.send({ event: 'message', room: `bystanders-${seed}`, message: 'unaffected' });
    await other.next({ event: 'message', message: 'unaffected' });
    await served(gw, `garbage (seed ${seed})`);
  }
  // Garbage with the header of a valid frame first: RSV1 | opcode 0xB.
  const ws = await rawOpen(gw, { label: 'garbage after a frame' });
  ws.sendText(PING_EV);
  await ws.next({ event: 'heartbeat', message: 'pong' });
  ws.write(Buffer.concat([Buffer.from([0xcb, 0x80]), pseudoRandomBytes(1000, 5)]));
  const r = await ws.waitClosed(10000);
  assert.ok(r.tcpEnded, `garbage after a valid frame: TCP ends; ${ws.state()}`);
  assert.equal(r.code, 1002, `garbage starting with RSV1 and opcode 11: close 1002; ${ws.state()}`);

  // Garbage instead of an HTTP request: the connection ends, nothing breaks.
  for (const seed of [11, 12]) {
    const s = net.connect({ host: '127.0.0.1', port: gw.port });
    let got = Buffer.alloc(0);
    s.on('data', (d) => { got = Buffer.concat([got, d]); });
    s.on('error', () => {});
    const ended = new Promise((res) => s.on('close', res));
    s.write(Buffer.concat([pseudoRandomBytes(4096, seed), Buffer.from('\r\n\r\n')]));
    const done = await Promise.race([ended.then(() => true), sleep(15000).then(() => false)]);
    t.diagnostic(`garbage instead of a request (seed ${seed}): answer ${JSON.stringify(got.toString('latin1').split('\r\n')[0])}, ended ${done}`);
    s.destroy();
    assert.ok(!/^HTTP\/1\.[01] 101/.test(got.toString('latin1')), 'garbage is never upgraded');
  }
  await served(gw, 'garbage requests');
});

test('frame headers declaring huge payloads: over 0x7FFF0000 the connection is closed; a fresh client is served', { timeout: 90000 }, async (t) => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { max_frame_bytes: 4096, max_message_bytes: 1024 });
  const huge = [
    ['2^40', 2n ** 40n, OP.TEXT],
    ['2^63 - 1', 2n ** 63n - 1n, OP.TEXT],
    ['0x7FFF0001', 0x7fff0001n, OP.TEXT],
    ['2^40 on a binary frame', 2n ** 40n, OP.BINARY],
    ['2^40 on a continuation', 2n ** 40n, OP.CONT],
    ['2^63 (top bit set, invalid per RFC 6455)', 2n ** 63n, OP.TEXT],
  ];
  for (const [what, length, opcode] of huge) {
    const ws = await rawOpen(gw, { label: `declared ${what}` });
    ws.write(buildFrame({ opcode, payload: Buffer.alloc(0), length }));
    const r = await ws.waitClosed(10000);
    t.diagnostic(`declared length ${what}, no payload: close frame ${r.code}, TCP ended ${r.tcpEnded} (${r.error})`);
    assert.ok(r.tcpEnded, `a frame declaring ${what} bytes: the connection is closed; ${ws.state()}`);
    if (r.closeFrame) assert.ok([1002, 1009].includes(r.code), `declared ${what}: close code ${r.code}; ${ws.state()}`);
    await served(gw, `a frame declaring ${what} bytes`);
  }
  // Over max_frame_bytes and with the payload actually sent: 1009.
  const big = await rawOpen(gw, { label: 'declared 5000, sent 5000' });
  big.sendText('x'.repeat(5000));
  const br = await big.waitClosed(10000);
  assert.equal(br.code, 1009, `a 5000-byte frame (max_frame_bytes 4096): ${big.state()}`);
  await served(gw, 'a 5000-byte frame');
});

test('a lying length under 0x7FFF0000 but over max_frame_bytes: closed 4000 at the heartbeat timeout, then the gateway ends the TCP connection itself', { timeout: 90000 }, async (t) => {
  // civetweb 1.15 allocates the declared payload and keeps reading until all
  // of it is in before the gateway's handler sees the frame. So
  // the gateway cannot close such a connection as it could an oversized
  // frame it has seen; what it can do is its heartbeat timeout (2 x
  // heartbeat_ms without a complete frame). This test documents what a
  // client sees, and checks that others are served meanwhile and after.
  const broker = await startBroker();
  const gw = await startGateway(broker, { max_frame_bytes: 4096, max_message_bytes: 1024, heartbeat_ms: 500 });
  const ws = await rawOpen(gw, { label: 'declared 64 MiB' });
  ws.write(buildFrame({ opcode: OP.TEXT, payload: Buffer.from('{"event":"heartbeat"'), length: 64 * 1024 * 1024 }));
  const t0 = Date.now();
  // Others are served while that worker waits.
  await served(gw, 'a frame declaring 64 MiB, still pending');
  const r = await ws.waitClosed(6000);
  t.diagnostic(`declared 64 MiB, 20 bytes sent: close frame ${JSON.stringify(r.closeFrame)} ` +
    `${r.closeFrame ? `${r.closeFrame.at - t0} ms after the header` : ''}; TCP ended by the server within ${Date.now() - t0} ms: ${r.tcpEnded}`);
  // The gateway never saw a complete frame, so its heartbeat timeout
  // (2 x heartbeat_ms) is what ends it: a close frame 4000.
  assert.ok(r.closeFrame, `a close frame within 6 s (heartbeat_ms 500); ${ws.state()}`);
  // Whatever happened, the server did not process the partial frame.
  assert.deepEqual(ws.pending((f) => f.event === 'heartbeat' && f.message === 'pong'), [], 'the incomplete frame was not processed');
  if (r.closeFrame) {
    assert.ok([4000, 1009, 1002].includes(r.code), `close code for a stalled oversized frame: ${ws.state()}`);
  }
  // civetweb's reader never notices the close while it waits for the rest
  // of the frame, so the gateway shuts the socket down itself a few seconds
  // after the close began (STUCK_CLOSE_MS + write_timeout_ms): the worker
  // is free again and the TCP connection ends without the client's help.
  const ended = await ws.waitClosed(15000);
  assert.ok(ended.tcpEnded, `the gateway ended the TCP connection of the stalled frame; ${ws.state()}`);
  // The gateway forgets the connection.
  await waitFor(async () => metric((await getMetrics(gw)).metrics, 'roomcast_connections') === 0,
    { timeoutMs: 15000, what: 'roomcast_connections back to 0 after the lying client left' });
  await served(gw, 'a frame declaring 64 MiB');
});
