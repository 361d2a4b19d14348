// delivery.test.mjs -- "nothing lost": catch-up on enter (with and without
// `since`), offline_max truncation, a join racing with live senders,
// history paging, idempotent send, a broker crash (SIGKILL) under a steady
// stream, graceful stop, retention, and requests in the window right after a
// broker restart. See docs/protocol.md "Membership, order and
// delivery" and README "How delivery works".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startBroker, restartBroker, startGateway, connect, stop, waitFor, waitReady,
  expectFields, sleep,
} from './harness.mjs';
import {
  enterCatchUp, postMany, history, fullHistory, assertRange, record, softChecks, short,
} from './delivery-helpers.mjs';

const FAST = { rate_per_s: 100000 };

/** After a broker restart: waits until c (which stayed in `room`) gets a
 *  `history` answer again, i.e. its gateway has registered it again. The
 *  window before that is checked by its own test ("quick restart"). */
async function untilRegistered(c, room) {
  return waitFor(async () => {
    const h = await history(c, room, { limit: 1 });
    return h.event === 'history' ? h : false;
  }, { timeoutMs: 20000, interval: 100, what: `${c.label}: history in ${room} answered again after the restart` });
}

/** Closes c and waits until `watcher` sees the `out` of uid in room. */
async function goOut(c, watcher, room, uid) {
  await c.close();
  await watcher.next({ event: 'out', room, uid }, 10000);
}

// ---------------------------------------------------------------------------
// 1. since

test('catch-up with since: seq > since replayed oldest first with replay:true, then enter, then live', { timeout: 30000 }, async () => {
  const ROOM = 'since';
  const broker = await startBroker();
  const gwA = await startGateway(broker, FAST);
  const gwB = await startGateway(broker, FAST);
  const alice = await connect(gwA, { label: 'alice@A' });
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  const posted = await postMany(alice, ROOM, 'alice', 6, 'p');
  assert.deepEqual(posted.map((m) => m.seq), [1, 2, 3, 4, 5, 6], 'seqs of the posted messages');

  // A first-time member with since=2 (on the other gateway).
  const bob = await connect(gwB, { label: 'bob@B' });
  const { replay, enter } = await enterCatchUp(bob, ROOM, 'Bob', { uid: 'bob', since: 2 });
  assertRange(replay.map((m) => m.seq), 3, 6, 'bob replay with since=2');
  for (const [i, m] of replay.entries()) {
    expectFields(m, { event: 'message', room: ROOM, uid: 'alice', name: 'Alice', replay: true,
      message: `p ${i + 2}`, id: `p-${i + 2}`, ts: posted[i + 2].ts }, `bob replayed message ${i}`);
  }
  expectFields(enter, { room: ROOM, uid: 'bob', name: 'Bob', num: 2, total: 2, seq: 6 }, 'bob enter after the replay');
  assert.notEqual(enter.truncated, true, `nothing was left out: no truncated: ${short(enter)}`);
  const aliceSees = await alice.next({ event: 'enter', uid: 'bob' }, 10000);
  assert.notEqual(aliceSees.truncated, true, `alice's copy of bob's enter: ${short(aliceSees)}`);

  // Live after enter: no replay flag, next seq.
  alice.send({ event: 'message', room: ROOM, message: 'live', id: 'live-1' });
  const live = await bob.next({ event: 'message', room: ROOM }, 10000);
  expectFields(live, { seq: 7, message: 'live', id: 'live-1', uid: 'alice' }, 'bob first live message');
  assert.ok(!live.replay, `a live message has no replay:true: ${short(live)}`);
  expectFields(await alice.next({ event: 'message', room: ROOM }, 10000), { seq: 7, id: 'live-1' }, 'alice own copy of live');
  assert.deepEqual(alice.pending((f) => f.event === 'message' && f.replay), [], 'alice got no replayed copies');

  // since = latest: nothing replayed; since beyond latest: nothing either.
  const carol = await connect(gwA, { label: 'carol@A' });
  let r = await enterCatchUp(carol, ROOM, 'Carol', { uid: 'carol', since: 7 });
  assert.deepEqual(r.replay.map(short), [], 'since = latest seq replays nothing');
  expectFields(r.enter, { seq: 7, num: 3, total: 3 }, 'carol enter');
  // since=0 on a new connection of an existing member: everything.
  const bob2 = await connect(gwA, { label: 'bob2@A' });
  r = await enterCatchUp(bob2, ROOM, 'Bob', { uid: 'bob', since: 0 });
  assertRange(r.replay.map((m) => m.seq), 1, 7, 'bob second connection with since=0');
  assert.ok(r.replay.every((m) => m.replay === true), 'every replayed message has replay:true');
  expectFields(r.enter, { seq: 7, num: 3, total: 3 }, 'bob second connection enter');
  // And a message after that reaches both of bob's connections once.
  carol.send({ event: 'message', room: ROOM, message: 'eight', id: 'c-8' });
  for (const c of [bob, bob2, alice, carol]) {
    expectFields(await c.next({ event: 'message', room: ROOM, seq: 8 }, 10000), { message: 'eight', uid: 'carol' }, `${c.label} seq 8`);
  }
  await sleep(200);
  for (const c of [bob, bob2, alice, carol]) {
    assert.deepEqual(c.pending({ event: 'message' }).map(short), [], `${c.label}: no extra message copies`);
  }
});

