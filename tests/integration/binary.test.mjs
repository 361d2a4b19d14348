// binary.test.mjs -- binary chat messages (docs/protocol.md "Binary messages"):
// the layout both ways, byte for byte, over one and two gateways; one seq
// shared with text; catch-up replaying binary messages as binary WebSocket
// messages; idempotent resend; history with base64 `data` under 16 MiB with
// `more`; 1009 past max_binary_bytes (whole or in fragments); every error
// the protocol names, with the connection staying open; the rate limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  BIN, startBroker, startGateway, restartBroker, connect, expectFields, encodeBinary, sleep, runCli,
} from './harness.mjs';
import { rawOpen, OP } from './rawws.mjs';

const BIG = { rate_per_s: 5000 };

/** Bytes 0..255 repeated to n, shifted by `salt` so payloads differ. */
function bytes(n, salt = 0) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + salt) & 0xff;
  return b;
}

const isBin = (f) => typeof f.__binary === 'string';

async function chat(opts = {}) {
  const broker = await startBroker(opts.broker || {});
  const gw = await startGateway(broker, { ...BIG, ...(opts.gateway || {}) });
  return { broker, gw };
}

test('round trip byte for byte: every member, the sender too, over two gateways', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gwA = await startGateway(broker, BIG);
  const gwB = await startGateway(broker, BIG);
  const a = await connect(gwA, { label: 'alice' });
  const b = await connect(gwB, { label: 'bob' });
  const b2 = await connect(gwB, { label: 'bob-2' });
  await a.enter('pics', 'Alice', { uid: 'alice' });
  await b.enter('pics', 'Bob', { uid: 'bob' });
  await b2.enter('pics', 'Bob', { uid: 'bob' });
  expectFields(a.welcome.limits, { max_binary_bytes: 1048576 }, 'welcome.limits');

  const payload = bytes(200000, 7);
  a.sendBinary(encodeBinary({ event: 'message', room: 'pics', id: 'p1', type: 'image/png', filename: 'cat picture.png', extra: { x: 1 } }, payload));
  for (const c of [a, b, b2]) {
    const f = await c.next((x) => isBin(x) && x.id === 'p1');
    expectFields(f, { event: 'message', room: 'pics', uid: 'alice', name: 'Alice', seq: 1, id: 'p1', type: 'image/png', size: 200000, filename: 'cat picture.png' }, `${c.label}'s copy`);
    assert.equal(typeof f.ts, 'number');
    assert.equal(f.message, undefined, 'no `message` field');
    assert.equal(f.replay, undefined, 'live, not replay');
    assert.ok(Buffer.compare(f.payload, payload) === 0, `${c.label}: the payload byte for byte`);
  }
  // Defaults: no type -> application/octet-stream; no filename, no id.
  b.sendBinary(encodeBinary({ event: 'message', room: 'pics' }, Buffer.from([0])));
  for (const c of [a, b, b2]) {
    const f = await c.next((x) => isBin(x) && x.seq === 2);
    expectFields(f, { uid: 'bob', type: 'application/octet-stream', size: 1 }, `${c.label}: defaults`);
    assert.equal(f.filename, undefined);
    assert.equal(f.id, undefined);
    assert.deepEqual([...f.payload], [0]);
  }
  // A header of exactly 4096 bytes and a one-byte payload are fine.
  const base = JSON.stringify({ event: 'message', room: 'pics', pad: '' });
  const hdr = base.replace('"pad":""', `"pad":"${'x'.repeat(4096 - base.length)}"`);
  assert.equal(Buffer.byteLength(hdr), 4096);
  a.sendBinary(encodeBinary(hdr, Buffer.from('z')));
  expectFields(await a.next((x) => isBin(x) && x.seq === 3), { size: 1 }, '4096-byte header');
});

