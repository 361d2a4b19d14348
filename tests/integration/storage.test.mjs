// storage.test.mjs -- the broker survives storage failures (issue 11): a full
// disk, the database directory moved away or removed, a database file that
// refuses writes. Each time: the broker stays up, the message that could not
// be stored gets `unavailable` (with its id), history / who / heartbeats keep
// working, roomcast_broker_storage_ok says 0, and once storage takes writes
// again the same message resent with the same id is stored exactly once, with
// the next seq, without a restart; nothing any client received is lost.
//
// The disk is a small tmpfs mounted by the test (root); the read-only case
// uses a small ext4 file system on a loop device (see that test for why).
// Each mount is undone in a finally block, after the broker is killed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  startBroker, restartBroker, startGateway, connect, getMetrics, metric, waitFor,
  expectFields, tempDir, sleep,
} from './harness.mjs';

const ROOM = 'disk';

function sh(cmd, args) {
  return execFileSync(cmd, args, { stdio: 'pipe' }).toString();
}

/** Mounts a file system for a test; returns {dir, umount} or a reason it
 *  cannot (not root, no mount). */
function mountTmpfs(bytes) {
  const dir = tempDir('roomcast-disk-');
  try {
    sh('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
  } catch (e) {
    return { skip: `cannot mount a tmpfs (${String(e.stderr || e.message).trim()}): this test needs root` };
  }
  return { dir, umount: () => { try { sh('umount', ['-l', dir]); } catch { /* gone */ } } };
}

function mountExt4(bytes) {
  const base = tempDir('roomcast-ext4-');
  const img = path.join(base, 'fs.img');
  const dir = path.join(base, 'mnt');
  fs.mkdirSync(dir);
  try {
    fs.writeFileSync(img, '');
    fs.truncateSync(img, bytes);
    sh('mkfs.ext4', ['-q', img]);
    sh('mount', ['-o', 'loop', img, dir]);
  } catch (e) {
    return { skip: `cannot mount an ext4 loop file system (${String(e.stderr || e.message).trim()}): this test needs root and loop devices` };
  }
  return { dir, umount: () => { try { sh('umount', ['-l', dir]); } catch { /* gone */ } } };
}

/** Fills the file system holding `dir` with a file until it is full. */
function fill(dir) {
  const file = path.join(dir, 'filler');
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 7);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (e) {
    if (e.code !== 'ENOSPC') throw e;
  }
  const small = Buffer.alloc(512, 7);
  try { for (;;) fs.writeSync(fd, small); } catch (e) { if (e.code !== 'ENOSPC') throw e; }
  fs.closeSync(fd);
  return file;
}

async function storageOk(gw) {
  return metric((await getMetrics(gw)).metrics, 'roomcast_broker_storage_ok');
}

/** Sends a message and waits for its echo or an error naming its id. */
async function send(c, text, id) {
  c.send({ event: 'message', room: ROOM, message: text, id });
  return c.next((f) => (f.event === 'message' && f.id === id) || (f.event === 'error' && f.id === id), 15000);
}

async function history(c) {
  c.send({ event: 'history', room: ROOM, limit: 200 });
  return (await c.next('history', 10000)).messages;
}

/** Two chatters on one gateway; alice has sent `n` messages. */
async function chat(gw, n) {
  const alice = await connect(gw, { label: 'alice' });
  const bob = await connect(gw, { label: 'bob' });
  alice.autoPong = bob.autoPong = true;
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  await bob.enter(ROOM, 'Bob', { uid: 'bob' });
  for (let i = 1; i <= n; i++) expectFields(await send(alice, `before ${i}`, `b-${i}`), { event: 'message', seq: i }, `message ${i}`);
  await bob.collect({ event: 'message' }, n, 10000);
  return { alice, bob };
}

/** While storage refuses writes: unavailable with the id (and nothing
 *  broadcast), and what needs no write still answers. Returns the refused
 *  message's id. */
