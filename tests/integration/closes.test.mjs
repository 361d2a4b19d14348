// closes.test.mjs -- every close the gateway starts can be read by the
// client, even while the client is still sending (docs/protocol.md, Transport):
// the gateway sends its close frame, then keeps reading and discarding the
// client's frames until the client's own close frame (or the end of the
// TCP connection), and only then closes the socket. Closing a socket with
// unread bytes makes the kernel answer with a TCP RST, which throws away the
// close frame on its way. A client that never answers the close is cut off
// after a bounded wait, so it cannot hold a worker.
//
// The clients here are raw (rawws.mjs) and keep streaming frames, one TCP
// write each, until the server's close frame arrives; then they answer it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, startGateway, connect, sleep, waitFor, getMetrics, metric } from './harness.mjs';
import { rawOpen, OP } from './rawws.mjs';

const LIMITS = { max_frame_bytes: 4096, max_message_bytes: 1024, rate_per_s: 5000 };
const PING_EV = '{"event":"heartbeat","message":"ping"}';

/** Writes `frames()` (a function that sends one frame) every `everyMs`
 *  until the server's close frame arrives or the TCP connection ends;
 *  then answers the close (unless answer is false). Resolves with what
 *  waitClosed reports. */
async function streamUntilClosed(ws, sendOne, { everyMs = 5, answer = true, timeoutMs = 15000, burst = 1 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let sent = 0;
  while (!ws.closeFrame && !ws.tcpEnd && Date.now() < deadline) {
    for (let i = 0; i < burst; i++) {
      sendOne(sent++);
      ws.flush(); // one TCP write per frame
    }
    await sleep(everyMs);
  }
  if (ws.closeFrame && answer && !ws.tcpEnd) {
    ws.sendClose(ws.closeFrame.code);
    ws.flush();
  }
  const r = await ws.waitClosed(Math.max(1000, deadline - Date.now()));
  return { ...r, sent };
}

function expectReadable(ws, r, code, what) {
  assert.ok(r.closeFrame, `${what}: the client reads a close frame ${code} (it got none; sent ${r.sent} frames after the fault); ${ws.state()}`);
  assert.equal(r.code, code, `${what}: close code; ${ws.state()}`);
  assert.ok(r.tcpEnded, `${what}: the TCP connection ends after the close handshake; ${ws.state()}`);
  assert.deepEqual(ws.protocolErrors, [], `${what}: the server's frames follow RFC 6455`);
}

async function served(gw, what) {
  const c = await connect(gw, { label: `fresh client after ${what}` });
  await c.ping();
  await c.close();
}

test('1009: a text message of 8 fragments (4,952 bytes, max_frame_bytes 4096), each its own write: the client reads 1009', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, LIMITS);
  for (let round = 0; round < 3; round++) {
    const ws = await rawOpen(gw, { label: `8 fragments, round ${round}` });
    // 7 fragments of 700 bytes and one of 52: 4,952 bytes in all.
    const head = '{"event":"heartbeat","message":"ping","pad":"';
    const body = head + 'f'.repeat(4952 - head.length - 2) + '"}';
    assert.equal(Buffer.byteLength(body), 4952);
    const parts = [];
    for (let i = 0; i < body.length; i += 700) parts.push(body.slice(i, i + 700));
    assert.equal(parts.length, 8);
    parts.forEach((p, i) => {
      ws.send({ opcode: i === 0 ? OP.TEXT : OP.CONT, fin: i === parts.length - 1, payload: p });
      ws.flush(); // one TCP write per fragment, as a browser does
    });
    const r = await streamUntilClosed(ws, () => {}, { everyMs: 20 });
    expectReadable(ws, r, 1009, `8 fragments, round ${round}`);
  }
  await served(gw, '8 fragments');
});

test('1007: invalid UTF-8, then the client keeps streaming: it reads 1007', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, LIMITS);
  for (let round = 0; round < 4; round++) {
    const ws = await rawOpen(gw, { label: `invalid UTF-8 then streaming, round ${round}` });
    ws.sendText(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    const r = await streamUntilClosed(ws, () => ws.sendText(PING_EV), { burst: 20 });
    expectReadable(ws, r, 1007, `invalid UTF-8 then streaming, round ${round}`);
    // Nothing sent after the bad frame was processed.
    assert.deepEqual(ws.pending((f) => f.event === 'heartbeat' && f.message === 'pong'), [],
      'frames after the fault are discarded, not answered');
  }
  await served(gw, '1007');
});