// ---------------------------------------------------------------------------
// 2. Returning member without since; first-time member.

test('a returning member without since gets exactly what was stored since its last connection left; a first-time member gets nothing', { timeout: 30000 }, async () => {
  const ROOM = 'return';
  const broker = await startBroker();
  const gwA = await startGateway(broker, FAST);
  const gwB = await startGateway(broker, FAST);
  const alice = await connect(gwA, { label: 'alice@A' });
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  let bob = await connect(gwA, { label: 'bob@A' });
  await bob.enter(ROOM, 'Bob', { uid: 'bob' });
  await postMany(alice, ROOM, 'alice', 2, 'before');
  for (const s of [1, 2]) await bob.next({ event: 'message', room: ROOM, seq: s }, 10000);

  await goOut(bob, alice, ROOM, 'bob');
  await postMany(alice, ROOM, 'alice', 3, 'while-away'); // seq 3..5

  // bob comes back through the other gateway, without since.
  bob = await connect(gwB, { label: 'bob-again@B' });
  const { replay, enter } = await enterCatchUp(bob, ROOM, 'Bob', { uid: 'bob' });
  assert.deepEqual(replay.map((m) => [m.seq, m.message, m.replay]),
    [[3, 'while-away 0', true], [4, 'while-away 1', true], [5, 'while-away 2', true]],
    `bob's replay without since: ${replay.map(short).join(' ')}`);
  expectFields(enter, { uid: 'bob', seq: 5, num: 2, total: 2 }, 'bob enter on return');
  assert.notEqual(enter.truncated, true, `no truncated on return: ${short(enter)}`);

  // A first-time member without since: no replay.
  const carol = await connect(gwB, { label: 'carol@B' });
  const c1 = await enterCatchUp(carol, ROOM, 'Carol', { uid: 'carol' });
  assert.deepEqual(c1.replay.map(short), [], 'a first-time member gets no replay');
  expectFields(c1.enter, { seq: 5, num: 3, total: 3 }, 'carol enter');
  assert.notEqual(c1.enter.truncated, true, `first-time member: no truncated: ${short(c1.enter)}`);

  // bob goes out again having seen 5, one message, back again: only seq 6.
  await goOut(bob, alice, ROOM, 'bob');
  alice.send({ event: 'message', room: ROOM, message: 'six', id: 'six' });
  await carol.next({ event: 'message', seq: 6 }, 10000);
  bob = await connect(gwA, { label: 'bob-third@A' });
  const b3 = await enterCatchUp(bob, ROOM, 'Bob', { uid: 'bob' });
  assert.deepEqual(b3.replay.map((m) => m.seq), [6], 'second return replays only what was stored since the last leave');
  expectFields(b3.enter, { seq: 6 }, 'bob enter (third)');

  // bob returns with nothing new: nothing replayed.
  await goOut(bob, alice, ROOM, 'bob');
  bob = await connect(gwB, { label: 'bob-fourth@B' });
  const b4 = await enterCatchUp(bob, ROOM, 'Bob', { uid: 'bob' });
  assert.deepEqual(b4.replay.map(short), [], 'nothing stored while away: nothing replayed');
  expectFields(b4.enter, { seq: 6 }, 'bob enter (fourth)');
});

// ---------------------------------------------------------------------------
// 3. offline_max

test('offline_max=5: newest 5 of 8 unseen replayed, truncated:true only on the joiner\'s enter', { timeout: 30000 }, async () => {
  const ROOM = 'capped';
  const broker = await startBroker({ offline_max: 5 });
  const gw = await startGateway(broker, FAST);
  const alice = await connect(gw, { label: 'alice' });
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  let bob = await connect(gw, { label: 'bob' });
  await bob.enter(ROOM, 'Bob', { uid: 'bob' });
  await goOut(bob, alice, ROOM, 'bob');
  await postMany(alice, ROOM, 'alice', 8, 'm'); // seq 1..8, all unseen by bob

  // Returning member without since.
  bob = await connect(gw, { label: 'bob-again' });
  const b = await enterCatchUp(bob, ROOM, 'Bob', { uid: 'bob' });
  assertRange(b.replay.map((m) => m.seq), 4, 8, 'returning bob, offline_max=5');
  assert.ok(b.replay.every((m) => m.replay === true), 'replayed messages carry replay:true');
  expectFields(b.enter, { uid: 'bob', seq: 8, truncated: true }, 'bob enter (8 unseen, 5 replayed)');
  const seenByAlice = await alice.next({ event: 'enter', uid: 'bob' }, 10000);
  assert.notEqual(seenByAlice.truncated, true, `alice's copy of bob's enter must not say truncated: ${short(seenByAlice)}`);

  // First-time members with since.
  const cases = [
    { uid: 'carol', since: 0, from: 4, truncated: true },
    { uid: 'erin', since: 2, from: 4, truncated: true },   // seq 3 left out
    { uid: 'dave', since: 3, from: 4, truncated: false },  // exactly 5 unseen: nothing left out
    { uid: 'frank', since: 6, from: 7, truncated: false },
  ];
  for (const k of cases) {
    const c = await connect(gw, { label: k.uid });
    const r = await enterCatchUp(c, ROOM, k.uid, { uid: k.uid, since: k.since });
    assertRange(r.replay.map((m) => m.seq), k.from, 8, `${k.uid} since=${k.since}`);
    if (k.truncated) expectFields(r.enter, { truncated: true }, `${k.uid} since=${k.since} enter`);
    else assert.notEqual(r.enter.truncated, true, `${k.uid} since=${k.since}: nothing left out, no truncated: ${short(r.enter)}`);
    const other = await alice.next({ event: 'enter', uid: k.uid }, 10000);
    assert.notEqual(other.truncated, true, `alice's copy of ${k.uid}'s enter: ${short(other)}`);
    await bob.next({ event: 'enter', uid: k.uid }, 10000).then((f) =>
      assert.notEqual(f.truncated, true, `bob's copy of ${k.uid}'s enter: ${short(f)}`));
  }
  // A first-time member without since: nothing, no truncated.
  const g = await connect(gw, { label: 'gina' });
  const r = await enterCatchUp(g, ROOM, 'Gina', { uid: 'gina' });
  assert.deepEqual(r.replay.map(short), [], 'first-time member: no replay even with offline_max');
  assert.notEqual(r.enter.truncated, true, `first-time member: no truncated: ${short(r.enter)}`);
});