async function whileDown(gw, alice, bob, id, stored) {
  const r = await send(alice, `refused ${id}`, id);
  expectFields(r, { event: 'error', code: 'unavailable', id }, 'a message while storage fails');
  await waitFor(async () => (await storageOk(gw)) === 0, { timeoutMs: 10000, what: 'roomcast_broker_storage_ok 0' });
  const m = (await getMetrics(gw)).metrics;
  assert.ok(metric(m, 'roomcast_broker_storage_errors_total') >= 1, 'storage errors are counted');
  // Refused up front now, with the id again.
  expectFields(await send(alice, 'refused again', `${id}-again`), { event: 'error', code: 'unavailable', id: `${id}-again` }, 'a second message while down');
  // Reads and heartbeats work; the connections are still in the room.
  const h = await history(alice);
  assert.deepEqual(h.map((x) => x.seq), stored, 'history while storage fails');
  alice.send({ event: 'who', room: ROOM });
  const who = await alice.next('who', 10000);
  assert.deepEqual(who.members.map((x) => x.uid).sort(), ['alice', 'bob'], 'who while storage fails');
  await alice.ping();
  await bob.ping();
  assert.deepEqual(bob.pending((f) => f.event === 'message'), [], 'nothing refused was broadcast');
}

/** After recovery: the refused message resent with its id is stored once,
 *  with the next seq, and reaches bob once; a second resend stores nothing. */
async function afterRecovery(gw, alice, bob, id, nextSeq) {
  await waitFor(async () => (await storageOk(gw)) === 1, { timeoutMs: 15000, what: 'roomcast_broker_storage_ok back to 1' });
  // The first resends may still meet the register-again round: retry.
  let echo;
  await waitFor(async () => {
    echo = await send(alice, `refused ${id}`, id);
    return echo.event === 'message';
  }, { timeoutMs: 15000, interval: 200, what: `the resend of ${id} stored` });
  expectFields(echo, { seq: nextSeq, id, uid: 'alice' }, 'the resend after recovery');
  expectFields(await bob.next({ event: 'message', id }, 10000), { seq: nextSeq }, 'bob gets the resend');
  expectFields(await send(alice, `refused ${id}`, id), { event: 'message', seq: nextSeq }, 'a second resend: the original back');
  await sleep(300);
  assert.deepEqual(bob.pending((f) => f.event === 'message' && f.id === id), [], 'the second resend is not broadcast');
  const h = await history(alice);
  assert.deepEqual(h.map((x) => x.seq), Array.from({ length: nextSeq }, (_, i) => i + 1), 'seqs have no gap and no repeat');
  assert.equal(h.filter((x) => x.id === id).length, 1, 'stored exactly once');
  assert.equal(h.filter((x) => x.id === `${id}-again`).length, 0, 'the refused message that was not resent is not stored');
}

function logLines(broker, event) {
  return broker.proc.stderr.split('\n').filter((l) => l.includes(`event=${event}`));
}

test('a full disk: unavailable, reads keep working, writes resume when space comes back', { timeout: 120000 }, async (t) => {
  const disk = mountTmpfs(3 * 1024 * 1024);
  if (disk.skip) { t.skip(disk.skip); return; }
  let broker;
  try {
    broker = await startBroker({ db: path.join(disk.dir, 'db', 'roomcast.db'), log_level: 'info' });
    const gw = await startGateway(broker, { rate_per_s: 1000 });
    const { alice, bob } = await chat(gw, 3);
    assert.equal(await storageOk(gw), 1, 'roomcast_broker_storage_ok with room on disk');
    const filler = fill(disk.dir);
    // The WAL may have some room left: send until a message is refused.
    const big = 'x'.repeat(15000);
    let seq = 3, refused = null;
    for (let i = 1; i <= 60 && !refused; i++) {
      const r = await send(alice, big, `f-${i}`);
      if (r.event === 'message') {
        assert.equal(r.seq, ++seq, 'stored messages keep their order');
        await bob.next({ event: 'message', id: `f-${i}` }, 10000);
      } else {
        expectFields(r, { code: 'unavailable' }, 'the refused message');
        refused = `f-${i}`;
      }
    }
    assert.ok(refused, 'a message is refused once the disk is full');
    // Resend it while the disk is still full: still refused.
    const stored = Array.from({ length: seq }, (_, i) => i + 1);
    await whileDown(gw, alice, bob, refused, stored);
    assert.equal(broker.proc.exitCode, null, 'the broker is still running');
    fs.rmSync(filler);
    await afterRecovery(gw, alice, bob, refused, seq + 1);
    assert.equal(logLines(broker, 'storage_failed').length, 1, `one storage_failed line:\n${broker.proc.stderr}`);
    assert.equal(logLines(broker, 'storage_recovered').length, 1, 'one storage_recovered line');
    // Nothing anyone received is lost: a restart has all of it.
    await restartBroker(broker);
    const carol = await connect(gw, { label: 'carol' });
    await waitFor(async () => {
      carol.send({ event: 'enter', room: ROOM, name: 'Carol', uid: 'carol' });
      const f = await carol.next((x) => x.event === 'enter' || x.event === 'error', 5000);
      return f.event === 'enter';
    }, { timeoutMs: 20000, interval: 300, what: 'carol enters after the restart' });
    const h = await history(carol);
    assert.deepEqual(h.map((x) => x.seq), Array.from({ length: seq + 1 }, (_, i) => i + 1), 'every stored message survives a restart');
  } finally {
    if (broker && broker.proc.exitCode === null) broker.proc.child.kill('SIGKILL');
    await sleep(100);
    disk.umount();
  }
});

