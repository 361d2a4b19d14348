// http.test.mjs -- what a gateway serves besides chat: /healthz, /metrics,
// static files from www/, refusal of upgrades off /ws; the welcome frame and
// heartbeats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  WWW, startBroker, startGateway, connect, httpGet, rawUpgrade, getMetrics, metric,
  waitFor, expectFields, within,
} from './harness.mjs';

const UID_RE = /^[A-Za-z0-9_.:@-]{1,64}$/;

test('healthz, static files, refused upgrades, metrics', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker);

  // /healthz
  const h = await httpGet(gw, '/healthz');
  assert.equal(h.status, 200);
  let body;
  assert.doesNotThrow(() => { body = JSON.parse(h.body); }, `/healthz body is JSON: ${h.body}`);
  expectFields(body, { status: 'ok', broker: 'up' }, '/healthz body');

  // Static: / is www/index.html.
  const root = await httpGet(gw, '/');
  assert.equal(root.status, 200, `GET / status; body: ${root.body.slice(0, 200)}`);
  assert.match(root.headers['content-type'] || '', /^text\/html/, 'GET / content-type');
  const indexPath = path.join(WWW, 'index.html');
  assert.ok(fs.existsSync(indexPath), `${indexPath} exists`);
  assert.equal(root.body, fs.readFileSync(indexPath, 'utf8'), 'GET / serves www/index.html');
  const idx = await httpGet(gw, '/index.html');
  assert.equal(idx.status, 200, 'GET /index.html');
  // Another file of www/, and a missing one.
  const other = fs.readdirSync(WWW).find((f) => f.endsWith('.js') && fs.statSync(path.join(WWW, f)).isFile());
  if (other) {
    const r = await httpGet(gw, `/${other}`);
    assert.equal(r.status, 200, `GET /${other}`);
    assert.equal(r.body, fs.readFileSync(path.join(WWW, other), 'utf8'), `GET /${other} body`);
  }
  const missing = await httpGet(gw, '/no-such-file-here.html');
  assert.equal(missing.status, 404, 'GET of a missing file');

  // An upgrade on any path but /ws is refused.
  for (const p of ['/', '/index.html', '/wsx', '/ws/more', '/chat']) {
    const r = await rawUpgrade(gw, p);
    assert.notEqual(r.status, 101, `upgrade on ${p} must be refused, got ${r.status}`);
  }
  assert.equal((await rawUpgrade(gw, '/ws')).status, 101, 'upgrade on /ws');
  await assert.rejects(connect(gw, { path: '/nope' }), /HTTP \d+/, 'ws client on /nope is refused');

  // Metrics.
  const a = await connect(gw, { label: 'a' });
  const b = await connect(gw, { label: 'b' });
  await a.ping();
  await b.enter('metrics-room', 'bob');
  const m = await getMetrics(gw);
  for (const name of ['roomcast_connections', 'roomcast_frames_in_total', 'roomcast_frames_out_total', 'roomcast_broker_up']) {
    assert.ok(m.metrics[name], `/metrics has ${name}; body:\n${m.body}`);
  }
  assert.equal(metric(m.metrics, 'roomcast_broker_up'), 1, 'roomcast_broker_up with a broker');
  assert.match(m.headers['content-type'] || '', /^text\/plain/, '/metrics content-type');
  await waitFor(async () => metric((await getMetrics(gw)).metrics, 'roomcast_connections') === 2,
    { timeoutMs: 5000, what: 'roomcast_connections == 2 with two open connections' });
  const m2 = (await getMetrics(gw)).metrics;
  assert.ok(metric(m2, 'roomcast_frames_in_total') >= 2, `frames_in_total counts the 2 frames sent: ${metric(m2, 'roomcast_frames_in_total')}`);
  assert.ok(metric(m2, 'roomcast_frames_out_total') >= 4, `frames_out_total counts 2 welcomes + pong + enter: ${metric(m2, 'roomcast_frames_out_total')}`);
  await a.close();
  await waitFor(async () => metric((await getMetrics(gw)).metrics, 'roomcast_connections') === 1,
    { timeoutMs: 5000, what: 'roomcast_connections == 1 after a close' });
  // The broker's own figures travel to the gateway with its answers.
  await b.send({ event: 'message', room: 'metrics-room', message: 'counted' });
  await waitFor(async () => metric((await getMetrics(gw)).metrics, 'roomcast_broker_messages_stored_total') >= 1,
    { timeoutMs: 5000, what: 'roomcast_broker_messages_stored_total from the broker' });
});