// ---------------------------------------------------------------------------
// 4. A join racing with concurrent senders.

async function raceOnce(gws, i) {
  const room = `race-${i}`;
  const nSenders = 2 + (i % 2);
  const PRE = 8;
  const PER = 25;
  const total = PRE + nSenders * PER;
  const since = i % (PRE + 3); // 0..10: sometimes beyond what is stored when enter is sent
  const senders = [];
  for (let k = 0; k < nSenders; k++) {
    const c = await connect(gws[k % gws.length], { label: `${room}/s${k}` });
    await c.enter(room, `S${k}`, { uid: `r${i}s${k}` }, 10000);
    senders.push(c);
  }
  await postMany(senders[0], room, `r${i}s0`, PRE, 'pre');
  const joiner = await connect(gws[(i + 1) % gws.length], { label: `${room}/joiner` });

  let stopErr = null;
  const loops = senders.map(async (c, k) => {
    for (let n = 0; n < PER; n++) {
      c.send({ event: 'message', room, message: `s${k}:${n}`, id: `s${k}-${n}` });
      await sleep(1 + ((n + k) % 3));
    }
  });
  await sleep(3 + (i * 7) % 30);
  joiner.send({ event: 'enter', room, name: 'J', uid: `j${i}`, since });
  await Promise.all(loops);

  // Every sender sees the last seq (so the stream is complete).
  for (const c of senders) {
    const last = await c.next((f) => (f.event === 'message' && f.room === room && f.seq === total) || f.event === 'error', 20000);
    if (last.event === 'error') stopErr = `${c.label}: ${short(last)}`;
  }
  assert.equal(stopErr, null, 'senders got an error');

  const got = [];
  let enter = null;
  let enterIndex = -1;
  const pred = (f) => (f.event === 'error' && !('id' in f)) || (f.room === room && (f.event === 'message' || (f.event === 'enter' && f.uid === `j${i}`)));
  for (;;) {
    const f = await joiner.next(pred, 20000).catch((e) => {
      throw new Error(`${room}: joiner (since=${since}) stalled after seqs ${JSON.stringify(got.map((m) => m.seq))} enter=${short(enter)}: ${e.message}`);
    });
    if (f.event === 'error') assert.fail(`${room}: joiner got ${short(f)}`);
    if (f.event === 'enter') {
      assert.equal(enter, null, `${room}: joiner got its enter twice: ${short(enter)} and ${short(f)}`);
      enter = f; enterIndex = got.length;
      if (since >= total) break;
      continue;
    }
    got.push(f);
    if (f.seq >= total && enter) break;
  }
  const seqs = got.map((m) => m.seq);
  const desc = `${room} (${nSenders} senders, since=${since}, enter after ${enterIndex} messages, enter.seq=${enter && enter.seq}): ` +
    `${seqs.length} seqs [${seqs.slice(0, 12)}${seqs.length > 12 ? ' ...' : ''}]`;
  assertRange(seqs, since + 1, total, desc);
  const replayed = got.slice(0, enterIndex);
  const liveOnes = got.slice(enterIndex);
  assert.ok(replayed.every((m) => m.replay === true), `${desc}: every message before enter has replay:true`);
  assert.ok(liveOnes.every((m) => m.replay !== true), `${desc}: no message after enter has replay:true: ` +
    `${liveOnes.filter((m) => m.replay).map((m) => m.seq)}`);
  const lastBefore = enterIndex > 0 ? got[enterIndex - 1].seq : since;
  assert.ok(enter.seq === lastBefore || (enterIndex === 0 && enter.seq <= since),
    `${desc}: enter.seq must be the latest seq at that moment, i.e. the last replayed one (${lastBefore})`);
  // Nothing more after the end.
  await sleep(50);
  assert.deepEqual(joiner.pending((f) => f.event === 'message' && f.room === room).map(short), [], `${desc}: extra messages`);
  for (const c of [...senders, joiner]) c.terminate();
  return { replayed: replayed.length, live: liveOnes.length };
}

