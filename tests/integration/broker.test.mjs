// broker.test.mjs -- the gateway without its broker: /healthz 503,
// `unavailable` errors, and recovery by itself when the broker comes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startBroker, restartBroker, startGateway, connect, stop, httpGet, getMetrics, metric,
  waitFor, waitReady, expectFields,
} from './harness.mjs';

const ROOM = 'outage';

async function health(gw) {
  const r = await httpGet(gw, '/healthz', { timeoutMs: 3000 });
  let body = null;
  try { body = JSON.parse(r.body); } catch { /* checked by the caller */ }
  return { status: r.status, body, raw: r.body };
}

test('broker stopped: healthz 503 and unavailable; restarted: the gateway recovers and seq continues', { timeout: 90000 }, async () => {
  const broker = await startBroker();
  const gwA = await startGateway(broker);
  const gwB = await startGateway(broker);
  expectFields((await health(gwA)).body, { status: 'ok', broker: 'up' }, '/healthz with the broker up');

  const alice = await connect(gwA, { label: 'alice@A' });
  alice.autoPong = true;
  await alice.enter(ROOM, 'Alice', { uid: 'alice' });
  alice.send({ event: 'message', room: ROOM, message: 'before', id: 'b-1' });
  expectFields(await alice.next({ event: 'message', message: 'before' }), { seq: 1, id: 'b-1' }, 'message before the outage');

  assert.equal(await stop(broker.proc), 0, 'broker SIGTERM exit status');

  // Both gateways notice (generous: 10 s).
  for (const gw of [gwA, gwB]) {
    const h = await waitFor(async () => { const x = await health(gw); return x.status === 503 ? x : false; },
      { timeoutMs: 10000, what: `${gw.id} /healthz 503 after the broker stopped` });
    assert.ok(h.body, `/healthz 503 body is JSON: ${h.raw}`);
    expectFields(h.body, { broker: 'down' }, `${gw.id} /healthz body with the broker down`);
  }
  const m = await getMetrics(gwA);
  assert.equal(metric(m.metrics, 'roomcast_broker_up'), 0, 'roomcast_broker_up with the broker down');

  // The connection stays open; a message is refused with unavailable (and not stored).
  alice.send({ event: 'message', room: ROOM, message: 'lost', id: 'd-1' });
  expectFields(await alice.next((f) => f.event === 'error' || (f.event === 'message' && f.message === 'lost'), 10000),
    { event: 'error', code: 'unavailable', id: 'd-1' }, 'message while the broker is down');
  await alice.ping();
  // A new connection is still welcomed; its enter fails cleanly.
  const carol = await connect(gwB, { label: 'carol@B' });
  carol.send({ event: 'enter', room: ROOM, name: 'Carol', uid: 'carol' });
  expectFields(await carol.next((f) => f.event === 'error' || f.event === 'enter', 10000),
    { event: 'error', code: 'unavailable' }, 'enter while the broker is down');

  // Restart on the same ports and database; the gateways recover by themselves.
  await restartBroker(broker);
  for (const gw of [gwA, gwB]) {
    await waitReady(gw, 200, 20000);
    expectFields((await health(gw)).body, { status: 'ok', broker: 'up' }, `${gw.id} /healthz after the restart`);
  }
  await waitFor(async () => metric((await getMetrics(gwA)).metrics, 'roomcast_broker_up') === 1,
    { timeoutMs: 5000, what: 'roomcast_broker_up back to 1' });

  // Chat works again; seq continues from the stored messages.
  alice.send({ event: 'enter', room: ROOM, name: 'Alice', uid: 'alice', since: 1 });
  await alice.next({ event: 'enter', uid: 'alice' }, 10000);
  const bob = await connect(gwB, { label: 'bob@B' });
  expectFields(await bob.enter(ROOM, 'Bob', { uid: 'bob' }), { seq: 1, num: 2, total: 2 }, 'bob enter after the restart');
  bob.send({ event: 'message', room: ROOM, message: 'after', id: 'a-1' });
  for (const c of [alice, bob]) {
    expectFields(await c.next({ event: 'message', message: 'after' }, 10000),
      { room: ROOM, uid: 'bob', seq: 2, id: 'a-1' }, `${c.label}: message after the restart`);
  }
  assert.deepEqual([...alice.pending('message'), ...bob.pending('message')], [], 'the refused message was not stored or delivered');
  bob.send({ event: 'history', room: ROOM });
  const h = await bob.next('history');
  assert.deepEqual(h.messages.map((x) => [x.seq, x.message]), [[1, 'before'], [2, 'after']],
    `history after the outage: ${JSON.stringify(h)}`);
});