test('text and binary share one seq, in order, live', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gwA = await startGateway(broker, BIG);
  const gwB = await startGateway(broker, BIG);
  const a = await connect(gwA, { label: 'a' });
  const b = await connect(gwB, { label: 'b' });
  await a.enter('mix', 'A', { uid: 'a' });
  await b.enter('mix', 'B', { uid: 'b' });
  const sent = [];
  for (let i = 0; i < 30; i++) {
    if (i % 3 === 1) {
      a.sendBinary(encodeBinary({ event: 'message', room: 'mix', id: `m${i}` }, bytes(1000 + i, i)));
    } else {
      a.send({ event: 'message', room: 'mix', message: `text ${i}`, id: `m${i}` });
    }
    sent.push(`m${i}`);
  }
  for (const c of [a, b]) {
    const got = await c.collect((f) => f.event === 'message', 30);
    assert.deepEqual(got.map((f) => f.seq), Array.from({ length: 30 }, (_, i) => i + 1), `${c.label}: seq order`);
    assert.deepEqual(got.map((f) => f.id), sent, `${c.label}: in the order sent`);
    got.forEach((f, i) => {
      assert.equal(isBin(f), i % 3 === 1, `${c.label}: message ${i} binary or text`);
      if (isBin(f)) assert.ok(f.payload.equals(bytes(1000 + i, i)), `${c.label}: payload ${i}`);
    });
  }
});

test('catch-up replays binary messages as binary, in seq order among text; offline delivery', { timeout: 60000 }, async () => {
  const { gw } = await chat();
  const a = await connect(gw, { label: 'a' });
  let b = await connect(gw, { label: 'b' });
  await a.enter('r', 'A', { uid: 'a' });
  await b.enter('r', 'B', { uid: 'b' });
  a.send({ event: 'message', room: 'r', message: 'first' });
  await b.next({ event: 'message', seq: 1 });
  await b.close();
  // Bob is offline (still a member): text, binary, text, binary.
  a.sendBinary(encodeBinary({ event: 'message', room: 'r', id: 'x2', type: 'image/gif', filename: 'g.gif' }, bytes(5000, 2)));
  a.send({ event: 'message', room: 'r', message: 'three', id: 'x3' });
  a.sendBinary(encodeBinary({ event: 'message', room: 'r', id: 'x4' }, bytes(70000, 4)));
  await a.next({ seq: 4 });
  // Back without `since`: everything since bob last had a connection.
  b = await connect(gw, { label: 'b again' });
  b.send({ event: 'enter', room: 'r', name: 'B', uid: 'b' });
  const got = await b.collect((f) => f.event === 'message' || f.event === 'enter', 4);
  assert.deepEqual(got.map((f) => [f.event, f.seq]), [['message', 2], ['message', 3], ['message', 4], ['enter', 4]]);
  expectFields(got[0], { replay: true, type: 'image/gif', filename: 'g.gif', size: 5000, id: 'x2', uid: 'a' }, 'replayed binary');
  assert.ok(isBin(got[0]) && got[0].payload.equals(bytes(5000, 2)));
  expectFields(got[1], { replay: true, message: 'three' }, 'replayed text');
  assert.ok(isBin(got[2]) && got[2].payload.equals(bytes(70000, 4)) && got[2].replay === true);
  // With `since`, on another connection.
  const c = await connect(gw, { label: 'c' });
  c.send({ event: 'enter', room: 'r', name: 'B', uid: 'b', since: 2 });
  const again = await c.collect((f) => f.event === 'message' || f.event === 'enter', 3);
  assert.deepEqual(again.map((f) => [f.event, f.seq, isBin(f)]), [['message', 3, false], ['message', 4, true], ['enter', 4, false]]);
});

test('idempotent send by (uid, id): the original back, nothing broadcast twice', { timeout: 60000 }, async () => {
  const { gw } = await chat();
  const a = await connect(gw, { label: 'a' });
  const b = await connect(gw, { label: 'b' });
  await a.enter('r', 'A', { uid: 'a' });
  await b.enter('r', 'B', { uid: 'b' });
  const msg = encodeBinary({ event: 'message', room: 'r', id: 'same', filename: 'f.bin' }, bytes(3000, 9));
  a.sendBinary(msg);
  const first = await a.next((f) => isBin(f) && f.id === 'same');
  await b.next((f) => isBin(f) && f.id === 'same');
  // The resend, even with another payload: the stored original comes back.
  a.sendBinary(encodeBinary({ event: 'message', room: 'r', id: 'same' }, bytes(10, 1)));
  const second = await a.next((f) => isBin(f) && f.id === 'same');
  expectFields(second, { seq: first.seq, size: 3000, filename: 'f.bin', ts: first.ts }, 'the original');
  assert.ok(second.payload.equals(bytes(3000, 9)));
  // A text message with that id is a resend too.
  a.send({ event: 'message', room: 'r', message: 'x', id: 'same' });
  expectFields(await a.next((f) => f.id === 'same'), { seq: first.seq }, 'text resend of a binary id');
  a.send({ event: 'message', room: 'r', message: 'after' });
  await b.next({ message: 'after', seq: 2 });
  assert.deepEqual(b.pending((f) => f.id === 'same'), [], 'nothing broadcast twice');
});

