// api.test.mjs -- the server API (docs/protocol.md "Server API"): every row of
// its table against real processes, the key checks, every error status,
// the broker being down or silent (503), metrics by path and status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  startBroker, startGateway, connect, getMetrics, stop, waitFor, sleep, expectFields, freePort,
} from './harness.mjs';
import { api, isError, describe, KEY } from './api-helpers.mjs';

async function setup(extra = {}) {
  const broker = await startBroker();
  const gw = await startGateway(broker, { api_key: KEY, rate_per_s: 1000, ...extra });
  return { broker, gw };
}

test('the API is off without api_key: every /api/ path answers 404', { timeout: 30000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker);
  for (const [m, p] of [['GET', '/api/v1/rooms'], ['POST', '/api/v1/publish'], ['GET', '/api/'], ['GET', '/api'],
    ['DELETE', '/api/v1/rooms/r/messages/1'], ['GET', '/api/v2/x']]) {
    const r = await api(gw, m, p, { body: m === 'POST' ? { room: 'r', message: 'x' } : undefined });
    assert.ok(isError(r, 404, 'not_found'), `${m} ${p}: ${describe(r)}`);
  }
});

test('key checks: missing, wrong, other scheme get 401; the key is never logged', { timeout: 30000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { api_key: KEY, log_level: 'debug' });
  const cases = [
    ['missing', { key: null }],
    ['wrong', { key: 'not-the-key' }],
    ['prefix of the key', { key: KEY.slice(0, -1) }],
    ['key plus more', { key: `${KEY}x` }],
    ['empty bearer', { headers: { Authorization: 'Bearer ' } }],
    ['Basic scheme', { headers: { Authorization: `Basic ${Buffer.from(`x:${KEY}`).toString('base64')}` } }],
    ['the key alone', { headers: { Authorization: KEY } }],
    ['Token scheme', { headers: { Authorization: `Token ${KEY}` } }],
  ];
  for (const [what, opts] of cases) {
    for (const [m, p] of [['GET', '/api/v1/rooms/lobby'], ['POST', '/api/v1/publish'], ['GET', '/api/v1/nothing']]) {
      const r = await api(gw, m, p, { ...opts, body: m === 'POST' ? { room: 'lobby', message: 'x' } : undefined });
      assert.ok(isError(r, 401, 'unauthorized'), `${what}, ${m} ${p}: ${describe(r)}`);
    }
  }
  const ok = await api(gw, 'GET', '/api/v1/rooms/lobby');
  assert.equal(ok.status, 200, describe(ok));
  // Nothing was published by the refused requests.
  assert.deepEqual(ok.json, { room: 'lobby', num: 0, total: 0, seq: 0 });
  await stop(gw.proc, 'SIGTERM', 30000); // a loaded machine joins 1000 workers slowly
  assert.ok(!gw.proc.stderr.includes(KEY), 'the key is not in the gateway log');
  assert.ok(!gw.proc.stderr.includes(KEY.slice(0, 12)), 'no part of the key is in the gateway log');
});