test('the database directory moved away and back, then removed: the broker stays up', { timeout: 120000 }, async () => {
  const base = tempDir();
  const dbdir = path.join(base, 'dbdir');
  const broker = await startBroker({ db: path.join(dbdir, 'roomcast.db'), log_level: 'info' });
  const gw = await startGateway(broker, { rate_per_s: 1000 });
  const { alice, bob } = await chat(gw, 2);
  // Moved away: SQLite would go on writing into the moved file, and those
  // messages would not be there at the next start. The broker refuses.
  fs.renameSync(dbdir, `${dbdir}.away`);
  await whileDown(gw, alice, bob, 'm-1', [1, 2]);
  fs.renameSync(`${dbdir}.away`, dbdir);
  await afterRecovery(gw, alice, bob, 'm-1', 3);
  // Removed for good: still up, reads still answer, writes refused.
  fs.rmSync(dbdir, { recursive: true, force: true });
  await whileDown(gw, alice, bob, 'm-2', [1, 2, 3]);
  await sleep(1500);
  expectFields(await send(alice, 'still refused', 'm-3'), { event: 'error', code: 'unavailable' }, 'writes stay refused');
  assert.equal(broker.proc.exitCode, null, 'the broker is still running');
});

test('a database file that refuses writes (read-only): unavailable, then back', { timeout: 120000 }, async (t) => {
  // `mount -o remount,ro` is refused by the kernel (EBUSY) while a process
  // holds files open for writing, as the broker does; an immutable WAL file
  // on ext4 (chattr +i) makes every write fail (EPERM) the same way a
  // read-only file system would, and can be undone.
  const disk = mountExt4(16 * 1024 * 1024);
  if (disk.skip) { t.skip(disk.skip); return; }
  let broker;
  try {
    const db = path.join(disk.dir, 'roomcast.db');
    broker = await startBroker({ db, log_level: 'info' });
    const gw = await startGateway(broker, { rate_per_s: 1000 });
    const { alice, bob } = await chat(gw, 2);
    let how = 'remount';
    try { sh('mount', ['-o', 'remount,ro', disk.dir]); } catch {
      how = 'chattr';
      sh('chattr', ['+i', `${db}-wal`, db]);
    }
    await whileDown(gw, alice, bob, 'r-1', [1, 2]);
    if (how === 'remount') sh('mount', ['-o', 'remount,rw', disk.dir]);
    else sh('chattr', ['-i', `${db}-wal`, db]);
    await afterRecovery(gw, alice, bob, 'r-1', 3);
  } finally {
    if (broker && broker.proc.exitCode === null) broker.proc.child.kill('SIGKILL');
    await sleep(100);
    disk.umount();
  }
});