test('history: binary messages with base64 data, type, size, filename', { timeout: 60000 }, async () => {
  const { gw } = await chat();
  const a = await connect(gw, { label: 'a' });
  await a.enter('h', 'A', { uid: 'a' });
  a.send({ event: 'message', room: 'h', message: 'one' });
  a.sendBinary(encodeBinary({ event: 'message', room: 'h', id: 'b2', type: 'text/plain', filename: 'notes.txt' }, Buffer.from('hello, file')));
  a.sendBinary(encodeBinary({ event: 'message', room: 'h' }, bytes(1001, 3)));
  await a.next({ seq: 3 });
  a.send({ event: 'history', room: 'h' });
  const h = await a.next('history');
  assert.equal(h.more, false);
  assert.deepEqual(h.messages.map((m) => m.seq), [1, 2, 3]);
  expectFields(h.messages[0], { message: 'one' }, 'text');
  expectFields(h.messages[1], { uid: 'a', name: 'A', seq: 2, id: 'b2', type: 'text/plain', size: 11, filename: 'notes.txt', data: Buffer.from('hello, file').toString('base64') }, 'binary');
  assert.equal(h.messages[1].message, undefined);
  expectFields(h.messages[2], { type: 'application/octet-stream', size: 1001, data: bytes(1001, 3).toString('base64') }, 'binary 2');
  assert.equal(h.messages[2].filename, undefined);
});

test('history stays under 16 MiB: fewer than limit, more: true, then the rest', { timeout: 120000 }, async () => {
  const { gw } = await chat();
  const a = await connect(gw, { label: 'a' });
  await a.enter('big', 'A', { uid: 'a' });
  const n = 14;
  const size = 1048576 - 100;
  for (let i = 1; i <= n; i++) {
    a.sendBinary(encodeBinary({ event: 'message', room: 'big', id: `b${i}` }, bytes(size, i)));
    await a.next((f) => isBin(f) && f.seq === i, 20000);
  }
  let raw = null;
  a.ws.once('message', (data) => { raw = data; });
  a.send({ event: 'history', room: 'big', limit: 200 });
  const h = await a.next('history', 30000);
  assert.ok(raw && raw.length < 16 * 1024 * 1024, `answer of ${raw && raw.length} bytes is under 16 MiB`);
  assert.ok(h.messages.length < n && h.messages.length >= 10, `${h.messages.length} of ${n} messages fit`);
  assert.equal(h.more, true);
  const first = h.messages[0].seq;
  assert.deepEqual(h.messages.map((m) => m.seq), Array.from({ length: h.messages.length }, (_, i) => first + i), 'the newest ones, oldest first');
  assert.equal(h.messages.at(-1).seq, n);
  for (const m of h.messages) assert.ok(Buffer.from(m.data, 'base64').equals(bytes(size, m.seq)), `data of ${m.seq}`);
  a.send({ event: 'history', room: 'big', before: first, limit: 200 });
  const h2 = await a.next('history', 30000);
  assert.deepEqual(h2.messages.map((m) => m.seq), Array.from({ length: first - 1 }, (_, i) => i + 1));
  assert.equal(h2.more, false);
});