test('publish: stored and delivered as a member message; defaults; idempotent by (uid, id)', { timeout: 30000 }, async () => {
  const { gw } = await setup();
  const a = await connect(gw, { label: 'alice' });
  await a.enter('lobby', 'Alice', { uid: 'alice' });
  a.send({ event: 'message', room: 'lobby', message: 'from alice' });
  await a.next({ event: 'message', seq: 1 });

  const r = await api(gw, 'POST', '/api/v1/publish', { body: { room: 'lobby', message: 'system notice' } });
  assert.equal(r.status, 200, describe(r));
  assert.match(r.headers['content-type'], /^application\/json/);
  assert.equal(r.json.room, 'lobby');
  assert.equal(r.json.seq, 2);
  assert.equal(typeof r.json.ts, 'number');
  assert.ok(!('id' in r.json), `no id when none was given: ${r.text}`);
  const m = await a.next({ event: 'message', seq: 2 });
  expectFields(m, { room: 'lobby', uid: 'server', name: 'server', message: 'system notice', ts: r.json.ts });
  assert.ok(!('replay' in m) && !('deleted' in m), JSON.stringify(m));

  const r2 = await api(gw, 'POST', '/api/v1/publish',
    { body: { room: 'lobby', message: 'bot says ☃', uid: 'bot-1', name: 'Bot ☃', id: 'order-77' } });
  assert.equal(r2.status, 200, describe(r2));
  expectFields(r2.json, { room: 'lobby', seq: 3, id: 'order-77' });
  const m2 = await a.next({ event: 'message', seq: 3 });
  expectFields(m2, { uid: 'bot-1', name: 'Bot ☃', message: 'bot says ☃', id: 'order-77' });

  // The same (uid, id): the original seq, nothing stored or broadcast again.
  const r3 = await api(gw, 'POST', '/api/v1/publish',
    { body: { room: 'lobby', message: 'bot says ☃ again', uid: 'bot-1', id: 'order-77' } });
  assert.equal(r3.status, 200, describe(r3));
  expectFields(r3.json, { room: 'lobby', seq: 3, ts: r2.json.ts, id: 'order-77' });
  // Another uid with the same id is another message.
  const r4 = await api(gw, 'POST', '/api/v1/publish', { body: { room: 'lobby', message: 'x', uid: 'bot-2', id: 'order-77' } });
  assert.equal(r4.json.seq, 4, describe(r4));
  await a.next({ event: 'message', seq: 4 });
  await a.ping();
  assert.deepEqual(a.pending({ event: 'message' }), [], 'no duplicate broadcast');

  // The publisher is not a member; a room nobody is in gets it stored.
  const room = await api(gw, 'GET', '/api/v1/rooms/lobby');
  expectFields(room.json, { room: 'lobby', num: 1, total: 1, seq: 4 });
  const e = await api(gw, 'POST', '/api/v1/publish', { body: { room: 'empty.room', message: 'stored' } });
  expectFields(e.json, { room: 'empty.room', seq: 1 });
  const b = await connect(gw, { label: 'bob' });
  b.send({ event: 'enter', room: 'empty.room', name: 'Bob', since: 0 });
  const replay = await b.next({ event: 'message', seq: 1 });
  expectFields(replay, { message: 'stored', uid: 'server', replay: true });

  // binary `data` (base64): a binary message, as a member's would be.
  const bins = [];
  a.ws.on('message', (data, isBinary) => { if (isBinary) bins.push(Buffer.from(data)); });
  const d = await api(gw, 'POST', '/api/v1/publish',
    { body: { room: 'lobby', data: Buffer.from('hello\u0000bin').toString('base64'), type: 'text/plain', filename: 'a.txt', id: 'b1' } });
  assert.equal(d.status, 200, describe(d));
  expectFields(d.json, { room: 'lobby', seq: 5, id: 'b1' });
  await a.next((f) => f && f.__binary);
  const raw = await waitFor(() => bins[0], { what: 'the binary message' });
  const hlen = raw.readUInt32BE(0);
  const head = JSON.parse(raw.subarray(4, 4 + hlen).toString());
  expectFields(head, { event: 'message', room: 'lobby', uid: 'server', seq: 5, type: 'text/plain', size: 9, filename: 'a.txt', id: 'b1' });
  assert.equal(raw.subarray(4 + hlen).toString(), 'hello\u0000bin');
  const h = await api(gw, 'GET', '/api/v1/rooms/lobby/history?limit=1');
  expectFields(h.json.messages[0], { seq: 5, type: 'text/plain', size: 9, data: Buffer.from('hello\u0000bin').toString('base64') });
  // A deleted binary message is a JSON placeholder: no payload, type or file.
  const del = await api(gw, 'DELETE', '/api/v1/rooms/lobby/messages/5');
  assert.equal(del.status, 200, describe(del));
  const hd = await api(gw, 'GET', '/api/v1/rooms/lobby/history?limit=1');
  const ph = hd.json.messages[0];
  expectFields(ph, { event: 'message', seq: 5, deleted: true, uid: 'server' });
  for (const k of ['data', 'type', 'size', 'filename', 'message']) assert.ok(!(k in ph), `${k} in ${JSON.stringify(ph)}`);
  const noType = await api(gw, 'POST', '/api/v1/publish', { body: { room: 'lobby', data: 'eA==' } });
  assert.equal(noType.status, 200, describe(noType));
  const h2 = await api(gw, 'GET', '/api/v1/rooms/lobby/history?limit=1');
  expectFields(h2.json.messages[0], { type: 'application/octet-stream', size: 1, data: 'eA==' });
  const bad64 = await api(gw, 'POST', '/api/v1/publish', { body: { room: 'lobby', data: 'not base64!' } });
  assert.ok(isError(bad64, 400, 'bad_request'), describe(bad64));
  const big = await api(gw, 'POST', '/api/v1/publish', { body: { room: 'lobby', data: Buffer.alloc(1024 * 1024 + 1).toString('base64') } });
  assert.ok(isError(big, 413, 'too_large'), `data over max_binary_bytes: ${describe(big)}`);
});