test('a join racing with 2-3 senders, 32 rooms: replay + live is exactly since+1..last, no gap, no duplicate', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gws = [await startGateway(broker, FAST), await startGateway(broker, FAST)];
  const N = 32;
  const BATCH = 8;
  const stats = [];
  for (let i = 0; i < N; i += BATCH) {
    const batch = [];
    for (let k = i; k < Math.min(N, i + BATCH); k++) batch.push(raceOnce(gws, k));
    const res = await Promise.allSettled(batch);
    const failed = res.filter((x) => x.status === 'rejected').map((x) => x.reason.message);
    assert.deepEqual(failed, [], `race rounds ${i}..${i + BATCH - 1} failed`);
    stats.push(...res.map((x) => x.value));
  }
  // Not asserted (timing): how often the enter really fell inside the stream.
  const both = stats.filter((x) => x.replayed > 0 && x.live > 0).length;
  process.stderr.write(`note: race: ${both} of ${N} joins had both replayed and live messages\n`);
});

// ---------------------------------------------------------------------------
// 5. history

test('history: before/limit/more, oldest first, default 50, capped at 200, limit 0 bad_request, not_in_room', { timeout: 40000 }, async () => {
  const ROOM = 'hist';
  const broker = await startBroker();
  const gw = await startGateway(broker, FAST);
  const alice = await connect(gw, { label: 'alice' });
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  const posted = await postMany(alice, ROOM, 'alice', 210, 'h', 30000);
  assertRange(posted.map((m) => m.seq), 1, 210, 'posted seqs');

  const check = (h, from, to, more, what) => {
    assert.equal(h.event, 'history', `${what}: ${short(h)}`);
    expectFields(h, { room: ROOM, more }, what);
    assertRange(h.messages.map((m) => m.seq), from, to, `${what} (oldest first)`);
    for (const m of h.messages) {
      expectFields(m, { uid: 'alice', name: 'Alice', message: `h ${m.seq - 1}`, id: `h-${m.seq - 1}`, ts: posted[m.seq - 1].ts },
        `${what}: message ${m.seq}`);
    }
  };
  check(await history(alice, ROOM), 161, 210, true, 'history default');
  check(await history(alice, ROOM, { limit: 10 }), 201, 210, true, 'limit 10');
  check(await history(alice, ROOM, { before: 100, limit: 5 }), 95, 99, true, 'before 100 limit 5');
  check(await history(alice, ROOM, { before: 11, limit: 20 }), 1, 10, false, 'before 11 limit 20');
  check(await history(alice, ROOM, { before: 11, limit: 10 }), 1, 10, false, 'before 11 limit 10 (exactly the rest)');
  check(await history(alice, ROOM, { before: 60 }), 10, 59, true, 'before 60 default limit');
  check(await history(alice, ROOM, { limit: 200 }), 11, 210, true, 'limit 200');
  check(await history(alice, ROOM, { limit: 300 }), 11, 210, true, 'limit 300 capped to 200');
  check(await history(alice, ROOM, { limit: 1000000 }), 11, 210, true, 'limit 1000000 capped to 200');
  check(await history(alice, ROOM, { before: 1000 }), 161, 210, true, 'before beyond the newest');
  check(await history(alice, ROOM, { before: 211, limit: 210 }), 11, 210, true, 'before 211 limit 210');
  const h1 = await history(alice, ROOM, { before: 1 });
  assert.equal(h1.event, 'history', `before 1: ${short(h1)}`);
  assert.deepEqual(h1.messages, [], 'before 1: nothing');
  assert.equal(h1.more, false, 'before 1: more false');
  // Paging through all of it.
  const all = await fullHistory(alice, ROOM);
  assertRange(all.map((m) => m.seq), 1, 210, 'paged history');

  for (const limit of [0, -1]) {
    const e = await history(alice, ROOM, { limit });
    expectFields(e, { event: 'error', code: 'bad_request' }, `history limit ${limit}`);
  }
  const e2 = await history(alice, 'elsewhere');
  expectFields(e2, { event: 'error', code: 'not_in_room' }, 'history of a room not entered');
  // Another client that has not entered ROOM.
  const bob = await connect(gw, { label: 'bob' });
  expectFields(await history(bob, ROOM), { event: 'error', code: 'not_in_room' }, 'history by a connection that has not entered');
  // History of an empty room.
  await bob.enter('empty', 'Bob', { uid: 'bob' });
  const he = await history(bob, 'empty');
  expectFields(he, { event: 'history', room: 'empty', messages: [], more: false }, 'history of an empty room');
});

// ---------------------------------------------------------------------------
// 6. Idempotent send

