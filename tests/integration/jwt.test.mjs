// jwt.test.mjs -- auth = jwt: HS256 tokens from bin/roomcast-token (and bad
// ones made here with node:crypto), given as the `token` query parameter or
// as a first `auth` frame; `noauth` before authentication; the auth timeout
// (4001); uid/sub, the `rooms` claim and the token's name on `enter`.
//
// Every bad input asserts the exact answer (or close code) and then that a
// fresh client is served correctly by the same gateway and broker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import crypto from 'node:crypto';
import { BIN, startBroker, startGateway, connect, runCli, expectFields, within, sleep, restartBroker, waitFor } from './harness.mjs';
import { rawOpen, OP } from './rawws.mjs';

const SECRET = 'integration-test-secret-0123456789abcdef';
const TOKEN_BIN = path.join(path.dirname(BIN.broker), 'roomcast-token');
const NOT_PING = (f) => !(f.event === 'heartbeat' && f.message === 'ping');

/** A token from bin/roomcast-token signed with SECRET. */
async function mint(sub, { name, ttl = 60, rooms, nbf, secret = SECRET } = {}) {
  const args = ['-o', `jwt_secret=${secret}`, '--sub', sub, '--ttl', String(ttl)];
  if (name !== undefined) args.push('--name', name);
  if (rooms !== undefined) args.push('--rooms', rooms);
  if (nbf !== undefined) args.push('--nbf', String(nbf));
  const r = await runCli(TOKEN_BIN, args);
  assert.equal(r.code, 0, `roomcast-token ${args.join(' ')}: exit ${r.code}; stderr: ${r.stderr}`);
  const tok = r.stdout.trim();
  assert.match(tok, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, `roomcast-token prints a JWT: ${r.stdout}`);
  return tok;
}

const b64url = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

/** A token made by hand: header and payload objects (or raw strings),
 *  signed with HMAC `hash` (sha256, sha512) and `secret`, or with no
 *  signature when hash is 'none'. */