test('rooms: counts of one room, and the list with prefix, after, limit', { timeout: 30000 }, async () => {
  const { gw } = await setup();
  const never = await api(gw, 'GET', '/api/v1/rooms/never-used');
  assert.equal(never.status, 200);
  assert.deepEqual(never.json, { room: 'never-used', num: 0, total: 0, seq: 0 });

  const a = await connect(gw, { label: 'a' });
  const b = await connect(gw, { label: 'b' });
  await a.enter('team-1', 'A', { uid: 'a' });
  await b.enter('team-1', 'B', { uid: 'b' });
  await b.close();
  for (const room of ['team-2', 'team-3', 'zoo']) {
    const r = await api(gw, 'POST', '/api/v1/publish', { body: { room, message: 'hi' } });
    assert.equal(r.status, 200, describe(r));
  }
  await waitFor(async () => (await api(gw, 'GET', '/api/v1/rooms/team-1')).json.num === 1, { what: 'b offline' });
  const t1 = await api(gw, 'GET', '/api/v1/rooms/team-1');
  assert.deepEqual(t1.json, { room: 'team-1', num: 1, total: 2, seq: 0 });

  const all = await api(gw, 'GET', '/api/v1/rooms');
  assert.equal(all.status, 200, describe(all));
  assert.deepEqual(all.json, {
    rooms: [
      { room: 'team-1', num: 1, total: 2, seq: 0 },
      { room: 'team-2', num: 0, total: 0, seq: 1 },
      { room: 'team-3', num: 0, total: 0, seq: 1 },
      { room: 'zoo', num: 0, total: 0, seq: 1 },
    ],
    more: false,
  });
  const p1 = await api(gw, 'GET', '/api/v1/rooms?prefix=team-&limit=2');
  assert.deepEqual(p1.json.rooms.map((x) => x.room), ['team-1', 'team-2']);
  assert.equal(p1.json.more, true);
  const p2 = await api(gw, 'GET', '/api/v1/rooms?prefix=team-&limit=2&after=team-2');
  assert.deepEqual(p2.json.rooms.map((x) => x.room), ['team-3']);
  assert.equal(p2.json.more, false);
  const none = await api(gw, 'GET', '/api/v1/rooms?prefix=nothing');
  assert.deepEqual(none.json, { rooms: [], more: false });
  const after = await api(gw, 'GET', '/api/v1/rooms?after=team-3');
  assert.deepEqual(after.json.rooms.map((x) => x.room), ['zoo']);
  for (const q of ['limit=0', 'limit=-1', 'limit=x', 'limit=1.5', 'after=bad%20name', 'prefix=a%2Fb']) {
    const r = await api(gw, 'GET', `/api/v1/rooms?${q}`);
    assert.ok(isError(r, 400, 'bad_request'), `${q}: ${describe(r)}`);
  }
  const big = await api(gw, 'GET', '/api/v1/rooms?limit=5000');
  assert.equal(big.status, 200, 'a limit above 1000 is capped, not refused');
});