test('idempotent send: same (uid, id) stored once, original returned, broadcast once; also after reconnecting through another gateway', { timeout: 30000 }, async () => {
  const ROOM = 'idem';
  const broker = await startBroker();
  const gwA = await startGateway(broker, FAST);
  const gwB = await startGateway(broker, FAST);
  let alice = await connect(gwA, { label: 'alice@A' });
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  const bob = await connect(gwB, { label: 'bob@B' });
  await bob.enter(ROOM, 'Bob', { uid: 'bob' });
  const isMsg = (f) => f.event === 'message' || f.event === 'error';

  alice.send({ event: 'message', room: ROOM, message: 'hello', id: 'dup-1' });
  const orig = await alice.next(isMsg, 10000);
  expectFields(orig, { event: 'message', seq: 1, id: 'dup-1', message: 'hello', uid: 'alice' }, 'first send');
  expectFields(await bob.next(isMsg, 10000), { seq: 1, id: 'dup-1' }, 'bob first copy');

  // Same id again (same text), after the first was acknowledged.
  alice.send({ event: 'message', room: ROOM, message: 'hello', id: 'dup-1' });
  const again = await alice.next(isMsg, 10000);
  expectFields(again, { event: 'message', seq: 1, id: 'dup-1', message: 'hello', uid: 'alice', ts: orig.ts }, 'duplicate send gets the original back');
  // Same id, different text: still the original.
  alice.send({ event: 'message', room: ROOM, message: 'hello EDITED', id: 'dup-1' });
  expectFields(await alice.next(isMsg, 10000), { event: 'message', seq: 1, id: 'dup-1', message: 'hello', ts: orig.ts },
    'duplicate id with another text gets the original back');
  // Back to back, without waiting (likely in the same broker round).
  alice.send({ event: 'message', room: ROOM, message: 'twice', id: 'dup-2' });
  alice.send({ event: 'message', room: ROOM, message: 'twice', id: 'dup-2' });
  const t1 = await alice.next(isMsg, 10000);
  const t2 = await alice.next(isMsg, 10000);
  expectFields(t1, { event: 'message', seq: 2, id: 'dup-2', message: 'twice' }, 'back-to-back first');
  expectFields(t2, { event: 'message', seq: 2, id: 'dup-2', message: 'twice', ts: t1.ts }, 'back-to-back duplicate');
  // The same id from another uid is a different message.
  bob.send({ event: 'message', room: ROOM, message: 'bob uses dup-1 too', id: 'dup-1' });
  expectFields(await bob.next(isMsg, 10000), { seq: 2, id: 'dup-2', uid: 'alice' }, 'bob sees dup-2 once, at seq 2');
  expectFields(await bob.next(isMsg, 10000), { event: 'message', seq: 3, id: 'dup-1', uid: 'bob' }, 'same id, other uid: stored');
  expectFields(await alice.next(isMsg, 10000), { event: 'message', seq: 3, id: 'dup-1', uid: 'bob' }, 'alice sees bob\'s message');

  // Reconnect alice through the OTHER gateway (same uid) and send dup-1 again.
  await alice.close();
  alice = await connect(gwB, { label: 'alice@B' });
  const back = await enterCatchUp(alice, ROOM, 'Alice', { uid: 'alice', since: 3 });
  assert.deepEqual(back.replay.map(short), [], 'since=3: nothing to replay');
  alice.send({ event: 'message', room: ROOM, message: 'hello from B', id: 'dup-1' });
  expectFields(await alice.next(isMsg, 10000), { event: 'message', seq: 1, id: 'dup-1', message: 'hello', uid: 'alice', ts: orig.ts },
    'duplicate after reconnecting through another gateway gets the original back');
  // A marker: bob's next message is the marker, not a second dup-1.
  alice.send({ event: 'message', room: ROOM, message: 'marker', id: 'mk' });
  expectFields(await alice.next(isMsg, 10000), { seq: 4, message: 'marker' }, 'alice marker');
  expectFields(await bob.next(isMsg, 10000), { seq: 4, message: 'marker' }, 'bob: next after the duplicates is the marker (nothing broadcast twice)');
  await sleep(100);
  assert.deepEqual(bob.pending(isMsg).map(short), [], 'bob: no extra copies');

  const h = await history(bob, ROOM);
  assert.deepEqual(h.messages.map((m) => [m.seq, m.uid, m.id, m.message]),
    [[1, 'alice', 'dup-1', 'hello'], [2, 'alice', 'dup-2', 'twice'], [3, 'bob', 'dup-1', 'bob uses dup-1 too'], [4, 'alice', 'mk', 'marker']],
    `history has each message once: ${short(h)}`);
});

// ---------------------------------------------------------------------------
// 7. Crash safety