test('1009 past max_binary_bytes, whole or in fragments; exactly at it is stored', { timeout: 60000 }, async () => {
  const { gw } = await chat({ gateway: { max_binary_bytes: 4096, max_frame_bytes: 65536 } });
  const head = encodeBinary({ event: 'message', room: 'r' }, Buffer.alloc(0));
  // Exactly 4096 bytes, in three fragments: stored and delivered.
  const ok = await rawOpen(gw, { label: 'at the cap' });
  ok.sendText(JSON.stringify({ event: 'enter', room: 'r', name: 'R' }));
  await ok.next({ event: 'enter' });
  const whole = Buffer.concat([head, bytes(4096 - head.length)]);
  ok.sendFragments([whole.subarray(0, 1000), whole.subarray(1000, 3000), whole.subarray(3000)], { opcode: OP.BINARY });
  const f = await ok.next((x) => typeof x.__binary === 'string' || x.event === 'error');
  assert.equal(typeof f.__binary, 'string', `a binary message of exactly max_binary_bytes is taken: ${JSON.stringify(f)}`);
  // One byte over, in fragments: 1009; a text message of 5000 bytes is fine
  // (its own cap is max_frame_bytes).
  const over = await rawOpen(gw, { label: 'over the cap' });
  over.sendText(JSON.stringify({ event: 'heartbeat', message: 'ping', pad: 'p'.repeat(5000) }));
  await over.next({ event: 'heartbeat', message: 'pong' });
  const big = Buffer.concat([head, bytes(4097 - head.length)]);
  over.sendFragments([big.subarray(0, 2000), big.subarray(2000, 4000), big.subarray(4000)], { opcode: OP.BINARY });
  const r = await over.waitClosed(10000);
  assert.equal(r.code, 1009, `close code: ${over.state()}`);
  // Whole, one frame.
  const one = await rawOpen(gw, { label: 'one frame over' });
  one.sendBinary(Buffer.concat([head, bytes(5000)]));
  assert.equal((await one.waitClosed(10000)).code, 1009);
});

test('errors: bad length and bad JSON (bad_json), wrong fields and empty payload (bad_request, with id); the connection stays open', { timeout: 60000 }, async () => {
  const { gw } = await chat();
  const c = await connect(gw, { label: 'errors' });
  await c.enter('r', 'R', { uid: 'r' });
  const expectError = async (buf, code, id, what) => {
    c.sendBinary(buf);
    const e = await c.next('error').catch((err) => { throw new Error(`${what}: ${err.message}`); });
    expectFields(e, { code }, what);
    assert.equal(e.id, id, `${what}: id`);
    assert.equal(typeof e.message, 'string');
  };
  const len = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
  await expectError(Buffer.from([0, 0, 1]), 'bad_json', undefined, 'fewer than 4 bytes');
  await expectError(Buffer.concat([len(0), Buffer.from('{}x')]), 'bad_json', undefined, 'length 0');
  await expectError(Buffer.concat([len(4097), Buffer.alloc(5000, 32)]), 'bad_json', undefined, 'length 4097');
  await expectError(Buffer.concat([len(100), Buffer.from('{"event":"message"}')]), 'bad_json', undefined, 'length past the end');
  await expectError(encodeBinary('{"event":"message","room":"r","id":"e1",}', 'x'), 'bad_json', undefined, 'trailing comma');
  await expectError(encodeBinary("{'event':'message'}", 'x'), 'bad_json', undefined, 'single quotes');
  await expectError(encodeBinary('{"event":"message","room":"r"} x', 'x'), 'bad_json', undefined, 'text after the object');
  await expectError(encodeBinary('[1]', 'x'), 'bad_request', undefined, 'not an object');
  const bad = [
    [{ room: 'r' }, 'no event'],
    [{ event: 'enter', room: 'r' }, 'event not message'],
    [{ event: 'message' }, 'no room'],
    [{ event: 'message', room: 'bad room' }, 'bad room'],
    [{ event: 'message', room: 'r', type: 'png' }, 'type without /'],
    [{ event: 'message', room: 'r', type: 'image/png; x=1' }, 'type with parameters'],
    [{ event: 'message', room: 'r', type: `a/${'b'.repeat(126)}` }, 'type of 128 bytes'],
    [{ event: 'message', room: 'r', type: 5 }, 'type not a string'],
    [{ event: 'message', room: 'r', filename: '' }, 'empty filename'],
    [{ event: 'message', room: 'r', filename: 'a/b.png' }, 'filename with /'],
    [{ event: 'message', room: 'r', filename: 'a\\b.png' }, 'filename with \\'],
    [{ event: 'message', room: 'r', filename: 'a\nb' }, 'filename with a control character'],
    [{ event: 'message', room: 'r', filename: 'f'.repeat(256) }, 'filename of 256 bytes'],
  ];
  for (const [h, what] of bad) await expectError(encodeBinary({ ...h, id: 'e1' }, 'x'), 'bad_request', 'e1', what);
  await expectError(encodeBinary({ event: 'message', room: 'r', id: 'e2' }, Buffer.alloc(0)), 'bad_request', 'e2', 'empty payload');
  await expectError(encodeBinary({ event: 'message', room: 'r', id: '' }, 'x'), 'bad_request', undefined, 'empty id');
  await expectError(encodeBinary({ event: 'message', room: 'elsewhere', id: 'e3' }, 'x'), 'not_in_room', 'e3', 'room not entered');
  // Still open and served; nothing was stored.
  await c.ping();
  c.send({ event: 'message', room: 'r', message: 'still here' });
  expectFields(await c.next({ event: 'message' }), { seq: 1 }, 'nothing stored before');
  // Good values at the edges are taken.
  c.sendBinary(encodeBinary({ event: 'message', room: 'r', type: `a/${'b'.repeat(125)}`, filename: `${'é'.repeat(127)}x` }, 'x'));
  expectFields(await c.next((f) => isBin(f)), { seq: 2, type: `a/${'b'.repeat(125)}`, filename: `${'é'.repeat(127)}x` }, 'longest type and filename');
});