test('members: from storage with online from memory, by uid, paged', { timeout: 30000 }, async () => {
  const { gw } = await setup();
  const conns = [];
  for (const uid of ['dave', 'alice', 'carol', 'bob']) {
    const c = await connect(gw, { label: uid });
    await c.enter('club', uid.toUpperCase(), { uid });
    conns.push(c);
  }
  await conns[0].close(); // dave goes offline, stays a member
  await waitFor(async () => (await api(gw, 'GET', '/api/v1/rooms/club')).json.num === 3, { what: 'dave offline' });
  const r = await api(gw, 'GET', '/api/v1/rooms/club/members');
  assert.equal(r.status, 200, describe(r));
  assert.deepEqual(r.json, {
    room: 'club',
    members: [
      { uid: 'alice', name: 'ALICE', online: true },
      { uid: 'bob', name: 'BOB', online: true },
      { uid: 'carol', name: 'CAROL', online: true },
      { uid: 'dave', name: 'DAVE', online: false },
    ],
    more: false,
  });
  const p1 = await api(gw, 'GET', '/api/v1/rooms/club/members?limit=2');
  assert.deepEqual(p1.json.members.map((m) => m.uid), ['alice', 'bob']);
  assert.equal(p1.json.more, true);
  const p2 = await api(gw, 'GET', '/api/v1/rooms/club/members?limit=2&after=bob');
  assert.deepEqual(p2.json.members.map((m) => m.uid), ['carol', 'dave']);
  assert.equal(p2.json.more, false);
  const empty = await api(gw, 'GET', '/api/v1/rooms/nobody-here/members');
  assert.deepEqual(empty.json, { room: 'nobody-here', members: [], more: false });
  for (const q of ['limit=0', 'after=no%20spaces']) {
    const e = await api(gw, 'GET', `/api/v1/rooms/club/members?${q}`);
    assert.ok(isError(e, 400, 'bad_request'), `${q}: ${describe(e)}`);
  }
});

test('history: the same rules as the client\'s history', { timeout: 30000 }, async () => {
  const { gw } = await setup();
  for (let i = 1; i <= 7; i++) {
    const r = await api(gw, 'POST', '/api/v1/publish', { body: { room: 'log', message: `m${i}`, uid: 'u', id: `c${i}` } });
    assert.equal(r.json.seq, i);
  }
  const all = await api(gw, 'GET', '/api/v1/rooms/log/history');
  assert.equal(all.status, 200, describe(all));
  expectFields(all.json, { event: 'history', room: 'log', more: false });
  assert.deepEqual(all.json.messages.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7]);
  expectFields(all.json.messages[0], { event: 'message', room: 'log', uid: 'u', name: 'server', message: 'm1', id: 'c1' });
  const page = await api(gw, 'GET', '/api/v1/rooms/log/history?before=6&limit=2');
  assert.deepEqual(page.json.messages.map((m) => m.seq), [4, 5]);
  assert.equal(page.json.more, true);
  const first = await api(gw, 'GET', '/api/v1/rooms/log/history?before=3&limit=10');
  assert.deepEqual(first.json.messages.map((m) => m.seq), [1, 2]);
  assert.equal(first.json.more, false);
  const capped = await api(gw, 'GET', '/api/v1/rooms/log/history?limit=500');
  assert.equal(capped.status, 200, 'limit above 200 is capped');
  const empty = await api(gw, 'GET', '/api/v1/rooms/never/history');
  assert.deepEqual(empty.json, { event: 'history', room: 'never', messages: [], more: false });
  for (const q of ['limit=0', 'before=-1', 'before=x', 'limit=']) {
    const e = await api(gw, 'GET', `/api/v1/rooms/log/history?${q}`);
    assert.ok(isError(e, 400, 'bad_request'), `${q}: ${describe(e)}`);
  }
});