test('welcome frame fields, enter without uid uses welcome.uid, heartbeats', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, {
    heartbeat_ms: 20000, max_frame_bytes: 8192, max_message_bytes: 1000, rate_per_s: 77,
  });
  const a = await connect(gw, { label: 'a' });
  const w = a.welcome;
  expectFields(w, { event: 'welcome', protocol: 1, auth: 'none', heartbeat_ms: 20000 }, 'welcome');
  assert.ok(w.conn !== undefined && w.conn !== null && String(w.conn).length > 0, `welcome.conn: ${JSON.stringify(w)}`);
  assert.equal(typeof w.uid, 'string', `welcome.uid: ${JSON.stringify(w)}`);
  assert.match(w.uid, UID_RE, 'welcome.uid is a valid uid');
  assert.equal(typeof w.limits, 'object', `welcome.limits: ${JSON.stringify(w)}`);
  expectFields(w.limits, { max_frame_bytes: 8192, max_message_bytes: 1000, rate_per_s: 77 }, 'welcome.limits');

  const b = await connect(gw, { label: 'b' });
  assert.notEqual(String(b.welcome.conn), String(w.conn), 'two connections have different conn');
  assert.notEqual(b.welcome.uid, w.uid, 'two connections get different server-assigned uids');

  // Defaults when nothing is configured.
  const gwd = await startGateway(broker);
  const d = await connect(gwd, { label: 'defaults' });
  expectFields(d.welcome, { protocol: 1, auth: 'none', heartbeat_ms: 25000 }, 'welcome (defaults)');
  expectFields(d.welcome.limits || {}, { max_frame_bytes: 65536, max_message_bytes: 16384, max_binary_bytes: 1048576, rate_per_s: 50 }, 'welcome.limits (defaults)');

  // enter without uid: the welcome uid is used.
  a.send({ event: 'enter', room: 'hello', name: 'Ann' });
  const en = await a.next('enter');
  expectFields(en, { event: 'enter', room: 'hello', uid: w.uid, name: 'Ann', num: 1, total: 1, seq: 0 }, 'own enter');

  // Heartbeat: a ping event gets a pong event; a ws ping frame gets a pong frame.
  a.send({ event: 'heartbeat', message: 'ping' });
  expectFields(await a.next('heartbeat'), { event: 'heartbeat', message: 'pong' }, 'heartbeat answer');
  await a.wsPing();
  await b.wsPing();
  // A client pong is accepted silently (answers a server ping), the connection stays usable.
  a.send({ event: 'heartbeat', message: 'pong' });
  await a.ping();
  assert.deepEqual(a.pending('error'), [], 'no error for a heartbeat pong');
});

test('server heartbeat pings every heartbeat_ms; a silent connection is closed with 4000 and goes out', { timeout: 30000 }, async () => {
  const broker = await startBroker();
  const fast = await startGateway(broker, { heartbeat_ms: 1000 });
  const slow = await startGateway(broker); // default 25000: the observer stays connected
  const a = await connect(fast, { label: 'answers' });
  assert.equal(a.welcome.heartbeat_ms, 1000);
  // Two server pings arrive (generous wait: 5x the period each).
  await a.next({ event: 'heartbeat', message: 'ping' }, 5000);
  a.send({ event: 'heartbeat', message: 'pong' });
  await a.next({ event: 'heartbeat', message: 'ping' }, 5000);
  a.send({ event: 'heartbeat', message: 'pong' });
  a.autoPong = true;

  const obs = await connect(slow, { label: 'observer' });
  await obs.enter('hb-room', 'obs', { uid: 'obs' });
  const silent = await connect(fast, { label: 'silent' });
  await silent.enter('hb-room', 'quiet', { uid: 'quiet' });
  expectFields(await obs.next({ event: 'enter', uid: 'quiet' }), { num: 2, total: 2 }, 'observer sees quiet enter');
  // From now on `silent` sends nothing: closed with 4000 after 2 x heartbeat_ms.
  const closed = await within(silent.closed, 15000);
  assert.ok(closed, 'the silent connection was closed within 15 s (2 x heartbeat_ms = 2 s)');
  assert.equal(closed.code, 4000, `close code of the silent connection: ${JSON.stringify(closed)}`);
  expectFields(await obs.next({ event: 'out', uid: 'quiet' }, 10000),
    { event: 'out', room: 'hb-room', uid: 'quiet', name: 'quiet', num: 1, total: 2 }, 'out after heartbeat timeout');
  // The answering connection is still open.
  await a.ping();
});