test('a room whose load from storage fails is refused and not kept (no seq from 0 again)', { timeout: 60000 }, async (t) => {
  try { sh('sqlite3', ['-version']); } catch { t.skip('the sqlite3 command is not installed (Debian package sqlite3)'); return; }
  const broker = await startBroker();
  const gw = await startGateway(broker, { rate_per_s: 1000 });
  const alice = await connect(gw, { label: 'alice' });
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  for (let i = 1; i <= 3; i++) expectFields(await send(alice, `m ${i}`, `m-${i}`), { seq: i }, `message ${i}`);
  await alice.close();
  await sleep(300); // nobody present: the broker frees the room from memory
  // Another process renames a table the load reads: the next load fails.
  const sql = (q) => sh('sqlite3', ['-cmd', '.timeout 5000', broker.db, q]);
  sql('ALTER TABLE rooms RENAME TO rooms_away');
  const bob = await connect(gw, { label: 'bob' });
  bob.send({ event: 'enter', room: ROOM, name: 'Bob', uid: 'bob' });
  expectFields(await bob.next((f) => f.event === 'enter' || f.event === 'error', 10000),
    { event: 'error', code: 'unavailable' }, 'enter while the room cannot be loaded');
  sql('ALTER TABLE rooms_away RENAME TO rooms');
  // Loaded again from storage: the room goes on from seq 3.
  expectFields(await bob.enter(ROOM, 'Bob', { uid: 'bob' }, 10000), { seq: 3, total: 2 }, 'enter once storage reads again');
  expectFields(await send(bob, 'after', 'b-1'), { event: 'message', seq: 4 }, 'the next message continues the room');
});

test('a full disk under traffic from two gateways: every message stored once, seqs gapless, every member gets each once', { timeout: 180000 }, async (t) => {
  const disk = mountTmpfs(3 * 1024 * 1024);
  if (disk.skip) { t.skip(disk.skip); return; }
  let broker;
  try {
    broker = await startBroker({ db: path.join(disk.dir, 'roomcast.db'), log_level: 'info' });
    const gwA = await startGateway(broker, { rate_per_s: 1000 });
    const gwB = await startGateway(broker, { rate_per_s: 1000 });
    const clients = [];
    for (const [gw, name] of [[gwA, 'c1'], [gwA, 'c2'], [gwB, 'c3'], [gwB, 'c4']]) {
      const c = await connect(gw, { label: name });
      c.autoPong = true;
      c.got = new Map(); // seq -> count, every message event received
      c.ws.on('message', (d) => {
        let f; try { f = JSON.parse(d.toString()); } catch { return; }
        if (f.event === 'message') c.got.set(f.seq, (c.got.get(f.seq) || 0) + 1);
      });
      await c.enter(ROOM, name, { uid: name });
      clients.push(c);
    }
    const PER = 30;
    let refusals = 0;
    const sender = async (c) => {
      for (let i = 1; i <= PER; i++) {
        const id = `${c.label}-${i}`;
        for (let attempt = 0; ; attempt++) {
          assert.ok(attempt < 200, `${id} is stored in the end`);
          c.send({ event: 'message', room: ROOM, message: `${id} ${'z'.repeat(2000)}`, id });
          const f = await c.next((x) => x.id === id && (x.event === 'error' || (x.event === 'message' && x.uid === c.label)), 20000);
          if (f.event === 'message') break;
          assert.equal(f.code, 'unavailable', `${id}: ${JSON.stringify(f)}`);
          refusals++;
          await sleep(100);
        }
        await sleep(10);
      }
    };
    const senders = clients.map(sender);
    await sleep(150);
    const filler = fill(disk.dir);
    await waitFor(async () => (await storageOk(gwA)) === 0, { timeoutMs: 20000, what: 'storage fails under traffic' });
    await sleep(1000);
    fs.rmSync(filler);
    await Promise.all(senders);
    assert.ok(refusals > 0, 'some messages were refused while the disk was full');
    const N = PER * clients.length;
    const h = await history(clients[0]);
    assert.deepEqual(h.map((m) => m.seq), Array.from({ length: N }, (_, i) => i + 1), 'seqs 1..N, no gap, no repeat');
    assert.equal(new Set(h.map((m) => m.id)).size, N, 'each message stored once');
    for (const c of clients) {
      await waitFor(() => c.got.size === N, { timeoutMs: 10000, what: `${c.label} has every message` });
      const twice = [...c.got].filter(([, n]) => n > 1).map(([s]) => s);
      assert.deepEqual(twice, [], `${c.label} got no message twice`);
    }
  } finally {
    if (broker && broker.proc.exitCode === null) broker.proc.child.kill('SIGKILL');
    await sleep(100);
    disk.umount();
  }
});