test('delete a message: placeholder everywhere, delete event by server, twice harmless, not_found', { timeout: 30000 }, async () => {
  const { gw } = await setup();
  const a = await connect(gw, { label: 'alice' });
  const b = await connect(gw, { label: 'bob' });
  await a.enter('r', 'Alice', { uid: 'alice' });
  await b.enter('r', 'Bob', { uid: 'bob' });
  a.send({ event: 'message', room: 'r', message: 'oops, my password', id: 'p1' });
  await b.next({ event: 'message', seq: 1 });
  a.send({ event: 'message', room: 'r', message: 'fine' });
  await b.next({ event: 'message', seq: 2 });

  const d = await api(gw, 'DELETE', '/api/v1/rooms/r/messages/1');
  assert.equal(d.status, 200, describe(d));
  assert.deepEqual(d.json, { room: 'r', seq: 1 });
  for (const c of [a, b]) {
    const ev = await c.next({ event: 'delete' });
    assert.deepEqual(ev, { event: 'delete', room: 'r', seq: 1, by: 'server' });
  }
  const again = await api(gw, 'DELETE', '/api/v1/rooms/r/messages/1');
  assert.equal(again.status, 200, `deleting twice is harmless: ${describe(again)}`);
  assert.deepEqual(again.json, { room: 'r', seq: 1 });

  const h = await api(gw, 'GET', '/api/v1/rooms/r/history');
  const m1 = h.json.messages[0];
  expectFields(m1, { event: 'message', seq: 1, uid: 'alice', name: 'Alice', deleted: true, id: 'p1' });
  assert.ok(!('message' in m1), `no text in the placeholder: ${JSON.stringify(m1)}`);
  expectFields(h.json.messages[1], { seq: 2, message: 'fine' });
  // The client's history and catch-up show the placeholder too.
  b.send({ event: 'history', room: 'r' });
  const bh = await b.next({ event: 'history' });
  assert.ok(bh.messages[0].deleted === true && !('message' in bh.messages[0]), JSON.stringify(bh));
  const c = await connect(gw, { label: 'carol' });
  c.send({ event: 'enter', room: 'r', name: 'Carol', uid: 'carol', since: 0 });
  const rep = await c.next({ event: 'message', seq: 1 });
  expectFields(rep, { replay: true, deleted: true, uid: 'alice' });
  assert.ok(!('message' in rep), JSON.stringify(rep));

  for (const seq of [0, 3, 999999]) {
    const e = await api(gw, 'DELETE', `/api/v1/rooms/r/messages/${seq}`);
    assert.ok(isError(e, 404, 'not_found'), `seq ${seq}: ${describe(e)}`);
  }
  const never = await api(gw, 'DELETE', '/api/v1/rooms/no-room/messages/1');
  assert.ok(isError(never, 404, 'not_found'), describe(never));
  for (const seq of ['x', '-1', '1.5', '99999999999999999999']) {
    const e = await api(gw, 'DELETE', `/api/v1/rooms/r/messages/${seq}`);
    assert.ok(isError(e, 400, 'bad_request'), `seq ${seq}: ${describe(e)}`);
  }
});

test('remove a member: leave with by server to everyone, counts, not_found', { timeout: 30000 }, async () => {
  const { gw } = await setup();
  const a = await connect(gw, { label: 'alice' });
  const b = await connect(gw, { label: 'bob' });
  const b2 = await connect(gw, { label: 'bob-2' });
  await a.enter('r', 'Alice', { uid: 'alice' });
  await b.enter('r', 'Bob', { uid: 'bob' });
  await b2.enter('r', 'Bob', { uid: 'bob' });
  const r = await api(gw, 'DELETE', '/api/v1/rooms/r/members/bob');
  assert.equal(r.status, 200, describe(r));
  assert.deepEqual(r.json, { room: 'r', uid: 'bob' });
  for (const c of [a, b, b2]) {
    const ev = await c.next({ event: 'leave' });
    expectFields(ev, { room: 'r', uid: 'bob', name: 'Bob', num: 1, total: 1, by: 'server' });
  }
  // bob's connections no longer get the room's messages; alice does.
  a.send({ event: 'message', room: 'r', message: 'after' });
  await a.next({ event: 'message', message: 'after' });
  b.send({ event: 'message', room: 'r', message: 'x' });
  expectFields(await b.next({ event: 'error' }), { code: 'not_in_room' });
  await b2.ping();
  assert.deepEqual(b2.pending({ event: 'message' }), []);
  const counts = await api(gw, 'GET', '/api/v1/rooms/r');
  expectFields(counts.json, { num: 1, total: 1 });
  const again = await api(gw, 'DELETE', '/api/v1/rooms/r/members/bob');
  assert.ok(isError(again, 404, 'not_found'), describe(again));
  // An offline member can be removed too.
  const c = await connect(gw, { label: 'carol' });
  await c.enter('r', 'Carol', { uid: 'carol' });
  await c.close();
  await a.next({ event: 'out', uid: 'carol' });
  const rc = await api(gw, 'DELETE', '/api/v1/rooms/r/members/carol');
  assert.equal(rc.status, 200, describe(rc));
  expectFields(await a.next({ event: 'leave', uid: 'carol' }), { by: 'server', num: 1, total: 1 });
  const bad = await api(gw, 'DELETE', '/api/v1/rooms/r/members/no%20pe');
  assert.ok(isError(bad, 400, 'bad_request'), describe(bad));
});

