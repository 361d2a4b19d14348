// delete.test.mjs -- the client's `delete` event (docs/protocol.md): an author
// deletes their own message, every online member hears `delete`, history
// and catch-up show the placeholder, the text is gone from the database
// file; another's message is forbidden, a seq the room never had is
// bad_request, a room not entered is not_in_room; deleting twice is
// harmless. Also across two gateways and after a broker restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  startBroker, startGateway, connect, stop, restartBroker, waitFor, expectFields,
} from './harness.mjs';

function placeholder(m, fields) {
  expectFields(m, { event: 'message', deleted: true, ...fields });
  assert.ok(!('message' in m), `a deleted message has no text: ${JSON.stringify(m)}`);
}

test('an author deletes their own message; everyone sees the placeholder', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const g1 = await startGateway(broker, { rate_per_s: 1000 });
  const g2 = await startGateway(broker, { rate_per_s: 1000 });
  const a = await connect(g1, { label: 'alice' });
  const b = await connect(g2, { label: 'bob' });
  await a.enter('r', 'Alice', { uid: 'alice' });
  await b.enter('r', 'Bob', { uid: 'bob' });
  a.send({ event: 'message', room: 'r', message: 'TOP-SECRET-7731 oops', id: 'm1' });
  a.send({ event: 'message', room: 'r', message: 'kept' });
  await b.next({ event: 'message', seq: 2 });
  await a.next({ event: 'message', seq: 2 });

  a.send({ event: 'delete', room: 'r', seq: 1 });
  for (const c of [a, b]) {
    const ev = await c.next({ event: 'delete' });
    assert.deepEqual(ev, { event: 'delete', room: 'r', seq: 1, by: 'alice' });
  }
  // Twice: harmless; the requester hears `delete` again, nothing else.
  a.send({ event: 'delete', room: 'r', seq: 1 });
  assert.deepEqual(await a.next({ event: 'delete' }), { event: 'delete', room: 'r', seq: 1, by: 'alice' });
  await b.ping();
  assert.deepEqual(b.pending({ event: 'delete' }), [], 'no second broadcast');

  b.send({ event: 'history', room: 'r' });
  const h = await b.next({ event: 'history' });
  placeholder(h.messages[0], { seq: 1, uid: 'alice', name: 'Alice', id: 'm1' });
  expectFields(h.messages[1], { seq: 2, message: 'kept' });

  // Catch-up: a newcomer with since, and bob coming back from offline.
  await b.close();
  const c = await connect(g2, { label: 'carol' });
  c.send({ event: 'enter', room: 'r', name: 'Carol', uid: 'carol', since: 0 });
  placeholder(await c.next({ event: 'message', seq: 1 }), { replay: true, uid: 'alice' });
  expectFields(await c.next({ event: 'message', seq: 2 }), { replay: true, message: 'kept' });
  await c.next({ event: 'enter', uid: 'carol' });

  // The text is gone from the database file and its WAL while the broker
  // runs (the erase is followed by a checkpoint that empties the WAL) ...
  const dbFiles = () => fs.readdirSync(broker.dir).filter((f) => f.startsWith(path.basename(broker.db)));
  await waitFor(() => dbFiles().every((f) => !fs.readFileSync(path.join(broker.dir, f)).includes('TOP-SECRET-7731')),
    { what: 'the deleted text to leave the database files (and its WAL)', timeoutMs: 10000 });
  // ... and once the broker has stopped.
  await stop(broker.proc);
  const files = fs.readdirSync(broker.dir).filter((f) => f.startsWith(path.basename(broker.db)));
  assert.ok(files.length > 0, 'database files exist');
  for (const f of files) {
    const bytes = fs.readFileSync(path.join(broker.dir, f));
    assert.ok(!bytes.includes('TOP-SECRET-7731'), `${f} still holds the deleted text`);
  }
  assert.ok(fs.readFileSync(broker.db).includes('kept'), 'the other message is in the file');

  // After a restart the placeholder stays.
  await restartBroker(broker);
  const d = await connect(g1, { label: 'dave' });
  await waitFor(async () => {
    d.send({ event: 'enter', room: 'r', name: 'Dave', uid: 'dave', since: 0 });
    const m = await d.next({ event: 'message', seq: 1 }, 2000).catch(() => null);
    return m;
  }, { what: 'replay after restart' }).then((m) => placeholder(m, { uid: 'alice' }));
});

test('delete errors: another\'s message, a seq never had, a room not entered, bad fields', { timeout: 30000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { rate_per_s: 1000 });
  const a = await connect(gw, { label: 'alice' });
  const b = await connect(gw, { label: 'bob' });
  await a.enter('r', 'Alice', { uid: 'alice' });
  await b.enter('r', 'Bob', { uid: 'bob' });
  a.send({ event: 'message', room: 'r', message: 'mine' });
  await b.next({ event: 'message', seq: 1 });

  b.send({ event: 'delete', room: 'r', seq: 1 });
  expectFields(await b.next({ event: 'error' }), { code: 'forbidden' });
  for (const seq of [2, 1000]) {
    b.send({ event: 'delete', room: 'r', seq });
    expectFields(await b.next({ event: 'error' }), { code: 'bad_request' });
  }
  b.send({ event: 'delete', room: 'elsewhere', seq: 1 });
  expectFields(await b.next({ event: 'error' }), { code: 'not_in_room' });
  for (const bad of [{ room: 'r' }, { room: 'r', seq: '1' }, { room: 'r', seq: 0 }, { room: 'r', seq: -1 },
    { room: 'r', seq: 1.5 }, { seq: 1 }, { room: 'bad room', seq: 1 }]) {
    b.send({ event: 'delete', ...bad });
    expectFields(await b.next({ event: 'error' }), { code: 'bad_request' });
  }
  // Same uid on another connection may delete it.
  const a2 = await connect(gw, { label: 'alice-2' });
  await a2.enter('r', 'Alice', { uid: 'alice' });
  a2.send({ event: 'delete', room: 'r', seq: 1 });
  for (const c of [a, a2, b]) expectFields(await c.next({ event: 'delete' }), { seq: 1, by: 'alice' });
  // A deleted message cannot be deleted by another either (still forbidden).
  b.send({ event: 'delete', room: 'r', seq: 1 });
  expectFields(await b.next({ event: 'error' }), { code: 'forbidden' });
});
