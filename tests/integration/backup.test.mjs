// backup.test.mjs -- bin/roomcast-backup copies a running broker's database
// while messages are being sent; a new broker started on the copy has every
// message stored before the backup began, as a gapless prefix of what was
// sent, and goes on from there. Also its refusals (existing DEST, no db).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  ROOT, startBroker, startGateway, connect, runCli, tempDir, expectFields,
} from './harness.mjs';

const BACKUP = path.join(process.env.ROOMCAST_BIN_DIR ? path.resolve(process.env.ROOMCAST_BIN_DIR) : path.join(ROOT, 'bin'), 'roomcast-backup');
const ROOM = 'kept';

test('a backup taken while messages are sent restores every message stored before it', { timeout: 120000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { rate_per_s: 100000 });
  const alice = await connect(gw, { label: 'alice' });
  alice.autoPong = true;
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  // Some history first, each acknowledged (echoed, hence stored).
  const sent = [];
  const echoed = new Map(); // seq -> text
  alice.ws.on('message', (d) => {
    let f; try { f = JSON.parse(d.toString()); } catch { return; }
    if (f.event === 'message' && f.uid === 'alice') echoed.set(f.seq, f.message);
  });
  const text = (i) => `msg ${i} ${'y'.repeat(i % 7 === 0 ? 3000 : 40)}`;
  for (let i = 1; i <= 60; i++) {
    alice.send({ event: 'message', room: ROOM, message: text(i), id: `m-${i}` });
    sent.push(i);
  }
  await alice.collect({ event: 'message' }, 60, 20000);
  // Keep sending while the backup runs.
  let n = 60, sending = true;
  const loop = (async () => {
    while (sending && n < 150) {
      n++;
      alice.send({ event: 'message', room: ROOM, message: text(n), id: `m-${n}` });
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  await new Promise((r) => setTimeout(r, 50));
  const storedBefore = Math.max(...echoed.keys());
  const dest = path.join(tempDir(), 'backup.db');
  const r = await runCli(BACKUP, ['-o', `db=${broker.db}`, '-o', 'log_level=warn', '--pages', '1', dest], 60000);
  sending = false;
  await loop;
  assert.equal(r.code, 0, `roomcast-backup exit status; stderr: ${r.stderr}`);
  assert.match(r.stdout, /integrity ok/, 'the copy was checked');
  const steps = Number(/(\d+) steps/.exec(r.stdout)[1]);
  assert.ok(steps > 1, `copied in several steps: ${r.stdout}`);
  assert.ok(!fs.existsSync(`${dest}-wal`), 'the backup is one file');
  // Everything sent is acknowledged before we compare.
  await alice.collect({ event: 'message' }, n - 60, 20000);
  broker.proc.child.kill('SIGKILL');

  // Restore: a new broker on the copy.
  const dir = tempDir();
  const db = path.join(dir, 'roomcast.db');
  fs.copyFileSync(dest, db);
  const restored = await startBroker({ db });
  const gw2 = await startGateway(restored);
  const bob = await connect(gw2, { label: 'bob' });
  const enter = await bob.enter(ROOM, 'Bob', { uid: 'bob' });
  const last = enter.seq;
  assert.ok(last >= storedBefore, `the restore has every message stored before the backup began (${last} >= ${storedBefore})`);
  assert.ok(last <= n, 'and nothing that was never sent');
  bob.send({ event: 'history', room: ROOM, limit: 200 });
  const h = await bob.next('history', 10000);
  assert.deepEqual(h.messages.map((m) => m.seq), Array.from({ length: last }, (_, i) => i + 1), 'a gapless prefix');
  for (const m of h.messages) assert.equal(m.message, echoed.get(m.seq), `message ${m.seq} as it was echoed`);
  // The restored broker goes on from there; those seqs are given again.
  bob.send({ event: 'message', room: ROOM, message: 'after the restore', id: 'r-1' });
  expectFields(await bob.next({ event: 'message', id: 'r-1' }, 10000), { seq: last + 1 }, 'the next message after the restore');
});

test('roomcast-backup refuses an existing DEST and a missing database', async () => {
  const dir = tempDir();
  const dest = path.join(dir, 'exists.db');
  fs.writeFileSync(dest, 'keep me');
  const db = path.join(dir, 'none.db');
  const a = await runCli(BACKUP, ['-o', `db=${db}`, path.join(dir, 'x.db')]);
  assert.equal(a.code, 2, 'a missing database: exit 2');
  assert.match(a.stderr, /cannot read the database/);
  fs.writeFileSync(db, '');
  const b = await runCli(BACKUP, ['-o', `db=${db}`, dest]);
  assert.equal(b.code, 2, 'an existing DEST: exit 2');
  assert.match(b.stderr, /never overwritten/);
  assert.equal(fs.readFileSync(dest, 'utf8'), 'keep me', 'DEST untouched');
  const c = await runCli(BACKUP, ['-o', `db=${db}`]);
  assert.equal(c.code, 2, 'no DEST: exit 2');
});