test('disconnect: every connection of the uid on every gateway closes with 4003', { timeout: 30000 }, async () => {
  const broker = await startBroker();
  const g1 = await startGateway(broker, { api_key: KEY });
  const g2 = await startGateway(broker, { api_key: KEY });
  const m1 = await connect(g1, { label: 'mallory@1' });
  const m2 = await connect(g2, { label: 'mallory@2' });
  const m3 = await connect(g2, { label: 'mallory@2 no room' });
  const a = await connect(g1, { label: 'alice' });
  await a.enter('r', 'Alice', { uid: 'alice' });
  await m1.enter('r', 'Mal', { uid: 'mallory' });
  await m2.enter('r', 'Mal', { uid: 'mallory' });
  await m3.enter('s', 'Mal', { uid: 'mallory' });
  const r = await api(g2, 'POST', '/api/v1/disconnect', { body: { uid: 'mallory' } });
  assert.equal(r.status, 200, describe(r));
  assert.deepEqual(r.json, { uid: 'mallory' });
  for (const c of [m1, m2, m3]) {
    const closed = await Promise.race([c.closed, sleep(5000).then(() => null)]);
    assert.ok(closed, `${c.label} closed`);
    assert.equal(closed.code, 4003, `${c.label}: ${JSON.stringify(closed)}`);
  }
  const out = await a.next({ event: 'out', uid: 'mallory' });
  expectFields(out, { room: 'r', num: 1, total: 2 });
  await a.ping();
  assert.equal(a.closeInfo, null, 'alice stays');
  // A uid with no connection: answered all the same.
  const none = await api(g1, 'POST', '/api/v1/disconnect', { body: { uid: 'nobody' } });
  assert.deepEqual(none.json, { uid: 'nobody' });
  for (const body of [{}, { uid: '' }, { uid: 'bad uid' }, { uid: 7 }, []]) {
    const e = await api(g1, 'POST', '/api/v1/disconnect', { body });
    assert.ok(isError(e, 400, 'bad_request'), `${JSON.stringify(body)}: ${describe(e)}`);
  }
});