test('broker SIGKILL under a steady stream: unavailable while down, nothing received is lost, seq not reused, stayers keep receiving, since catch-up', { timeout: 60000 }, async () => {
  const ROOM = 'crash';
  const broker = await startBroker();
  const gwA = await startGateway(broker, FAST);
  const gwB = await startGateway(broker, FAST);
  const mk = async (gw, uid) => {
    const c = await connect(gw, { label: `${uid}@${gw.id}` });
    c.autoPong = true;
    const frames = record(c);
    await c.enter(ROOM, uid, { uid });
    return { c, frames };
  };
  const sender = await mk(gwA, 'sender');
  const stayA = await mk(gwA, 'stayA');
  const stayB = await mk(gwB, 'stayB');
  const lagger = await mk(gwB, 'lagger');

  let sending = true;
  let sent = 0;
  const loop = (async () => {
    while (sending) {
      sender.c.send({ event: 'message', room: ROOM, message: `n${sent}`, id: `c-${sent}` });
      sent++;
      await sleep(4);
    }
  })();

  const msgs = (frames) => frames.filter((f) => f.event === 'message' && f.room === ROOM);
  await waitFor(() => msgs(sender.frames).length >= 40, { timeoutMs: 10000, what: 'the stream to start' });
  // The lagger leaves mid-stream; it will come back with since.
  await lagger.c.close();
  const laggerSeen = msgs(lagger.frames).map((m) => m.seq);
  const laggerLast = laggerSeen.length ? laggerSeen[laggerSeen.length - 1] : 0;
  await waitFor(() => msgs(sender.frames).length >= 80, { timeoutMs: 10000, what: 'more stream' });

  const marks = { beforeKill: sent };
  const killStatus = await stop(broker.proc, 'SIGKILL');
  assert.equal(killStatus, 'signal SIGKILL', 'broker killed');
  marks.killed = sent;
  for (const gw of [gwA, gwB]) await waitReady(gw, 503, 15000);
  marks.down503 = sent;
  await waitFor(() => sender.frames.some((f) => f.event === 'error' && f.code === 'unavailable'),
    { timeoutMs: 10000, what: 'an unavailable error while the broker is down' });
  const sentWhileDown = sent;
  await sleep(200);

  marks.restart = sent;
  const framesAtRestart = sender.frames.length;
  await restartBroker(broker);
  for (const gw of [gwA, gwB]) await waitReady(gw, 200, 20000);
  const afterRestart = sent;
  marks.up200 = sent;
  await waitFor(() => msgs(sender.frames).some((m) => Number(m.id.slice(2)) >= afterRestart + 20),
    { timeoutMs: 15000, what: 'messages stored after the restart' }).catch(() => null);
  sending = false;
  await loop;

  // Give every send its answer (message or error) where there is one.
  const answered = () => {
    const ids = new Set();
    for (const f of sender.frames) if ((f.event === 'message' && f.uid === 'sender') || f.event === 'error') ids.add(f.id);
    return ids;
  };
  await waitFor(() => answered().size >= sent, { timeoutMs: 5000, what: 'answers' }).catch(() => null);
  const ans = answered();
  const unanswered = [];
  for (let n = 0; n < sent; n++) if (!ans.has(`c-${n}`)) unanswered.push(n);

  // A final message: seq must be above everything anyone received.
  sender.c.send({ event: 'message', room: ROOM, message: 'final', id: 'final' });
  const fin = await sender.c.next((f) => (f.event === 'message' && f.id === 'final') || (f.event === 'error' && f.id === 'final'), 15000);
  const S = softChecks();
  const { check } = S;
  check(fin.event === 'message', `the final message after the restart: ${short(fin)}`);
  const errors = sender.frames.filter((f) => f.event === 'error');
  const unavailableIds = new Set(errors.filter((f) => f.code === 'unavailable').map((f) => f.id));
  const ranges = (ids) => {
    const ns = ids.map((id) => Number(String(id).slice(2))).sort((a, b) => a - b);
    const out = [];
    for (const n of ns) {
      const last = out[out.length - 1];
      if (last && n === last[1] + 1) last[1] = n; else out.push([n, n]);
    }
    return out.map(([a, b]) => (a === b ? `c-${a}` : `c-${a}..c-${b}`)).join(', ');
  };
  const timeline = `sends numbered by when they were sent: ${JSON.stringify(marks)}, total ${sent}`;
  const badErrors = errors.filter((f) => f.code !== 'unavailable');
  check(badErrors.length === 0, () => `only unavailable errors expected while the broker is down or restarting; got ${badErrors.length}: ` +
    `codes ${[...new Set(badErrors.map((f) => f.code))]} for ${ranges(badErrors.map((f) => f.id))}; e.g. ${short(badErrors[0])}; ` +
    `unavailable for ${ranges([...unavailableIds])}; ${timeline}; ` +
    `${badErrors.filter((f) => sender.frames.indexOf(f) >= framesAtRestart).length} of the ${badErrors.length} arrived after the broker was restarted`);
  check(unavailableIds.size > 0, 'at least one unavailable while the broker was down');

  const received = [sender, stayA, stayB, lagger].flatMap((x) => msgs(x.frames).map((m) => ({ who: x.c.label, m })));
  const maxReceived = Math.max(0, ...received.filter((r) => r.m.id !== 'final').map((r) => r.m.seq));
  if (fin.event === 'message') check(fin.seq > maxReceived, `final seq ${fin.seq} must be above every seq received before (${maxReceived})`);

  // History holds every message anyone received, each seq once, consecutive.
  const hist = await fullHistory(sender.c, ROOM);
  const bySeq = new Map(hist.map((m) => [m.seq, m]));
  const hs = hist.map((m) => m.seq);
  check(hs.every((s, i) => s === i + 1), () => `history seqs are not 1..${hs.length}: ${hs.filter((s, i) => s !== i + 1).slice(0, 10)}`);
  const hids = hist.map((m) => m.id);
  check(new Set(hids).size === hids.length, () => `history stores some id twice: ${hids.filter((x, i) => hids.indexOf(x) !== i).slice(0, 10)}`);
  const missing = [];
  for (const { who, m } of received) {
    const h = bySeq.get(m.seq);
    if (!h || h.id !== m.id || h.message !== m.message) missing.push(`${who} got seq ${m.seq} id ${m.id}, history has ${h ? `${h.id}` : 'nothing'}`);
  }
  check(missing.length === 0, () => `received messages not (or differently) in history (${missing.length}): ${missing.slice(0, 8).join('; ')}`);
  const storedRefused = hist.filter((m) => unavailableIds.has(m.id));
  check(storedRefused.length === 0, () => `messages answered unavailable were stored: ${storedRefused.map(short).slice(0, 5)}`);

  // The clients that stayed connected receive live messages after the restart.
  for (const x of [stayA, stayB, sender]) {
    const got = await waitFor(() => msgs(x.frames).some((m) => m.id === 'final'), { timeoutMs: 15000 }).then(() => true, () => false);
    check(got, `${x.c.label} (stayed connected) receives the final message after the restart`);
    const seqs = msgs(x.frames).map((m) => m.seq);
    const dups = seqs.filter((s, i) => seqs.indexOf(s) !== i);
    check(dups.length === 0, () => `${x.c.label} received some seqs twice: ${[...new Set(dups)].slice(0, 10)}`);
    const unordered = seqs.findIndex((s, i) => i > 0 && s <= seqs[i - 1]);
    check(unordered === -1, () => `${x.c.label} received seqs out of order at index ${unordered}: ${seqs.slice(Math.max(0, unordered - 3), unordered + 3)}`);
    // README: the gateway registers again with the last seq it delivered and the broker replays what it missed.
    const gaps = [];
    for (let i = 1; i < seqs.length; i++) if (seqs[i] !== seqs[i - 1] + 1) gaps.push(`${seqs[i - 1]}->${seqs[i]}`);
    check(gaps.length === 0 && seqs[0] === 1, () => `${x.c.label} (stayed connected) has gaps in what it received: first ${seqs[0]}, gaps ${gaps.slice(0, 10)}`);
  }
  // who shows them online.
  stayA.c.send({ event: 'who', room: ROOM });
  const w = await stayA.c.next((f) => (f.event === 'who' && f.room === ROOM) || f.event === 'error', 10000);
  const on = Object.fromEntries((w.members || []).map((m) => [m.uid, m.online]));
  check(on.stayA === true && on.stayB === true && on.sender === true && on.lagger === false,
    `who after the restart: stayA, stayB, sender online, lagger offline; got ${short(w)}`);

  // The lagger comes back with since: exactly what it missed.
  const lag = await connect(gwA, { label: 'lagger-again@A' });
  const lc = await enterCatchUp(lag, ROOM, 'lagger', { uid: 'lagger', since: laggerLast }, 15000).catch((e) => ({ err: e.message }));
  if (lc.err) check(false, `lagger re-enter: ${lc.err}`);
  else {
    const seqs = lc.replay.map((m) => m.seq);
    const last = hist.length ? hist[hist.length - 1].seq : 0;
    const ok = seqs.length === last - laggerLast && seqs.every((s, i) => s === laggerLast + 1 + i);
    check(ok, `lagger (since=${laggerLast}) replay must be ${laggerLast + 1}..${last}; got ${seqs.length}: ${seqs.slice(0, 5)} ... ${seqs.slice(-5)}`);
    check(lc.enter.seq === last, `lagger enter.seq ${lc.enter.seq} vs latest ${last}`);
  }
  if (unanswered.length) {
    // Not an assertion: report what never got an answer (in flight at the crash).
    const stored = unanswered.filter((n) => hids.includes(`c-${n}`));
    process.stderr.write(`note: ${unanswered.length} of ${sent} sends got no answer (${unanswered.slice(0, 10)}), ${stored.length} of them stored; sentWhileDown=${sentWhileDown}\n`);
  }
  S.done();
});

