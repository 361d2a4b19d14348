// webhooks.test.mjs -- docs/protocol.md "Webhooks": a node http receiver on
// 127.0.0.1 checks the signature of every request, its body and headers,
// batches of at most 100, events equal to what members saw (plus a unique
// hook_id) in the members' order per room, filtering by webhook_events;
// a receiver that answers 500, hangs, or is down for a while gets every
// event afterwards; events pending when the broker is SIGKILLed are sent
// after its restart; webhook_max_pending drops the oldest and counts them;
// SIGTERM ends the broker promptly while a request hangs; an https://
// backend with an untrusted certificate gets nothing; bad config keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  startBroker, restartBroker, startGateway, connect, stop, getMetrics, metric,
  waitFor, freePort, runCli, sleep, tempDir, ROOT, encodeBinary,
} from './harness.mjs';
import { api, describe, KEY } from './api-helpers.mjs';

const SECRET = 'hook-secret-0123';

// A webhook receiver. mode(n) says what to do with request n (0-based):
// 'ok' (200), 'fail' (500) or 'hang' (never answer). Records every request
// with its raw body; `events` are those of acknowledged requests, in order.
async function receiver({ port, mode = () => 'ok' } = {}) {
  const r = { requests: [], events: [], hung: [], port: port || await freePort() };
  r.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const n = r.requests.length;
      const what = mode(n);
      const rec = { n, method: req.method, url: req.url, headers: req.headers, raw, what, socket: req.socket };
      r.requests.push(rec);
      if (what === 'hang') { r.hung.push(res); return; }
      if (what === 'fail') { res.writeHead(500); res.end('no'); return; }
      rec.body = JSON.parse(raw.toString('utf8'));
      r.events.push(...rec.body.events);
      res.writeHead(204);
      res.end();
    });
  });
  r.server.keepAliveTimeout = 60000; // keep-alive reuse is checked below
  await new Promise((resolve) => r.server.listen(r.port, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${r.port}/hook`;
  r.close = () => new Promise((resolve) => {
    for (const res of r.hung) res.destroy();
    r.server.closeAllConnections();
    r.server.close(() => resolve());
  });
  receivers.push(r);
  return r;
}
const receivers = [];
test.afterEach(async () => { for (const r of receivers.splice(0)) await r.close().catch(() => {}); });

function sign(raw, secret = SECRET) {
  return 'sha256=' + crypto.createHmac('sha256', secret).update(raw).digest('hex');
}

// Events deduplicated by hook_id (delivery is at least once), in arrival order.
function unique(events) {
  const seen = new Set();
  return events.filter((e) => (seen.has(e.hook_id) ? false : (seen.add(e.hook_id), true)));
}

const strip = ({ hook_id, ...rest }) => rest; // eslint-disable-line no-unused-vars

async function figures(gw) {
  const m = (await getMetrics(gw)).metrics;
  const f = (n) => metric(m, `roomcast_webhook_${n}`);
  return { pending: f('pending'), delivered: f('delivered_total'), failed: f('failed_total'),
    dropped: f('dropped_total'), oldest: f('oldest_pending_seconds') };
}

async function send(c, room, n, prefix = 'm') {
  for (let i = 1; i <= n; i++) c.send({ event: 'message', room, message: `${prefix}${i}`, id: `${prefix}-${i}` });
  return c.collect((f) => f.event === 'message' && f.room === room && String(f.message).startsWith(prefix), n);
}

test('signed requests carry the events members saw, in their order, each with a unique hook_id', { timeout: 60000 }, async () => {
  const rx = await receiver();
  const broker = await startBroker({ webhook_url: rx.url, webhook_secret: SECRET });
  const gw = await startGateway(broker);
  const alice = await connect(gw, { label: 'alice' });
  const bob = await connect(gw, { label: 'bob' });
  const carol = await connect(gw, { label: 'carol' });
  await alice.enter('r1', 'Alice', { uid: 'alice' });
  await bob.enter('r1', 'Bob', { uid: 'bob' });
  await carol.enter('r1', 'Carol', { uid: 'carol' });
  await send(alice, 'r1', 3);
  bob.send({ event: 'leave', room: 'r1' });
  await carol.next({ event: 'leave', uid: 'bob' });
  await alice.terminate();
  await carol.next({ event: 'out', uid: 'alice' });
  // What carol saw from her own enter on: enter(carol), 3 messages, leave, out.
  const seen = carol.log.filter((f) => ['enter', 'message', 'leave', 'out'].includes(f.event));
  assert.equal(seen.length, 6, JSON.stringify(seen));

  await waitFor(() => unique(rx.events).length >= 8, { what: '8 webhook events', timeoutMs: 15000 });
  const events = unique(rx.events);
  assert.equal(events.length, 8, JSON.stringify(events));
  // enter alice, enter bob, then exactly what carol saw, in that order.
  assert.deepEqual(events.map((e) => `${e.event}:${e.uid}`),
    ['enter:alice', 'enter:bob', 'enter:carol', 'message:alice', 'message:alice', 'message:alice', 'leave:bob', 'out:alice']);
  assert.deepEqual(events.slice(2).map(strip), seen, 'events equal to what a member saw');
  const ids = events.map((e) => e.hook_id);
  assert.ok(ids.every((id) => typeof id === 'string' && id.length > 0), `hook_ids: ${ids}`);
  assert.equal(new Set(ids).size, ids.length, 'hook_id unique');

  for (const q of rx.requests) {
    assert.equal(q.method, 'POST');
    assert.equal(q.url, '/hook');
    assert.match(q.headers['content-type'], /^application\/json/);
    assert.match(q.headers['x-roomcast-signature'], /^sha256=[0-9a-f]{64}$/);
    assert.equal(q.headers['x-roomcast-signature'], sign(q.raw), 'signature of the exact body bytes');
    assert.notEqual(q.headers['x-roomcast-signature'], sign(q.raw, 'another secret'));
    const body = JSON.parse(q.raw.toString('utf8'));
    assert.deepEqual(Object.keys(body), ['events']);
    assert.ok(Array.isArray(body.events) && body.events.length >= 1 && body.events.length <= 100);
  }
  assert.ok(rx.requests.length >= 2, `several requests (${rx.requests.length})`);
  assert.equal(new Set(rx.requests.map((q) => q.socket)).size, 1, 'one keep-alive connection for every request');
  await waitFor(async () => { const f = await figures(gw); return f.delivered >= 8 && f.pending === 0 ? f : false; },
    { what: 'webhook figures on the gateway' });
  const f = await figures(gw);
  assert.equal(f.dropped, 0);
  assert.equal(f.failed, 0);
  assert.equal(f.oldest, 0);
});

test('a binary message is sent without its payload, with type and size, in seq order among text', { timeout: 60000 }, async () => {
  const rx = await receiver();
  const broker = await startBroker({ webhook_url: rx.url, webhook_secret: SECRET, webhook_events: 'message' });
  const gw = await startGateway(broker);
  const a = await connect(gw);
  await a.enter('bin', 'A', { uid: 'a' });
  a.send({ event: 'message', room: 'bin', message: 'before', id: 't1' });
  await a.next({ event: 'message', message: 'before' });
  a.sendBinary(encodeBinary({ event: 'message', room: 'bin', id: 'b1', type: 'image/png', filename: 'cat.png' },
    Buffer.alloc(3000, 7)));
  a.sendBinary(encodeBinary({ event: 'message', room: 'bin' }, Buffer.from('xyz')));
  a.send({ event: 'message', room: 'bin', message: 'after', id: 't2' });
  await a.next({ event: 'message', message: 'after' });
  await waitFor(() => unique(rx.events).length >= 4, { what: '4 events' });
  const [t1, b1, b2, t2] = unique(rx.events);
  assert.deepEqual([t1.seq, b1.seq, b2.seq, t2.seq], [1, 2, 3, 4]);
  assert.equal(t1.message, 'before');
  assert.equal(t2.message, 'after');
  assert.deepEqual(strip(b1), { event: 'message', room: 'bin', uid: 'a', name: 'A', seq: 2, ts: b1.ts, id: 'b1',
    type: 'image/png', size: 3000, filename: 'cat.png' });
  assert.equal(b2.type, 'application/octet-stream');
  assert.equal(b2.size, 3);
  for (const b of [b1, b2]) assert.ok(!('message' in b) && !('data' in b), JSON.stringify(b));
  for (const q of rx.requests) assert.ok(q.raw.length < 3000, 'no payload in the request');
});

test('deletes, server API publishes and removals reach the webhook exactly as members saw them', { timeout: 60000 }, async () => {
  const rx = await receiver();
  const broker = await startBroker({ webhook_url: rx.url, webhook_secret: SECRET });
  const gw = await startGateway(broker, { api_key: KEY });
  const a = await connect(gw, { label: 'alice' });
  const b = await connect(gw, { label: 'bob' });
  await a.enter('del', 'A', { uid: 'a' });
  await b.enter('del', 'B', { uid: 'b' });
  await send(a, 'del', 2);
  a.send({ event: 'delete', room: 'del', seq: 1 });
  await a.next({ event: 'delete', seq: 1 });
  let r = await api(gw, 'POST', '/api/v1/publish', { body: { room: 'del', message: 'from the server', id: 's1' } });
  assert.equal(r.status, 200, describe(r));
  await a.next({ event: 'message', message: 'from the server' });
  r = await api(gw, 'DELETE', '/api/v1/rooms/del/messages/2');
  assert.equal(r.status, 200, describe(r));
  await a.next({ event: 'delete', seq: 2 });
  r = await api(gw, 'DELETE', '/api/v1/rooms/del/members/b');
  assert.equal(r.status, 200, describe(r));
  await a.next({ event: 'leave', uid: 'b' });
  const seen = a.log.filter((f) => ['enter', 'message', 'delete', 'leave'].includes(f.event));
  assert.equal(seen.length, 8, JSON.stringify(seen));
  await waitFor(() => unique(rx.events).length >= 8, { what: '8 webhook events' });
  await sleep(300);
  const events = unique(rx.events);
  assert.deepEqual(events.map(strip), seen, 'the events alice saw, in her order');
  assert.deepEqual(events.map((e) => e.event), ['enter', 'enter', 'message', 'message', 'delete', 'message', 'delete', 'leave']);
  assert.equal(events[4].by, 'a');
  assert.equal(events[5].uid, 'server');
  assert.equal(events[6].by, 'server');
  assert.equal(events[7].by, 'server');
  for (const q of rx.requests) assert.equal(q.headers['x-roomcast-signature'], sign(q.raw));
});

test('webhook_events filters the kinds sent', { timeout: 60000 }, async () => {
  const rx = await receiver();
  const broker = await startBroker({ webhook_url: rx.url, webhook_secret: SECRET, webhook_events: 'leave, message' });
  const gw = await startGateway(broker);
  const a = await connect(gw);
  const b = await connect(gw);
  await a.enter('f', 'A', { uid: 'a' });
  await b.enter('f', 'B', { uid: 'b' });
  await send(a, 'f', 2);
  b.send({ event: 'leave', room: 'f' });
  await a.next({ event: 'leave', uid: 'b' });
  await a.terminate();
  await waitFor(() => rx.events.length >= 3, { what: '3 events' });
  await sleep(500);
  assert.deepEqual(unique(rx.events).map((e) => `${e.event}:${e.uid}`), ['message:a', 'message:a', 'leave:b']);
});

test('batches of at most 100, each room in order, after a receiver that answered 500', { timeout: 90000 }, async () => {
  let failing = true;
  const rx = await receiver({ mode: () => (failing ? 'fail' : 'ok') });
  const broker = await startBroker({ webhook_url: rx.url, webhook_secret: SECRET, webhook_events: 'message' });
  const gw = await startGateway(broker, { rate_per_s: 5000 });
  const a = await connect(gw);
  const b = await connect(gw);
  await a.enter('x', 'A', { uid: 'a' });
  await b.enter('y', 'B', { uid: 'b' });
  await Promise.all([send(a, 'x', 130, 'x'), send(b, 'y', 120, 'y')]);
  await waitFor(async () => (await figures(gw)).failed >= 2, { what: 'two failed attempts', timeoutMs: 20000 });
  const during = await figures(gw);
  assert.equal(during.pending, 250, JSON.stringify(during));
  failing = false;
  await waitFor(() => unique(rx.events).length >= 250, { what: '250 events', timeoutMs: 60000 });
  const ok = rx.requests.filter((q) => q.what === 'ok');
  assert.ok(ok.length >= 3, `250 events need at least 3 requests, got ${ok.length}`);
  for (const q of rx.requests) {
    assert.equal(q.headers['x-roomcast-signature'], sign(q.raw));
    assert.ok(JSON.parse(q.raw).events.length <= 100, 'at most 100 events a request');
  }
  const events = unique(rx.events);
  for (const [room, n] of [['x', 130], ['y', 120]]) {
    const seqs = events.filter((e) => e.room === room).map((e) => e.seq);
    assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i + 1), `room ${room} in seq order`);
  }
  await waitFor(async () => (await figures(gw)).pending === 0, { what: 'outbox empty' });
  const f = await figures(gw);
  assert.ok(f.delivered >= 250 && f.failed >= 2 && f.dropped === 0, JSON.stringify(f));
});

test('a receiver that hangs, then one that is down for a while, gets every event afterwards', { timeout: 90000 }, async () => {
  const port = await freePort();
  let rx = await receiver({ port, mode: (n) => (n === 0 ? 'hang' : 'ok') });
  const broker = await startBroker({ webhook_url: rx.url, webhook_secret: SECRET, webhook_events: 'message' });
  const gw = await startGateway(broker);
  const a = await connect(gw);
  await a.enter('h', 'A', { uid: 'a' });
  await send(a, 'h', 3, 'p');
  // The first request hangs: after 5 s it counts as failed and is sent again.
  await waitFor(() => unique(rx.events).length >= 3, { what: 'events after the hung request', timeoutMs: 30000 });
  assert.equal(rx.requests[0].what, 'hang');
  assert.deepEqual(unique(rx.events).map((e) => e.message), ['p1', 'p2', 'p3']);
  assert.ok((await figures(gw)).failed >= 1);

  // Down: nobody listens on the port.
  await rx.close();
  await send(a, 'h', 4, 'q');
  await waitFor(async () => { const f = await figures(gw); return f.pending === 4 && f.failed >= 2 && f.oldest >= 1; },
    { what: 'pending events while the receiver is down', timeoutMs: 20000 });
  rx = await receiver({ port });
  await waitFor(() => unique(rx.events).length >= 4, { what: 'events after the receiver came back', timeoutMs: 90000 });
  assert.deepEqual(unique(rx.events).map((e) => e.message), ['q1', 'q2', 'q3', 'q4']);
  await waitFor(async () => (await figures(gw)).pending === 0, { what: 'outbox empty' });
});

test('events pending when the broker is SIGKILLed are sent after its restart', { timeout: 90000 }, async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/hook`;
  const broker = await startBroker({ webhook_url: url, webhook_secret: SECRET });
  const gw = await startGateway(broker);
  const a = await connect(gw);
  a.autoPong = true;
  await a.enter('k', 'A', { uid: 'a' });
  await send(a, 'k', 5);
  await waitFor(async () => (await figures(gw)).pending === 6, { what: '6 pending events' });
  assert.equal(await stop(broker.proc, 'SIGKILL'), 'signal SIGKILL');
  const rx = await receiver({ port });
  await restartBroker(broker);
  await waitFor(() => unique(rx.events).length >= 6, { what: 'events after the restart', timeoutMs: 30000 });
  assert.deepEqual(unique(rx.events).map((e) => `${e.event}:${e.message ?? ''}`),
    ['enter:', 'message:m1', 'message:m2', 'message:m3', 'message:m4', 'message:m5']);
  for (const q of rx.requests) assert.equal(q.headers['x-roomcast-signature'], sign(q.raw));
  // The gateway registers again (no enter is sent twice); the room goes on.
  // A message queued for the old broker gets `unavailable`: resend it.
  await waitFor(async () => {
    a.send({ event: 'message', room: 'k', message: 'after1', id: 'after-1' });
    const f = await a.next((x) => x.id === 'after-1', 5000);
    return f.event === 'message';
  }, { what: 'a message stored after the restart', interval: 200 });
  await waitFor(() => unique(rx.events).length >= 7, { what: 'the next message' });
  const all = unique(rx.events);
  assert.equal(all[6].message, 'after1');
  assert.equal(all[6].seq, 6);
});