function handToken(header, payload, { hash = 'sha256', secret = SECRET } = {}) {
  const input = `${b64url(header)}.${b64url(payload)}`;
  if (hash === 'none') return `${input}.`;
  return `${input}.${crypto.createHmac(hash, secret).update(input).digest('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);
const HS256 = { alg: 'HS256', typ: 'JWT' };

async function setup(extra = {}) {
  const broker = await startBroker({ auth: 'jwt', jwt_secret: SECRET });
  const gw = await startGateway(broker, { auth: 'jwt', jwt_secret: SECRET, rate_per_s: 5000, ...extra });
  return { broker, gw };
}

let freshCount = 0;

/** A new client with a good token authenticates, enters, posts and gets its
 *  message back: the processes still serve clients after `what`. */
async function served(gw, what) {
  assert.equal(gw.proc.exitCode, null, `gateway still running after ${what}; stderr:\n${gw.proc.stderr}`);
  const n = ++freshCount;
  const tok = await mint(`fresh-${n}`, { name: `Fresh ${n}` });
  const c = await connect(gw, { label: `fresh client after ${what}` })
    .catch((e) => { throw new Error(`no fresh client after ${what}: ${e.message}`); });
  c.send({ event: 'auth', token: tok });
  expectFields(await c.next('auth'), { uid: `fresh-${n}`, name: `Fresh ${n}` }, `auth of a fresh client after ${what}`);
  const room = `fresh-${n}`;
  await c.enter(room, 'ignored', { uid: `fresh-${n}` });
  c.send({ event: 'message', room, message: 'still here' });
  expectFields(await c.next({ event: 'message', room }), { uid: `fresh-${n}`, name: `Fresh ${n}`, message: 'still here' }, `message of a fresh client after ${what}`);
  await c.close();
}

/** Sends obj and expects exactly `noauth` back, then proves the connection
 *  is still usable (heartbeat ping answered). */
async function expectNoauth(c, obj, what) {
  c.send(obj);
  const f = await c.next(NOT_PING).catch((e) => { throw new Error(`no answer to ${what}: ${e.message}`); });
  expectFields(f, { event: 'noauth' }, `answer to ${what}`);
  assert.equal(typeof f.message, 'string', `noauth.message is a string: ${JSON.stringify(f)}`);
  await c.ping().catch((e) => { throw new Error(`connection not usable after ${what}: ${e.message}`); });
  assert.deepEqual(c.pending(NOT_PING), [], `nothing else answers ${what}`);
  return f;
}

test('welcome.auth is jwt; a token as ?token= or as a first auth frame is answered with auth {uid, name}', { timeout: 60000 }, async () => {
  const { gw } = await setup();
  const tok = await mint('alice', { name: 'Alice' });

  const q = await connect(gw, { path: `/ws?token=${encodeURIComponent(tok)}`, label: 'query token' });
  expectFields(q.welcome, { event: 'welcome', protocol: 1, auth: 'jwt' }, 'welcome in jwt mode');
  const a1 = await q.next('auth');
  assert.deepEqual(a1, { event: 'auth', uid: 'alice', name: 'Alice' }, 'auth event for a ?token= token');
  expectFields(await q.enter('lobby', 'whatever', { uid: 'alice' }), { uid: 'alice', name: 'Alice', num: 1 }, 'enter after ?token=');

  const f = await connect(gw, { label: 'frame token' });
  expectFields(f.welcome, { auth: 'jwt' }, 'welcome.auth');
  f.send({ event: 'auth', token: tok });
  assert.deepEqual(await f.next(NOT_PING), { event: 'auth', uid: 'alice', name: 'Alice' }, 'auth event for an auth frame');
  f.send({ event: 'enter', room: 'lobby' });
  expectFields(await f.next({ event: 'enter', room: 'lobby' }), { uid: 'alice', name: 'Alice' }, 'enter without name and uid after auth');

  // A token with no name: auth has no name field.
  const nameless = await mint('bob');
  const b = await connect(gw, { path: `/ws?token=${nameless}`, label: 'nameless' });
  assert.deepEqual(await b.next('auth'), { event: 'auth', uid: 'bob' }, 'auth event without a name claim');

  // The same token over a raw connection, first frame.
  const r = await rawOpen(gw, { label: 'raw auth' });
  r.sendJson({ event: 'auth', token: tok });
  expectFields(await r.next('auth'), { uid: 'alice' }, 'auth over the raw client');
  await served(gw, 'good tokens');
});

test('before auth: every event but auth and heartbeat gets noauth; heartbeat and WebSocket pings are answered', { timeout: 60000 }, async () => {
  const { gw } = await setup();
  const c = await connect(gw, { label: 'unauthenticated' });
  await c.ping();
  await c.wsPing();
  for (const obj of [
    { event: 'enter', room: 'lobby', name: 'x' },
    { event: 'enter', room: 'lobby', name: 'x', uid: 'alice' },
    { event: 'message', room: 'lobby', message: 'hi' },
    { event: 'message', room: 'lobby', message: 'hi', id: 'm-1' },
    { event: 'who', room: 'lobby' },
    { event: 'leave', room: 'lobby' },
    { event: 'history', room: 'lobby' },
  ]) {
    await expectNoauth(c, obj, `${obj.event} before auth ${JSON.stringify(obj)}`);
  }
  // Nothing was stored or joined: authenticate, enter, the room is empty.
  c.send({ event: 'auth', token: await mint('carol', { name: 'Carol' }) });
  await c.next('auth');
  expectFields(await c.enter('lobby', 'Carol', { uid: 'carol' }), { num: 1, total: 1, seq: 0 }, 'nothing of the refused events reached the room');
  await served(gw, 'events before auth');
});

test('bad tokens: noauth, the connection stays open, a good token afterwards works', { timeout: 90000 }, async () => {
  const { gw } = await setup();
  const t = now();
  const good = { sub: 'dave', name: 'Dave', exp: t + 60 };
  const bad = [
    ['a bad signature (another secret)', handToken(HS256, good, { secret: 'another-secret-0123456789abcdef0123' })],
    ['a bad signature (tampered payload)', (() => {
      const [h, , s] = handToken(HS256, good).split('.');
      return `${h}.${b64url({ ...good, sub: 'admin' })}.${s}`;
    })()],
    ['a bad signature (one character changed)', (() => {
      const tok = handToken(HS256, good);
      return tok.slice(0, -2) + (tok.at(-2) === 'A' ? 'B' : 'A') + tok.at(-1);
    })()],
    ['alg none, no signature', handToken({ alg: 'none', typ: 'JWT' }, good, { hash: 'none' })],
    ['alg none with an HS256 signature', handToken({ alg: 'none', typ: 'JWT' }, good)],
    ['alg HS512 (signed with HMAC-SHA512)', handToken({ alg: 'HS512', typ: 'JWT' }, good, { hash: 'sha512' })],
    ['alg HS512 header, HS256 signature', handToken({ alg: 'HS512', typ: 'JWT' }, good)],
    ['alg hs256 (lower case)', handToken({ alg: 'hs256', typ: 'JWT' }, good)],
    ['no alg', handToken({ typ: 'JWT' }, good)],
    ['expired (exp 60 s ago)', handToken(HS256, { ...good, exp: t - 60 })],
    ['expired (exp now)', handToken(HS256, { ...good, exp: t - 1 })],
    ['nbf an hour from now', handToken(HS256, { ...good, nbf: t + 3600 })],
    ['missing sub', handToken(HS256, { name: 'Dave', exp: t + 60 })],
    ['empty sub', handToken(HS256, { ...good, sub: '' })],
    ['sub with a space', handToken(HS256, { ...good, sub: 'da ve' })],
    ['sub a number', handToken(HS256, { ...good, sub: 42 })],
    ['missing exp', handToken(HS256, { sub: 'dave', name: 'Dave' })],
    ['exp a string', handToken(HS256, { ...good, exp: String(t + 60) })],
    ['payload not JSON', handToken(HS256, 'not json')],
    ['two parts only', handToken(HS256, good).split('.').slice(0, 2).join('.')],
    ['not a token', 'hello'],
    ['roomcast-token output with another secret', await mint('dave', { name: 'Dave', secret: 'yet-another-secret-0123456789abcdef' })],
    ['roomcast-token --nbf 3600', await mint('dave', { name: 'Dave', ttl: 7200, nbf: 3600 })],
  ];
  for (const [what, tok] of bad) {
    const c = await connect(gw, { label: `bad token: ${what}` });
    await expectNoauth(c, { event: 'auth', token: tok }, `auth with ${what}`);
    // Still unauthenticated: enter is noauth.
    await expectNoauth(c, { event: 'enter', room: 'lobby', name: 'x' }, `enter after ${what}`);
    await c.wsPing();
    // A good token afterwards works on the same connection.
    c.send({ event: 'auth', token: await mint('dave', { name: 'Dave' }) });
    expectFields(await c.next(NOT_PING), { event: 'auth', uid: 'dave', name: 'Dave' }, `good token after ${what}`);
    expectFields(await c.enter('lobby', 'x', { uid: 'dave' }), { uid: 'dave', name: 'Dave' }, `enter after a good token, after ${what}`);
    await c.close();
  }
  // All of them one after another on one connection, then a good one.
  const c = await connect(gw, { label: 'retries' });
  for (const [what, tok] of bad) await expectNoauth(c, { event: 'auth', token: tok }, `retry with ${what}`);
  c.send({ event: 'auth', token: await mint('erin', { name: 'Erin' }) });
  expectFields(await c.next(NOT_PING), { event: 'auth', uid: 'erin' }, 'good token after every bad one');

  // A bad token as ?token=: noauth, then an auth frame works.
  const q = await connect(gw, { path: `/ws?token=${encodeURIComponent(bad[0][1])}`, label: 'bad query token' });
  expectFields(await q.next(NOT_PING), { event: 'noauth' }, 'a bad ?token=');
  await q.ping();
  q.send({ event: 'auth', token: await mint('frank', { name: 'Frank' }) });
  expectFields(await q.next(NOT_PING), { event: 'auth', uid: 'frank' }, 'an auth frame after a bad ?token=');
  // An auth frame without a usable token: bad_request.
  const e = await connect(gw, { label: 'empty token' });
  for (const obj of [{ event: 'auth' }, { event: 'auth', token: '' }, { event: 'auth', token: 5 }]) {
    e.send(obj);
    const f = await e.next(NOT_PING);
    assert.ok(f.event === 'noauth' || (f.event === 'error' && f.code === 'bad_request'), `${JSON.stringify(obj)} gets noauth or bad_request: ${JSON.stringify(f)}`);
  }
  await e.ping();
  await served(gw, 'bad tokens');
});

test('auth_timeout_ms: not authenticated in time closes with 4001; authenticated connections stay', { timeout: 60000 }, async () => {
  const { gw } = await setup({ auth_timeout_ms: 500 });
  const tok = await mint('gina', { name: 'Gina' });
  const authed = await connect(gw, { path: `/ws?token=${tok}`, label: 'authenticated' });
  await authed.next('auth');
  const silent = await connect(gw, { label: 'silent' });
  const badTok = await connect(gw, { label: 'bad token' });
  badTok.send({ event: 'auth', token: handToken(HS256, { sub: 'gina', exp: now() - 10 }) });
  await badTok.next('noauth');
  const chatty = await connect(gw, { label: 'heartbeats only' });
  const keepPinging = setInterval(() => { try { chatty.send({ event: 'heartbeat', message: 'ping' }); } catch { /* */ } }, 100);
  const raw = await rawOpen(gw, { label: 'raw, silent' });
  try {
    for (const [c, what] of [[silent, 'a silent connection'], [badTok, 'a connection with only a bad token'], [chatty, 'a connection sending heartbeats only']]) {
      const closed = await within(c.closed, 8000);
      assert.ok(closed, `${what} is closed within 8 s (auth_timeout_ms 500); frames: ${JSON.stringify(c.log.slice(-5))}`);
      assert.equal(closed.code, 4001, `${what}: close code; ${JSON.stringify(closed)}`);
    }
  } finally {
    clearInterval(keepPinging);
  }
  const r = await raw.waitClosed(8000);
  assert.equal(r.code, 4001, `raw silent connection: close code; ${raw.state()}`);
  assert.ok(r.tcpEnded, `raw silent connection: TCP closed after 4001; ${raw.state()}`);
  // Well past the timeout, the authenticated connection works.
  await sleep(700);
  await authed.ping();
  expectFields(await authed.enter('room-g', 'x', { uid: 'gina' }), { uid: 'gina' }, 'authenticated connection after the auth timeout');
  assert.equal(authed.closeInfo, null, 'the authenticated connection is open');
  // A connection that authenticates within the timeout by frame stays too.
  const late = await connect(gw, { label: 'auth frame' });
  late.send({ event: 'auth', token: tok });
  await late.next('auth');
  await sleep(1200);
  await late.ping();
  await served(gw, 'auth timeouts');
});

test('enter: uid must equal sub, the rooms claim limits rooms, the token name wins, enter.name needed without one', { timeout: 60000 }, async () => {
  const { gw } = await setup();
  const tok = await mint('alice', { name: 'Alice', rooms: 'team-*,lobby' });
  const c = await connect(gw, { path: `/ws?token=${tok}`, label: 'alice' });
  await c.next('auth');

  const expectForbidden = async (obj, what) => {
    c.send(obj);
    const f = await c.next(NOT_PING).catch((e) => { throw new Error(`no answer to ${what}: ${e.message}`); });
    expectFields(f, { event: 'error', code: 'forbidden' }, what);
    await c.ping();
    assert.deepEqual(c.pending(NOT_PING), [], `nothing else answers ${what}`);
  };
  await expectForbidden({ event: 'enter', room: 'lobby', name: 'x', uid: 'mallory' }, 'enter with a uid that differs from sub');
  await expectForbidden({ event: 'enter', room: 'lobby', name: 'x', uid: 'Alice' }, 'enter with a uid that differs from sub by case');
  for (const room of ['other', 'team', 'teamx', 'Team-x', 'lobby2', 'lobb', 'x-team-1']) {
    await expectForbidden({ event: 'enter', room, name: 'x' }, `enter of room "${room}" outside the rooms claim`);
  }
  // Allowed: lobby, team-x, team-, with or without uid = sub.
  expectFields(await c.enter('lobby', 'Mallory', { uid: 'alice' }), { uid: 'alice', name: 'Alice', num: 1 }, 'enter lobby (uid = sub): the token name wins');
  c.send({ event: 'enter', room: 'team-x', name: 'Somebody Else' });
  expectFields(await c.next({ event: 'enter', room: 'team-x' }), { uid: 'alice', name: 'Alice' }, 'enter team-x without uid: name from the token');
  c.send({ event: 'enter', room: 'team-', name: 'x' });
  expectFields(await c.next({ event: 'enter', room: 'team-' }), { uid: 'alice' }, 'enter team- (the prefix itself)');
  c.send({ event: 'message', room: 'team-x', message: 'hi', id: 'a-1' });
  expectFields(await c.next({ event: 'message', room: 'team-x' }), { uid: 'alice', name: 'Alice', message: 'hi', id: 'a-1' }, 'message carries the token name');
  c.send({ event: 'who', room: 'lobby' });
  const who = await c.next('who');
  assert.deepEqual(who.members.map((m) => [m.uid, m.name]), [['alice', 'Alice']], `who shows the token name: ${JSON.stringify(who)}`);
  // Forbidden rooms were not joined.
  await expectNoLeak(c, 'other');

  // No name claim: enter.name is required, and used.
  const b = await connect(gw, { path: `/ws?token=${await mint('bob')}`, label: 'bob' });
  await b.next('auth');
  b.send({ event: 'enter', room: 'lobby' });
  expectFields(await b.next(NOT_PING), { event: 'error', code: 'bad_request' }, 'enter without name and without a name claim');
  b.send({ event: 'enter', room: 'lobby', uid: 'bob' });
  expectFields(await b.next(NOT_PING), { event: 'error', code: 'bad_request' }, 'enter with uid but without name, no name claim');
  expectFields(await b.enter('lobby', 'Bobby', { uid: 'bob' }), { uid: 'bob', name: 'Bobby', num: 2 }, 'enter.name used without a name claim');
  await b.ping();
  // Without a rooms claim every room is allowed; a uid differing from sub is still refused.
  b.send({ event: 'enter', room: 'anything', name: 'Bobby', uid: 'alice' });
  expectFields(await b.next(NOT_PING), { event: 'error', code: 'forbidden' }, 'bob entering as alice');
  b.send({ event: 'enter', room: 'anything', name: 'Bobby' });
  expectFields(await b.next(NOT_PING), { event: 'enter', room: 'anything', uid: 'bob' }, 'no rooms claim: any room');
  await served(gw, 'forbidden enters');
});

/** who of a room c was refused: not_in_room (the refused enter joined nothing). */
async function expectNoLeak(c, room) {
  c.send({ event: 'who', room });
  expectFields(await c.next(NOT_PING), { event: 'error', code: 'not_in_room' }, `who ${room} after a refused enter`);
}

test('raw client: WebSocket ping before auth gets a pong; auth over fragments', { timeout: 60000 }, async () => {
  const { gw } = await setup();
  const r = await rawOpen(gw, { label: 'raw jwt' });
  const since = r.frames.length;
  r.ping('pre-auth');
  const p = await r.nextFrame({ opcode: OP.PONG }, 5000, since);
  assert.equal(p.payload.toString(), 'pre-auth');
  const tok = await mint('hank', { name: 'Hank' });
  const text = JSON.stringify({ event: 'auth', token: tok });
  r.sendFragments([text.slice(0, 20), text.slice(20, 100), text.slice(100)]);
  expectFields(await r.next(NOT_PING), { event: 'auth', uid: 'hank', name: 'Hank' }, 'auth sent in 3 fragments');
  await served(gw, 'raw auth');
});

test('a broker restart: authenticated connections stay authenticated and in their rooms (the gateway registers them again with their tokens)', { timeout: 60000 }, async () => {
  const { broker, gw } = await setup();
  const alice = await connect(gw, { label: 'alice' });
  const bob = await connect(gw, { label: 'bob' });
  alice.send({ event: 'auth', token: await mint('alice', { name: 'Alice' }) });
  bob.send({ event: 'auth', token: await mint('bob', { name: 'Bob' }) });
  await alice.next('auth');
  await bob.next('auth');
  await alice.enter('lobby', 'x', { uid: 'alice' });
  await bob.enter('lobby', 'x', { uid: 'bob' });
  await restartBroker(broker);
  // Until the gateway has registered again, a message may be refused with
  // `unavailable`; after that it is stored and both see it. No second
  // `auth` reaches the clients: registering again is quiet.
  await waitFor(async () => {
    alice.send({ event: 'message', room: 'lobby', message: 'after restart', id: `r-${Date.now()}` });
    const f = await alice.next((x) => x.event === 'message' || x.event === 'error', 3000).catch(() => null);
    return f && f.event === 'message' ? f : null;
  }, { timeoutMs: 15000, what: 'a message stored after the broker restart' });
  expectFields(await bob.next({ event: 'message', message: 'after restart' }), { uid: 'alice', name: 'Alice' }, 'bob gets it');
  bob.send({ event: 'who', room: 'lobby' });
  const w = await bob.next('who');
  const online = Object.fromEntries(w.members.map((m) => [m.uid, m.online]));
  assert.deepEqual(online, { alice: true, bob: true }, `who after the restart: ${JSON.stringify(w)}`);
  assert.deepEqual(alice.pending((f) => f.event === 'auth' || f.event === 'noauth'), [], 'no auth/noauth after the restart');
});