test('1002: a reserved opcode, then the client keeps streaming: it reads 1002', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, LIMITS);
  for (let round = 0; round < 4; round++) {
    const ws = await rawOpen(gw, { label: `reserved opcode then streaming, round ${round}` });
    ws.send({ opcode: 3, payload: 'x' });
    const r = await streamUntilClosed(ws, (i) => ws.sendText(`{"event":"heartbeat","message":"ping","n":${i}}`), { burst: 20 });
    expectReadable(ws, r, 1002, `reserved opcode then streaming, round ${round}`);
  }
  await served(gw, '1002');
});

test('1008: a client flooding past the rate limit reads 1008 while it floods', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { ...LIMITS, rate_per_s: 5 });
  for (let round = 0; round < 3; round++) {
    const ws = await rawOpen(gw, { label: `flood, round ${round}` });
    const r = await streamUntilClosed(ws, () => ws.sendText(PING_EV), { everyMs: 2, burst: 5 });
    expectReadable(ws, r, 1008, `flood, round ${round}`);
  }
  await served(gw, '1008');
});

test('4000 and 4001: closes started by housekeeping are readable by a client that is still sending', { timeout: 60000 }, async () => {
  // 4001: jwt mode, never authenticated, sending events all along (each
  // answered with noauth) until the auth timeout closes it.
  const secret = 'closes-test-secret-0123456789abcdef';
  const broker = await startBroker({ auth: 'jwt', jwt_secret: secret });
  const gw = await startGateway(broker, { ...LIMITS, auth: 'jwt', jwt_secret: secret, auth_timeout_ms: 500 });
  const ws = await rawOpen(gw, { label: 'never authenticated, streaming' });
  const r = await streamUntilClosed(ws, () => ws.sendText('{"event":"who","room":"r"}'), { everyMs: 3 });
  expectReadable(ws, r, 4001, 'auth timeout while streaming');

  // 4000: any frame is a sign of life, so a client that times out is
  // silent; the close frame must arrive and the TCP connection end once
  // the client answers it.
  const broker2 = await startBroker();
  const gw2 = await startGateway(broker2, { ...LIMITS, heartbeat_ms: 300 });
  const silent = await rawOpen(gw2, { label: 'silent' });
  const r2 = await streamUntilClosed(silent, () => {}, { everyMs: 20 });
  expectReadable(silent, r2, 4000, 'heartbeat timeout');
});

test('a client that never answers the close is disconnected after a bounded wait, streaming or silent', { timeout: 60000 }, async (t) => {
  const broker = await startBroker();
  const gw = await startGateway(broker, LIMITS);
  // Streaming, never answering.
  const ws = await rawOpen(gw, { label: 'never answers, streaming' });
  ws.send({ opcode: 3, payload: 'x' });
  ws.flush();
  const t0 = Date.now();
  const r = await streamUntilClosed(ws, () => ws.sendText(PING_EV), { answer: false, everyMs: 20 });
  assert.ok(r.closeFrame && r.code === 1002, `close frame 1002 first; ${ws.state()}`);
  let keepSending = true;
  (async () => { while (keepSending && !ws.tcpEnd) { ws.sendText(PING_EV); ws.flush(); await sleep(20); } })();
  const end = await ws.waitClosed(20000);
  keepSending = false;
  assert.ok(end.tcpEnded, `the gateway ends the TCP connection of a client that keeps sending and never answers its close; ${ws.state()}`);
  t.diagnostic(`streaming, never answering: TCP ended ${Date.now() - t0} ms after the fault`);

  // Silent, never answering.
  const quiet = await rawOpen(gw, { label: 'never answers, silent' });
  quiet.send({ opcode: 3, payload: 'x' });
  quiet.flush();
  const t1 = Date.now();
  const q = await quiet.waitClosed(20000);
  assert.ok(q.closeFrame && q.code === 1002, `close frame 1002; ${quiet.state()}`);
  assert.ok(q.tcpEnded, `the gateway ends the TCP connection of a silent client that never answers its close; ${quiet.state()}`);
  t.diagnostic(`silent, never answering: TCP ended ${Date.now() - t1} ms after the fault`);
  await waitFor(async () => metric((await getMetrics(gw)).metrics, 'roomcast_connections') === 0,
    { timeoutMs: 15000, what: 'roomcast_connections back to 0' });
  await served(gw, 'clients that never answer');
});