test('past webhook_max_pending the oldest events are dropped and counted', { timeout: 60000 }, async () => {
  const port = await freePort();
  const broker = await startBroker({ webhook_url: `http://127.0.0.1:${port}/hook`, webhook_secret: SECRET,
    webhook_max_pending: 5 });
  const gw = await startGateway(broker);
  const a = await connect(gw);
  await a.enter('d', 'A', { uid: 'a' }); // event 1 (enter)
  await send(a, 'd', 9);                  // events 2..10
  await waitFor(async () => { const f = await figures(gw); return f.dropped === 5 && f.pending === 5; },
    { what: '5 dropped, 5 pending' });
  const rx = await receiver({ port });
  await waitFor(() => unique(rx.events).length >= 5, { what: 'the 5 newest events', timeoutMs: 60000 });
  await sleep(300);
  assert.deepEqual(unique(rx.events).map((e) => e.message), ['m5', 'm6', 'm7', 'm8', 'm9']);
  assert.equal((await figures(gw)).dropped, 5);
});

test('SIGTERM ends the broker promptly while a request hangs; the event is sent after the restart', { timeout: 60000 }, async () => {
  const port = await freePort();
  const rx = await receiver({ port, mode: () => 'hang' });
  const broker = await startBroker({ webhook_url: rx.url, webhook_secret: SECRET, webhook_events: 'message' });
  const gw = await startGateway(broker);
  const a = await connect(gw);
  await a.enter('s', 'A', { uid: 'a' });
  await send(a, 's', 1);
  await waitFor(() => rx.requests.length >= 1, { what: 'the hanging request' });
  // Well under the 5 s request timeout: the transfer is aborted, not waited for.
  assert.equal(await stop(broker.proc, 'SIGTERM', 3000), 0);
  await rx.close();
  const rx2 = await receiver({ port });
  await restartBroker(broker);
  await waitFor(() => unique(rx2.events).length >= 1, { what: 'the event after the restart', timeoutMs: 30000 });
  assert.equal(unique(rx2.events)[0].message, 'm1');
  assert.equal(unique(rx2.events)[0].hook_id, JSON.parse(rx.requests[0].raw).events[0].hook_id, 'the same hook_id');
});