// ---------------------------------------------------------------------------
// 8. Graceful stop

test('broker SIGTERM exits 0; restarted on the same db: history intact, seq continues', { timeout: 40000 }, async () => {
  const ROOM = 'graceful';
  const broker = await startBroker();
  const gw = await startGateway(broker, FAST);
  const alice = await connect(gw, { label: 'alice' });
  alice.autoPong = true;
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  const posted = await postMany(alice, ROOM, 'alice', 20, 'g');
  assert.equal(await stop(broker.proc, 'SIGTERM'), 0, 'broker exit status on SIGTERM');
  await waitReady(gw, 503, 15000);
  await restartBroker(broker);
  await waitReady(gw, 200, 20000);
  await untilRegistered(alice, ROOM);
  const h = await history(alice, ROOM);
  assert.equal(h.event, 'history', `history after restart: ${short(h)}`);
  assert.deepEqual(h.messages.map((m) => [m.seq, m.id, m.message, m.ts]), posted.map((m) => [m.seq, m.id, m.message, m.ts]),
    'history after a graceful restart');
  assert.equal(h.more, false, 'more');
  alice.send({ event: 'message', room: ROOM, message: 'after', id: 'after' });
  expectFields(await alice.next((f) => f.event === 'message' || f.event === 'error', 10000), { event: 'message', seq: 21, id: 'after' },
    'first message after the restart');
  const bob = await connect(gw, { label: 'bob' });
  const b = await enterCatchUp(bob, ROOM, 'Bob', { uid: 'bob', since: 18 });
  assertRange(b.replay.map((m) => m.seq), 19, 21, 'since=18 after restart');
});

