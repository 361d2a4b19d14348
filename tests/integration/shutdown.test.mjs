// shutdown.test.mjs -- a graceful stop of the broker handles every events
// message it has taken in (issue 11: the stop loop used to pop one and throw
// it away each turn, so a stop with work queued lost messages from the
// middle of a client's stream, unanswered). The broker is frozen (SIGSTOP)
// while a client sends, then let go and stopped at once: it handles one
// record a round with a synced commit each (commit_batch 1, db_sync full),
// so most of the burst is still queued when SIGTERM arrives. What it
// stores must be a gapless prefix of what was sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startBroker, restartBroker, startGateway, connect, stop, sleep, waitFor,
} from './harness.mjs';

const ROOM = 'stop';

test('SIGTERM with events queued: every one taken in is handled, none dropped from the middle', { timeout: 60000 }, async () => {
  // commit_batch 1: one record a round, so the stop loop runs many turns.
  const broker = await startBroker({ commit_batch: 1, db_sync: 'full' });
  const gw = await startGateway(broker, { rate_per_s: 100000 });
  const alice = await connect(gw, { label: 'alice' });
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  process.kill(broker.proc.pid, 'SIGSTOP');
  const N = 80;
  try {
    for (let i = 1; i <= N; i++) {
      alice.send({ event: 'message', room: ROOM, message: `m ${i}`, id: `m-${i}` });
      await sleep(5); // one events batch each, queued in nng meanwhile
    }
    await sleep(200);
  } finally {
    process.kill(broker.proc.pid, 'SIGCONT');
  }
  await sleep(30);
  process.kill(broker.proc.pid, 'SIGTERM');
  assert.equal(await stop(broker.proc, 'SIGTERM', 15000), 0, 'graceful exit status');
  const received = alice.pending((f) => f.event === 'message').length;
  const stored = broker.proc.stderr;
  await restartBroker(broker, { commit_batch: 500 });
  const bob = await connect(gw, { label: 'bob' });
  await waitFor(async () => {
    bob.send({ event: 'enter', room: ROOM, name: 'Bob', uid: 'bob' });
    const f = await bob.next((x) => x.event === 'enter' || x.event === 'error', 5000);
    return f.event === 'enter';
  }, { timeoutMs: 20000, interval: 300, what: 'bob enters after the restart' });
  bob.send({ event: 'history', room: ROOM, limit: 200 });
  const h = (await bob.next('history', 10000)).messages;
  const ids = h.map((m) => Number(m.id.slice(2)));
  assert.ok(ids.length > 1, `more than one message was stored (${stored})`);
  assert.ok(ids.length >= received, 'every echoed message is stored');
  assert.deepEqual(ids, Array.from({ length: ids.length }, (_, i) => i + 1),
    `stored messages are a gapless prefix of those sent: ${ids.join(',')}`);
});
