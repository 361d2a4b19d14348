// roomcast.js on its own, in Node, against a scripted fake WebSocket: the
// protocol rules the module promises (dedupe, since, idempotent resend,
// heartbeats, backoff, persistence, jwt) checked frame by frame, without a
// server or a browser.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RoomcastClient, isValidName, isValidRoom, newMessageId } from '../../www/roomcast.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeSocket.all.push(this);
  }
  send(data) {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(JSON.parse(data));
  }
  close(code) {
    this.closedWith = code ?? 1000;
    this.readyState = 3;
  }
  // server side
  accept() { this.readyState = 1; this.onopen?.({}); }
  push(frame) { this.onmessage?.({ data: JSON.stringify(frame) }); }
  drop(code = 1006) { this.readyState = 3; this.onclose?.({ code, reason: '' }); }
  frames(event) { return this.sent.filter((f) => event == null || f.event === event); }
}

function memStorage() {
  const m = new Map();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k), m };
}

const WELCOME = { event: 'welcome', conn: 'c1', protocol: 1, auth: 'none', uid: 'u-srv', heartbeat_ms: 25000,
  limits: { max_frame_bytes: 65536, max_message_bytes: 16384, rate_per_s: 50 } };

function setup(opts = {}) {
  FakeSocket.all = [];
  const storage = opts.storage || memStorage();
  const c = new RoomcastClient({ url: 'ws://test/ws', WebSocket: FakeSocket, storage, backoffBaseMs: 5, backoffCapMs: 40, ...opts });
  const events = [];
  for (const e of ['status', 'message', 'history', 'enter', 'out', 'leave', 'who', 'error', 'pending', 'truncated', 'welcome', 'auth', 'noauth']) {
    c.on(e, (d) => events.push([e, d]));
  }
  const sock = () => FakeSocket.all.at(-1);
  const of = (name) => events.filter(([e]) => e === name).map(([, d]) => d);
  return { c, storage, events, sock, of };
}

function msg(room, seq, text, extra = {}) {
  return { event: 'message', room, uid: 'u-bob', name: 'bob', message: text, seq, ts: 1700000000000 + seq, ...extra };
}

async function until(fn, ms = 2000) {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(2);
  }
}