// ---------------------------------------------------------------------------
// 9. Retention

test('retention_messages=10: after 30 messages and a restart, history has the newest 10; since=0 gets them with truncated', { timeout: 40000 }, async () => {
  const ROOM = 'ret';
  const broker = await startBroker({ retention_messages: 10 });
  const gw = await startGateway(broker, FAST);
  const alice = await connect(gw, { label: 'alice' });
  alice.autoPong = true;
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  let carol = await connect(gw, { label: 'carol' });
  await carol.enter(ROOM, 'Carol', { uid: 'carol' });
  await goOut(carol, alice, ROOM, 'carol');
  await postMany(alice, ROOM, 'alice', 30, 'r');

  await restartBroker(broker); // SIGTERM, then start with the same overrides
  await waitReady(gw, 200, 20000);
  await untilRegistered(alice, ROOM);
  const h = await history(alice, ROOM);
  assert.equal(h.event, 'history', `history after restart: ${short(h)}`);
  assertRange(h.messages.map((m) => m.seq), 21, 30, 'history after retention');
  assert.deepEqual(h.messages.map((m) => m.message), Array.from({ length: 10 }, (_, i) => `r ${20 + i}`), 'texts');
  assert.equal(h.more, false, `more: the older messages no longer exist: ${short({ ...h, messages: h.messages.length })}`);

  // since=0: the 10 kept, truncated.
  const bob = await connect(gw, { label: 'bob' });
  const b = await enterCatchUp(bob, ROOM, 'Bob', { uid: 'bob', since: 0 });
  assertRange(b.replay.map((m) => m.seq), 21, 30, 'bob since=0 after retention');
  expectFields(b.enter, { seq: 30, truncated: true }, 'bob enter after retention');
  // A returning member without since (missed 1..30): the 10 kept, truncated.
  carol = await connect(gw, { label: 'carol-again' });
  const c = await enterCatchUp(carol, ROOM, 'Carol', { uid: 'carol' });
  assertRange(c.replay.map((m) => m.seq), 21, 30, 'returning carol after retention');
  expectFields(c.enter, { seq: 30, truncated: true }, 'carol enter after retention');
  // since=20: nothing left out.
  const dave = await connect(gw, { label: 'dave' });
  const d = await enterCatchUp(dave, ROOM, 'Dave', { uid: 'dave', since: 20 });
  assertRange(d.replay.map((m) => m.seq), 21, 30, 'dave since=20');
  assert.notEqual(d.enter.truncated, true, `since=20 left nothing out: ${short(d.enter)}`);
  // seq continues.
  alice.send({ event: 'message', room: ROOM, message: 'next', id: 'next' });
  expectFields(await alice.next((f) => (f.event === 'message' && f.id === 'next') || f.event === 'error', 10000),
    { event: 'message', seq: 31 }, 'seq after retention');
});

// ---------------------------------------------------------------------------
// 10. The window right after a broker restart.

test('broker restarted at once (SIGTERM, start), 8 times: a connection that stayed in its room is never answered not_in_room', { timeout: 60000 }, async () => {
  const ROOM = 'quick';
  const broker = await startBroker();
  const gw = await startGateway(broker, FAST);
  const alice = await connect(gw, { label: 'alice' });
  alice.autoPong = true;
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  alice.send({ event: 'message', room: ROOM, message: 'before', id: 'q-before' });
  expectFields(await alice.next((f) => f.event === 'message' || f.event === 'error', 10000), { event: 'message', seq: 1 }, 'before the restart');

  const bad = [];
  let lastSeq = 1;
  for (let round = 0; round < 8; round++) {
    await restartBroker(broker);
    // Right away: a history request, then one message at a time until one
    // is stored. Every answer must be the real one or `unavailable`.
    alice.send({ event: 'history', room: ROOM, limit: 1 });
    const h = await alice.next((f) => f.event === 'history' || (f.event === 'error' && !('id' in f)), 10000);
    if (!(h.event === 'history' || h.code === 'unavailable')) {
      bad.push(`round ${round}: > ${JSON.stringify({ event: 'history', room: ROOM, limit: 1 })} < ${JSON.stringify(h)}`);
    }
    let stored = null;
    for (let n = 0; n < 200 && !stored; n++) {
      const frame = { event: 'message', room: ROOM, message: `after ${round}.${n}`, id: `q-${round}-${n}` };
      alice.send(frame);
      const a = await alice.next((f) => (f.event === 'message' || f.event === 'error') && f.id === frame.id, 10000);
      if (a.event === 'message') stored = a;
      else {
        if (a.code !== 'unavailable') bad.push(`round ${round}: > ${JSON.stringify(frame)} < ${JSON.stringify(a)}`);
        await sleep(50);
      }
    }
    assert.ok(stored, `round ${round}: a message was stored after the restart`);
    assert.equal(stored.seq, lastSeq + 1, `round ${round}: seq continues: ${short(stored)}`);
    lastSeq = stored.seq;
  }
  assert.deepEqual(bad, [], 'answers right after a broker restart (the gateway\'s /healthz may never go 503)');
});