test('errors: bad JSON, bad fields, too large, unknown paths, bad path fields', { timeout: 60000 }, async () => {
  const { gw } = await setup({ max_message_bytes: 100 });
  const pub = (body, opts = {}) => api(gw, 'POST', '/api/v1/publish', { body, ...opts });
  for (const text of ['', '{', '{"room":"r","message":"x",}', "{'room':'r'}", '{"room":"r","message":"x"} x',
    '{"room":"r","message":NaN}', '{"room":"r","room":"s","message":"x"}', '\u0000']) {
    const r = await pub(text);
    assert.ok(isError(r, 400, 'bad_json'), `${JSON.stringify(text)}: ${describe(r)}`);
  }
  for (const text of ['[]', '"x"', '3', 'null']) {
    const r = await pub(text);
    assert.ok(isError(r, 400, 'bad_request'), `${text}: ${describe(r)}`);
  }
  const badFields = [
    {}, { message: 'x' }, { room: '', message: 'x' }, { room: 'a b', message: 'x' }, { room: 'x'.repeat(65), message: 'x' },
    { room: 7, message: 'x' }, { room: 'r' }, { room: 'r', message: 7 }, { room: 'r', message: 'x', data: 'eA==' },
    { room: 'r', message: 'x', uid: '' }, { room: 'r', message: 'x', uid: 'a b' }, { room: 'r', message: 'x', name: '' },
    { room: 'r', message: 'x', name: 'n'.repeat(33) }, { room: 'r', message: 'x', name: 'a\u0001' },
    { room: 'r', message: 'x', id: '' }, { room: 'r', message: 'x', id: 'i'.repeat(65) }, { room: 'r', message: 'x', id: 5 },
    { room: 'r', data: 'eA==', type: 'nope' }, { room: 'r', data: 'eA==', filename: 'a/b' }, { room: 'r', data: '' },
  ];
  for (const body of badFields) {
    const r = await pub(body);
    assert.ok(isError(r, 400, 'bad_request'), `${JSON.stringify(body)}: ${describe(r)}`);
  }
  const long = await pub({ room: 'r', message: 'x'.repeat(101) });
  assert.ok(isError(long, 413, 'too_large'), `over max_message_bytes: ${describe(long)}`);
  // A declared length over 24 MiB is refused before the body is read.
  const huge = await api(gw, 'POST', '/api/v1/publish', {
    headers: { 'Content-Length': String(24 * 1024 * 1024 + 1), 'Content-Type': 'application/json' },
    chunks: [Buffer.from('{"room":"r","message":"')],
  }).catch((e) => ({ status: 0, text: e.message }));
  assert.ok(huge.status === 413 && huge.json.error.code === 'too_large', `declared 24 MiB + 1: ${huge.status} ${huge.text}`);
  // Without a length (chunked), refused once it passes 24 MiB.
  const piece = Buffer.alloc(1024 * 1024, 0x20);
  const chunks = [Buffer.from('{"room":"r","message":"x"}')];
  for (let i = 0; i < 25; i++) chunks.push(piece);
  const chunked = await api(gw, 'POST', '/api/v1/publish', { chunks }).catch((e) => ({ status: 0, text: e.message }));
  assert.ok(chunked.status === 413, `chunked over 24 MiB: ${chunked.status} ${String(chunked.text).slice(0, 200)}`);
  // A chunked body under the cap is fine.
  const small = await api(gw, 'POST', '/api/v1/publish', { chunks: [Buffer.from('{"room":"r",'), Buffer.from('"message":"chunked"}')] });
  assert.equal(small.status, 200, describe(small));

  for (const [m, p] of [['GET', '/api/v1/publish'], ['POST', '/api/v1/rooms'], ['GET', '/api/v1/'], ['GET', '/api/v1'],
    ['GET', '/api/v2/rooms'], ['GET', '/api/v1/rooms/r/nope'], ['PUT', '/api/v1/rooms/r'], ['DELETE', '/api/v1/rooms/r'],
    ['GET', '/api/v1/rooms/r/messages/1'], ['DELETE', '/api/v1/rooms/r/messages/1/x'], ['GET', '/api/v1/disconnect'],
    ['GET', '/api/v1/rooms/r/members/x']]) {
    const r = await api(gw, m, p);
    assert.ok(isError(r, 404, 'not_found'), `${m} ${p}: ${describe(r)}`);
  }
  for (const p of ['/api/v1/rooms/bad%20room', '/api/v1/rooms/' + 'x'.repeat(65), '/api/v1/rooms/a%21b/history',
    '/api/v1/rooms/%C3%A9/members']) {
    const r = await api(gw, 'GET', p);
    assert.ok(isError(r, 400, 'bad_request'), `${p}: ${describe(r)}`);
  }
  const h = await api(gw, 'GET', '/healthz', { key: null });
  assert.equal(h.status, 200, 'the gateway is fine after all that');
});

test('broker down or silent: 503 unavailable; back when it is back', { timeout: 60000 }, async () => {
  const { broker, gw } = await setup();
  const ok = await api(gw, 'POST', '/api/v1/publish', { body: { room: 'r', message: 'before' } });
  assert.equal(ok.status, 200, describe(ok));
  // Frozen broker: no answer within the timeout.
  broker.proc.child.kill('SIGSTOP');
  try {
    const r = await api(gw, 'GET', '/api/v1/rooms/r', { timeoutMs: 30000 });
    assert.ok(isError(r, 503, 'unavailable'), `frozen broker: ${describe(r)}`);
  } finally {
    broker.proc.child.kill('SIGCONT');
  }
  await waitFor(async () => (await api(gw, 'GET', '/api/v1/rooms/r')).status === 200, { what: 'API back after SIGCONT' });
  // Stopped broker: refused at once (the gateway knows it is down).
  await stop(broker.proc);
  await waitFor(async () => (await api(gw, 'GET', '/healthz', { key: null })).status === 503, { what: 'gateway sees broker down' });
  for (const [m, p, body] of [['GET', '/api/v1/rooms/r'], ['POST', '/api/v1/publish', { room: 'r', message: 'lost' }],
    ['DELETE', '/api/v1/rooms/r/messages/1'], ['POST', '/api/v1/disconnect', { uid: 'x' }]]) {
    const r = await api(gw, m, p, { body });
    assert.ok(isError(r, 503, 'unavailable'), `${m} ${p} with the broker down: ${describe(r)}`);
  }
  // Auth and path errors are still answered by the gateway itself.
  assert.equal((await api(gw, 'GET', '/api/v1/rooms/r', { key: 'wrong' })).status, 401);
  assert.equal((await api(gw, 'GET', '/api/v1/nope')).status, 404);
});