test('rate limit counts a binary message as an event', { timeout: 60000 }, async () => {
  const { gw } = await chat({ gateway: { rate_per_s: 5 } });
  const c = await connect(gw, { label: 'rate' });
  await c.enter('r', 'R', { uid: 'r' });
  await sleep(1100);
  for (let i = 0; i < 8; i++) c.sendBinary(encodeBinary({ event: 'message', room: 'r', id: `q${i}` }, 'x'));
  const got = await c.collect((f) => isBin(f) || (f.event === 'error' && f.code === 'rate_limited'), 8);
  const limited = got.filter((f) => f.event === 'error').length;
  assert.ok(limited >= 2, `${limited} of 8 refused with rate_limited`);
});

test('retention drops binary messages as it drops text', { timeout: 60000 }, async () => {
  const broker = await startBroker({ retention_messages: 2 });
  const gw = await startGateway(broker, BIG);
  const a = await connect(gw, { label: 'a' });
  await a.enter('keep', 'A', { uid: 'a' });
  for (let i = 1; i <= 4; i++) {
    a.sendBinary(encodeBinary({ event: 'message', room: 'keep' }, bytes(2000, i)));
    await a.next((f) => isBin(f) && f.seq === i);
  }
  await restartBroker(broker); // retention runs at start
  const b = await connect(gw, { label: 'b' });
  // Until the gateway has registered with the new broker, events get
  // `unavailable`: ask again.
  for (let i = 0; ; i++) {
    b.send({ event: 'enter', room: 'keep', name: 'B', uid: 'b' });
    const f = await b.next((x) => x.event === 'enter' || x.event === 'error');
    if (f.event === 'enter') break;
    assert.ok(i < 50 && f.code === 'unavailable', JSON.stringify(f));
    await sleep(100);
  }
  b.send({ event: 'history', room: 'keep' });
  const h = await b.next('history');
  assert.deepEqual(h.messages.map((m) => m.seq), [3, 4]);
  assert.ok(Buffer.from(h.messages[1].data, 'base64').equals(bytes(2000, 4)));
});

test('jwt mode: a binary message before auth gets noauth and is dropped; after it, it is stored', { timeout: 60000 }, async () => {
  const secret = 'binary-test-secret-0123456789';
  const common = { auth: 'jwt', jwt_secret: secret };
  const broker = await startBroker(common);
  const gw = await startGateway(broker, { ...BIG, ...common });
  const c = await connect(gw, { label: 'jwt' });
  c.sendBinary(encodeBinary({ event: 'message', room: 'r', id: 'n1' }, 'x'));
  expectFields(await c.next((f) => f.event === 'noauth' || f.event === 'error' || f.event === 'message'), { event: 'noauth' }, 'before auth');
  const r = await runCli(path.join(path.dirname(BIN.broker), 'roomcast-token'), ['-o', `jwt_secret=${secret}`, '--sub', 'ann', '--name', 'Ann', '--ttl', '60']);
  assert.equal(r.code, 0, r.stderr);
  c.send({ event: 'auth', token: r.stdout.trim() });
  await c.next('auth');
  await c.enter('r', 'Ann', { uid: 'ann' });
  c.sendBinary(encodeBinary({ event: 'message', room: 'r', id: 'n2' }, 'y'));
  expectFields(await c.next((f) => isBin(f)), { uid: 'ann', name: 'Ann', seq: 1, id: 'n2', size: 1 }, 'after auth');
});