test('a round undone by a storage failure leaves the outbox as committed: no lost, extra or doubled event', { timeout: 90000 }, async () => {
  const port = await freePort();
  const dbdir = path.join(tempDir(), 'dbdir');
  const broker = await startBroker({ db: path.join(dbdir, 'roomcast.db'), webhook_url: `http://127.0.0.1:${port}/hook`,
    webhook_secret: SECRET, webhook_events: 'message,out' });
  const gw = await startGateway(broker);
  const a = await connect(gw);
  const b = await connect(gw);
  a.autoPong = b.autoPong = true;
  await a.enter('u', 'A', { uid: 'a' });
  await b.enter('u', 'B', { uid: 'b' });
  await send(a, 'u', 2);
  await waitFor(async () => (await figures(gw)).pending === 2, { what: '2 pending' });
  const message = async (text, id) => {
    a.send({ event: 'message', room: 'u', message: text, id });
    return a.next((f) => f.id === id && (f.event === 'message' || f.event === 'error'), 15000);
  };
  // The database moved away: the next commit fails and its round is undone.
  fs.renameSync(dbdir, `${dbdir}.away`);
  assert.equal((await message('x', 'x-1')).code, 'unavailable');
  await sleep(600); // the figures are set every 250 ms
  assert.equal((await figures(gw)).pending, 2, 'the undone round left no outbox row counted');
  // Going offline needs no write: members see it, the outbox cannot keep
  // it, and it is counted as dropped.
  await b.terminate();
  await a.next({ event: 'out', uid: 'b' });
  await waitFor(async () => (await figures(gw)).dropped === 1, { what: 'the out event counted as dropped' });
  fs.renameSync(`${dbdir}.away`, dbdir);
  await waitFor(async () => (await message('x', 'x-1')).event === 'message',
    { what: 'the resend stored', interval: 300, timeoutMs: 20000 });
  await waitFor(async () => (await figures(gw)).pending === 3, { what: '3 pending' });
  const rx = await receiver({ port });
  await waitFor(() => rx.events.length >= 3, { what: '3 events', timeoutMs: 30000 });
  await sleep(500);
  assert.deepEqual(unique(rx.events).map((e) => `${e.seq}:${e.message}`), ['1:m1', '2:m2', '3:x']);
  assert.equal(new Set(rx.events.map((e) => e.hook_id)).size, 3);
});