test('metrics: API requests by path and status', { timeout: 30000 }, async () => {
  const { gw } = await setup();
  await api(gw, 'GET', '/api/v1/rooms/r');
  await api(gw, 'GET', '/api/v1/rooms/r');
  await api(gw, 'GET', '/api/v1/rooms/r', { key: 'bad' });
  await api(gw, 'POST', '/api/v1/publish', { body: '{' });
  await api(gw, 'GET', '/api/v1/nope');
  const m = await getMetrics(gw);
  const series = m.metrics.roomcast_api_requests_total || [];
  const get = (pathLabel, status) => {
    const s = series.find((x) => x.labels.includes(`path="${pathLabel}"`) && x.labels.includes(`status="${status}"`));
    return s ? s.value : 0;
  };
  assert.equal(get('GET /api/v1/rooms/ROOM', 200), 2, m.body);
  assert.equal(get('other', 401), 1, m.body);
  assert.equal(get('POST /api/v1/publish', 400), 1, m.body);
  assert.equal(get('other', 404), 1, m.body);
  assert.match(m.body, /# TYPE roomcast_api_requests_total counter/);
});

test('webhooks get what the API and deleting do, as members saw it', { timeout: 60000 }, async () => {
  const events = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      events.push(...JSON.parse(Buffer.concat(chunks).toString('utf8')).events);
      res.writeHead(204);
      res.end();
    });
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  try {
    const broker = await startBroker({ webhook_url: `http://127.0.0.1:${port}/hook`, webhook_secret: 's' });
    const gw = await startGateway(broker, { api_key: KEY });
    const a = await connect(gw, { label: 'alice' });
    const b = await connect(gw, { label: 'bob' });
    await a.enter('r', 'Alice', { uid: 'alice' });
    await b.enter('r', 'Bob', { uid: 'bob' });
    a.send({ event: 'message', room: 'r', message: 'mine' });
    await a.next({ event: 'message', seq: 1 });
    const p = await api(gw, 'POST', '/api/v1/publish', { body: { room: 'r', message: 'notice' } });
    assert.equal(p.status, 200, describe(p));
    await a.next({ event: 'message', seq: 2 });
    a.send({ event: 'delete', room: 'r', seq: 1 });
    await a.next({ event: 'delete', seq: 1 });
    assert.equal((await api(gw, 'DELETE', '/api/v1/rooms/r/messages/2')).status, 200);
    await a.next({ event: 'delete', seq: 2 });
    assert.equal((await api(gw, 'DELETE', '/api/v1/rooms/r/members/bob')).status, 200);
    await a.next({ event: 'leave', uid: 'bob' });
    const seen = a.log.filter((f) => ['message', 'delete', 'leave'].includes(f.event));
    const want = seen.map((f) => `${f.event}:${f.seq ?? f.uid}:${f.by ?? ''}`);
    assert.deepEqual(want, ['message:1:', 'message:2:', 'delete:1:alice', 'delete:2:server', 'leave:bob:server']);
    await waitFor(() => events.filter((e) => e.event !== 'enter').length >= 5, { what: 'webhook events', timeoutMs: 15000 });
    const got = events.filter((e) => e.event !== 'enter').map(({ hook_id, ...rest }) => rest); // eslint-disable-line no-unused-vars
    assert.deepEqual(got.slice(0, 5), seen, 'the webhook events are the events members saw');
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