test('one picture larger than send_queue_bytes on its own is delivered, not taken for a slow reader', { timeout: 60000 }, async () => {
  // 4 x 65536 = 256 KiB is the instant slow-consumer limit here; a 600 KB
  // picture alone is over it, yet the readers keep up.
  const { gw } = await chat({ gateway: { send_queue_bytes: 65536, max_binary_bytes: 1048576 } });
  const a = await connect(gw, { label: 'a' });
  const b = await connect(gw, { label: 'b' });
  await a.enter('r', 'A', { uid: 'a' });
  await b.enter('r', 'B', { uid: 'b' });
  for (let i = 1; i <= 3; i++) {
    a.sendBinary(encodeBinary({ event: 'message', room: 'r', id: `big${i}` }, bytes(600000, i)));
    for (const c of [a, b]) {
      const f = await c.next((x) => isBin(x) && x.id === `big${i}`, 10000);
      assert.ok(f.payload.equals(bytes(600000, i)), `${c.label}: picture ${i}`);
    }
  }
  await b.ping();
  assert.equal(b.closeInfo, null, 'b is still connected');
});

test('catch-up stays under its byte budget: the newest pictures, then truncated: true and history for the rest', { timeout: 120000 }, async () => {
  const { gw } = await chat();
  const a = await connect(gw, { label: 'a' });
  let b = await connect(gw, { label: 'b' });
  await a.enter('r', 'A', { uid: 'a' });
  await b.enter('r', 'B', { uid: 'b' });
  await b.close();
  const n = 24;
  const size = 1000000;
  for (let i = 1; i <= n; i++) {
    a.sendBinary(encodeBinary({ event: 'message', room: 'r', id: `c${i}` }, bytes(size, i)));
    await a.next((f) => isBin(f) && f.seq === i, 20000);
  }
  // 24 MB unseen: more than one connection's queue may hold at once.
  b = await connect(gw, { label: 'b again' });
  b.send({ event: 'enter', room: 'r', name: 'B', uid: 'b' });
  const enter = await b.next({ event: 'enter', uid: 'b' }, 30000);
  const got = b.drain().filter(isBin);
  assert.equal(enter.truncated, true, 'the enter says older unseen messages were left out');
  assert.ok(got.length >= 4 && got.length < n, `${got.length} pictures replayed`);
  assert.deepEqual(got.map((f) => f.seq), Array.from({ length: got.length }, (_, i) => n - got.length + 1 + i), 'the newest ones, in order');
  for (const f of got) assert.ok(f.replay === true && f.payload.equals(bytes(size, f.seq)));
  await b.ping();
  assert.equal(b.closeInfo, null, 'still connected');
  b.send({ event: 'history', room: 'r', before: got[0].seq, limit: 200 });
  const h = await b.next('history', 30000);
  assert.equal(h.messages.at(-1).seq, got[0].seq - 1, 'history continues where the catch-up began');
});

test('six history answers of ~15 MB at once reach their clients (the gateway is not reset)', { timeout: 120000 }, async () => {
  const { gw } = await chat();
  const a = await connect(gw, { label: 'a' });
  await a.enter('big', 'A', { uid: 'a' });
  for (let i = 1; i <= 14; i++) {
    a.sendBinary(encodeBinary({ event: 'message', room: 'big' }, bytes(1048000, i)));
    await a.next((f) => isBin(f) && f.seq === i, 20000);
  }
  const cs = [];
  for (let i = 0; i < 6; i++) {
    const c = await connect(gw, { label: `reader ${i}` });
    await c.enter('big', `R${i}`, { uid: `r${i}` });
    cs.push(c);
  }
  for (const c of cs) c.send({ event: 'history', room: 'big', limit: 200 });
  for (const c of cs) {
    const h = await c.next((f) => f.event === 'history' || f.event === 'error', 60000);
    assert.equal(h.event, 'history', `${c.label}: ${JSON.stringify(h).slice(0, 200)}`);
    assert.ok(h.messages.length >= 10 && h.more === true);
    assert.ok(Buffer.from(h.messages.at(-1).data, 'base64').equals(bytes(1048000, 14)));
  }
  // Nobody was taken offline: the room's presence is intact.
  a.send({ event: 'message', room: 'big', message: 'still here' });
  for (const c of cs) await c.next({ message: 'still here' }, 20000);
  assert.deepEqual(cs.flatMap((c) => c.pending('out')), [], 'no one went offline');
});