describe('roomcast.js', () => {
  it('validates like the protocol', () => {
    assert.ok(isValidRoom('a.b:c_d-9'));
    assert.ok(!isValidRoom('has space'));
    assert.ok(!isValidRoom('x'.repeat(65)));
    assert.ok(isValidName('Zoë 🙂'));
    assert.ok(!isValidName('tab\there'));
    assert.ok(!isValidName('x'.repeat(33)));
    assert.match(newMessageId(), /^[0-9a-f]{32}$/);
    assert.notEqual(newMessageId(), newMessageId());
  });

  it('enters after welcome, keeps the server uid, emits each seq once', async () => {
    const { c, sock, of, storage } = setup();
    c.enter('lobby', 'alice');
    c.connect();
    sock().accept();
    assert.equal(sock().frames().length, 0, 'nothing before welcome');
    sock().push(WELCOME);
    assert.deepEqual(sock().frames('enter'), [{ event: 'enter', room: 'lobby', name: 'alice', uid: 'u-srv' }]);
    sock().push({ event: 'enter', room: 'lobby', uid: 'u-srv', name: 'alice', num: 1, total: 1, seq: 2 });
    assert.equal(c.lastSeq('lobby'), 2);
    sock().push(msg('lobby', 3, 'three'));
    sock().push(msg('lobby', 3, 'three again'));
    sock().push(msg('lobby', 4, 'four'));
    assert.deepEqual(of('message').map((m) => m.seq), [3, 4]);
    // History overlapping what was delivered returns only the unseen ones.
    const h = c.history('lobby', 5, 10);
    assert.deepEqual(sock().frames('history'), [{ event: 'history', room: 'lobby', before: 5, limit: 10 }]);
    sock().push({ event: 'history', room: 'lobby', messages: [msg('lobby', 1, 'one'), msg('lobby', 2, 'two'), msg('lobby', 3, 'three'), msg('lobby', 4, 'four')], more: false });
    const res = await h;
    assert.deepEqual(res.messages.map((m) => m.seq), [1, 2]);
    assert.equal(res.more, false);
    await sleep(0);
    const saved = JSON.parse(storage.getItem('roomcast:v1'));
    assert.equal(saved.uid, 'u-srv');
    assert.deepEqual(saved.rooms, [{ room: 'lobby', name: 'alice', seq: 4 }]);
    c.close();
  });

  it('reconnects with backoff, re-enters with since and resends the outbox with the same id', async () => {
    const { c, sock, of } = setup();
    c.connect();
    sock().accept();
    sock().push(WELCOME);
    c.enter('r', 'alice');
    sock().push({ event: 'enter', room: 'r', uid: 'u-srv', name: 'alice', num: 1, total: 1, seq: 0 });
    sock().push(msg('r', 1, 'hello'));
    const first = sock();
    first.drop(1006);
    assert.equal(c.status, 'reconnecting');
    // Written while down: queued, not sent anywhere.
    const id = c.send('r', 'queued one');
    assert.equal(of('pending').at(-1).state, 'queued');
    // A few refused attempts, each after a jittered, growing delay.
    for (let i = 0; i < 3; i++) {
      await until(() => FakeSocket.all.length === 2 + i);
      sock().drop(1006);
    }
    await until(() => FakeSocket.all.length === 5);
    const s = sock();
    s.accept();
    s.push({ ...WELCOME, uid: 'u-other' });
    assert.equal(c.status, 'connected');
    assert.deepEqual(s.frames('enter'), [{ event: 'enter', room: 'r', name: 'alice', uid: 'u-srv', since: 1 }]);
    assert.equal(s.frames('message').length, 0, 'outbox waits for the re-entry');
    s.push(msg('r', 2, 'missed', { replay: true }));
    s.push({ event: 'enter', room: 'r', uid: 'u-srv', name: 'alice', num: 1, total: 1, seq: 2 });
    assert.deepEqual(s.frames('message'), [{ event: 'message', room: 'r', message: 'queued one', id }]);
    s.push({ ...msg('r', 3, 'queued one'), uid: 'u-srv', name: 'alice', id });
    assert.deepEqual(of('message').map((m) => [m.seq, m.message, m.own]), [[1, 'hello', false], [2, 'missed', false], [3, 'queued one', true]]);
    assert.equal(of('pending').at(-1).state, 'sent');
    assert.deepEqual(c.pending(), []);
    const seen = of('status').map((x) => x.status);
    assert.deepEqual([...new Set(seen)], ['connecting', 'connected', 'reconnecting']);
    c.close();
  });

  it('a message sent but unacknowledged before a drop is resent once; the server copy is not doubled', async () => {
    const { c, sock, of } = setup();
    c.connect();
    sock().accept();
    sock().push(WELCOME);
    c.enter('r', 'alice');
    sock().push({ event: 'enter', room: 'r', uid: 'u-srv', name: 'alice', num: 1, total: 1, seq: 0 });
    const id = c.send('r', 'hi');
    assert.equal(sock().frames('message').length, 1);
    sock().drop(1001);
    await until(() => FakeSocket.all.length === 2);
    const s = sock();
    s.accept();
    s.push(WELCOME);
    // The first try was stored: the catch-up has it, so it is not sent again.
    s.push({ ...msg('r', 1, 'hi', { replay: true }), uid: 'u-srv', name: 'alice', id });
    s.push({ event: 'enter', room: 'r', uid: 'u-srv', name: 'alice', num: 1, total: 1, seq: 1 });
    assert.equal(s.frames('message').length, 0);
    // And a server echo of the same seq (idempotent resend answer) is dropped.
    s.push({ ...msg('r', 1, 'hi'), uid: 'u-srv', name: 'alice', id });
    assert.deepEqual(of('message').map((m) => m.seq), [1]);
    c.close();
  });

  it('answers pings, pings itself, and treats silence as a dead link', async () => {
    const { c, sock, of } = setup();
    c.connect();
    sock().accept();
    sock().push({ ...WELCOME, heartbeat_ms: 1000 });
    sock().push({ event: 'heartbeat', message: 'ping' });
    assert.deepEqual(sock().frames('heartbeat')[0], { event: 'heartbeat', message: 'pong' });
    const first = sock();
    await until(() => first.frames('heartbeat').some((f) => f.message === 'ping'), 1500);
    // No answer at all for 2 x heartbeat_ms: a fresh socket replaces it.
    await until(() => FakeSocket.all.length === 2, 4000);
    assert.equal(first.closedWith, 4000);
    assert.ok(of('error').some((e) => e.code === 'link_dead'));
    assert.equal(c.status, 'reconnecting');
    c.close();
  });

  it('resumes from storage after a reload: same uid, rooms, since and queued messages', async () => {
    const storage = memStorage();
    {
      const { c, sock } = setup({ storage });
      c.connect();
      sock().accept();
      sock().push(WELCOME);
      c.enter('a', 'alice');
      c.enter('b', 'alice');
      sock().push({ event: 'enter', room: 'a', uid: 'u-srv', name: 'alice', num: 1, total: 1, seq: 7 });
      sock().push({ event: 'enter', room: 'b', uid: 'u-srv', name: 'alice', num: 1, total: 1, seq: 0 });
      sock().push(msg('a', 8, 'x'));
      sock().drop(1006);
      c.send('b', 'later');
      c.close();
    }
    const { c, sock, of } = setup({ storage });
    assert.deepEqual(c.roomList(), ['a', 'b']);
    c.connect();
    sock().accept();
    sock().push({ ...WELCOME, uid: 'u-new' });
    assert.deepEqual(sock().frames('enter'), [
      { event: 'enter', room: 'a', name: 'alice', uid: 'u-srv', since: 8 },
      { event: 'enter', room: 'b', name: 'alice', uid: 'u-srv', since: 0 },
    ]);
    sock().push({ event: 'enter', room: 'b', uid: 'u-srv', name: 'alice', num: 1, total: 1, seq: 0 });
    const [m] = sock().frames('message');
    assert.equal(m.message, 'later');
    assert.equal(of('enter')[0].initial, true);
    c.close();
  });

  it('marks a truncated catch-up with the hole it left', () => {
    const { c, sock, of } = setup();
    c.connect();
    sock().accept();
    sock().push(WELCOME);
    c.enter('r', 'alice');
    sock().push({ event: 'enter', room: 'r', uid: 'u-srv', name: 'alice', num: 1, total: 1, seq: 3 });
    sock().drop(1006);
    return until(() => FakeSocket.all.length === 2).then(() => {
      const s = sock();
      s.accept();
      s.push(WELCOME);
      for (let i = 96; i <= 100; i++) s.push(msg('r', i, `m${i}`, { replay: true }));
      s.push({ event: 'enter', room: 'r', uid: 'u-srv', name: 'alice', num: 1, total: 1, seq: 100, truncated: true });
      assert.deepEqual(of('truncated'), [{ room: 'r', since: 3, before: 96 }]);
      c.close();
    });
  });

  it('refuses oversized messages locally instead of getting closed with 1009', () => {
    const { c, sock, of } = setup();
    c.connect();
    sock().accept();
    sock().push({ ...WELCOME, limits: { max_frame_bytes: 1000, max_message_bytes: 600, rate_per_s: 50 } });
    c.enter('r', 'alice');
    sock().push({ event: 'enter', room: 'r', uid: 'u-srv', name: 'alice', num: 1, total: 1, seq: 0 });
    c.send('r', 'x'.repeat(601));
    c.send('r', '\u0001'.repeat(500)); // fits max_message_bytes, but 6x once JSON-escaped
    assert.equal(sock().frames('message').length, 0);
    assert.deepEqual(of('pending').map((p) => p.state), ['failed', 'failed']);
    assert.ok(of('error').every((e) => e.code === 'too_large'));
    c.close();
  });

  it('stays under the rate limit when a long queue is flushed', async () => {
    const { c, sock } = setup();
    c.connect();
    sock().accept();
    sock().push({ ...WELCOME, limits: { max_frame_bytes: 65536, max_message_bytes: 16384, rate_per_s: 10 } });
    c.enter('r', 'alice');
    sock().push({ event: 'enter', room: 'r', uid: 'u-srv', name: 'alice', num: 1, total: 1, seq: 0 });
    for (let i = 0; i < 20; i++) c.send('r', `m${i}`);
    const sentNow = sock().frames('message').length;
    assert.ok(sentNow <= 8, `a burst of at most 80% of rate_per_s (got ${sentNow})`);
    await until(() => sock().frames('message').length === 20, 5000);
    assert.deepEqual(sock().frames('message').map((f) => f.message), Array.from({ length: 20 }, (_, i) => `m${i}`));
    c.close();
  });

  it('retries a rate-limited message with the same id', async () => {
    const { c, sock } = setup();
    c.connect();
    sock().accept();
    sock().push(WELCOME);
    c.enter('r', 'alice');
    sock().push({ event: 'enter', room: 'r', uid: 'u-srv', name: 'alice', num: 1, total: 1, seq: 0 });
    const id = c.send('r', 'hi');
    sock().push({ event: 'error', code: 'rate_limited', message: 'slow down', id });
    await until(() => sock().frames('message').length === 2, 3000);
    assert.deepEqual(sock().frames('message').map((f) => f.id), [id, id]);
    c.close();
  });

  it('authenticates with the token in jwt mode before entering, without a uid', () => {
    const { c, sock, of } = setup({ token: 'tok.en.x' });
    c.enter('r', 'alice');
    c.connect();
    sock().accept();
    sock().push({ ...WELCOME, auth: 'jwt', uid: undefined });
    assert.deepEqual(sock().frames(), [{ event: 'auth', token: 'tok.en.x' }]);
    sock().push({ event: 'auth', uid: 'sub-1', name: 'Alice A.' });
    assert.deepEqual(sock().frames('enter'), [{ event: 'enter', room: 'r', name: 'alice' }]);
    sock().push({ event: 'enter', room: 'r', uid: 'sub-1', name: 'Alice A.', num: 1, total: 1, seq: 0 });
    assert.equal(of('enter')[0].self, true);
    c.close();
  });

  it('goes offline with the browser and comes back on `online`', async () => {
    const target = new EventTarget();
    const prev = { window: globalThis.window, navigator: Object.getOwnPropertyDescriptor(globalThis, 'navigator') };
    let online = true;
    globalThis.window = target;
    Object.defineProperty(globalThis, 'navigator', { value: { get onLine() { return online; } }, configurable: true });
    try {
      const { c, sock } = setup();
      c.connect();
      sock().accept();
      sock().push(WELCOME);
      online = false;
      target.dispatchEvent(new Event('offline'));
      assert.equal(c.status, 'offline');
      assert.equal(sock().closedWith, 1000);
      await sleep(60);
      assert.equal(FakeSocket.all.length, 1, 'no retries while offline');
      online = true;
      target.dispatchEvent(new Event('online'));
      assert.equal(FakeSocket.all.length, 2);
      assert.equal(c.status, 'reconnecting');
      sock().accept();
      sock().push(WELCOME);
      assert.equal(c.status, 'connected');
      c.close();
    } finally {
      globalThis.window = prev.window;
      if (prev.navigator) Object.defineProperty(globalThis, 'navigator', prev.navigator);
      else delete globalThis.navigator;
    }
  });
});