function haveOpenssl() {
  try { execFileSync('openssl', ['version'], { stdio: 'ignore' }); return true; } catch { return false; }
}

test('an https:// backend whose certificate is not trusted gets nothing (TLS verification is on)', { timeout: 60000 }, async (t) => {
  if (!haveOpenssl()) { t.skip('openssl not installed (make test installs it)'); return; }
  const dir = tempDir('roomcast-hook-tls-');
  execFileSync('sh', [path.join(ROOT, 'etc', 'make-cert.sh'), dir], { stdio: 'ignore' });
  const port = await freePort();
  let handled = 0, refusedHandshakes = 0;
  const server = https.createServer({ key: fs.readFileSync(path.join(dir, 'roomcast.key')),
    cert: fs.readFileSync(path.join(dir, 'roomcast.crt')) }, (req, res) => { handled++; res.writeHead(204).end(); });
  server.on('tlsClientError', () => { refusedHandshakes++; });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  try {
    const broker = await startBroker({ webhook_url: `https://localhost:${port}/hook`, webhook_secret: SECRET });
    const gw = await startGateway(broker);
    const a = await connect(gw);
    await a.enter('tls', 'A', { uid: 'a' });
    await waitFor(async () => (await figures(gw)).failed >= 1 && refusedHandshakes >= 1,
      { what: 'a failed attempt on the self-signed certificate' });
    assert.equal(handled, 0, 'no request got through');
    assert.equal((await figures(gw)).pending, 1);
    assert.match(broker.proc.stderr, /event=webhook_failed .*(certificate|SSL)/i);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('bad webhook keys are refused at start with status 2', async () => {
  let r = await runCli('broker', ['-o', 'webhook_url=ftp://example.com/x']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /webhook_url/);
  r = await runCli('broker', ['-o', 'webhook_events=message,bogus']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /webhook_events/);
  r = await runCli('broker', ['-o', 'webhook_max_pending=0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /webhook_max_pending/);
  r = await runCli('broker', ['-o', `webhook_secret=${SECRET}`, '-o', 'webhook_max_pending=x']);
  assert.equal(r.code, 2);
  assert.doesNotMatch(r.stderr, new RegExp(SECRET), 'the secret is never echoed');
});
