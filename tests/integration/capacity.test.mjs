// capacity.test.mjs -- a gateway on the shipped default `threads` (no
// override) holds far more WebSockets than the old default's 960: 2,500
// open at once, every one welcomed, in rooms, and reached by fan-out. The
// 10,000 figure, and every speed, belong to the benchmark (tests/bench).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startBroker, startGateway, connect, getMetrics, metric, waitFor,
} from './harness.mjs';

const CONNS = 2500;
const ROOMS = 25; // rooms of 100: the enter broadcasts stay modest
const BATCH = 250; // upgrades in flight at once

test(`default threads: ${CONNS} WebSockets at once, each welcomed, in its room and reached by a message`, { timeout: 240000 }, async () => {
  const broker = await startBroker();
  // threads: null drops the harness's small test value: the shipped default.
  const gw = await startGateway(broker, { threads: null });
  const before = (await getMetrics(gw)).metrics;
  const max = metric(before, 'roomcast_connections_max');
  assert.ok(max >= 10000, `the default holds at least 10,000 WebSockets (roomcast_connections_max ${max})`);

  const clients = [];
  for (let i = 0; i < CONNS; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(CONNS, i + BATCH); j++) {
      batch.push(connect(gw, { label: `c${j}`, timeoutMs: 60000 }));
    }
    clients.push(...await Promise.all(batch));
  }
  for (const c of clients) assert.equal(c.welcome.event, 'welcome', `${c.label} welcomed`);
  const open = (await getMetrics(gw)).metrics;
  assert.equal(metric(open, 'roomcast_connections'), CONNS, 'roomcast_connections counts every WebSocket');
  assert.equal(metric(open, 'roomcast_upgrades_refused_capacity_total'), 0, 'no upgrade refused for capacity');

  const room = (i) => `cap-${i % ROOMS}`;
  await Promise.all(clients.map((c, i) => c.enter(room(i), `n${i}`, {}, 60000)));
  for (const c of clients) c.drain(); // the others' enter broadcasts

  // One sender per room; every member of every room gets its room's message.
  for (let r = 0; r < ROOMS; r++) {
    clients[r].send({ event: 'message', room: room(r), message: `hello ${r}`, id: `m${r}` });
  }
  const copies = await Promise.all(clients.map((c, i) =>
    c.next({ event: 'message', room: room(i), message: `hello ${i % ROOMS}` }, 60000)));
  for (let i = 0; i < CONNS; i++) {
    assert.equal(copies[i].seq, 1, `${clients[i].label}: the room's first message`);
    assert.equal(copies[i].uid, clients[i % ROOMS].uid, `${clients[i].label}: from its room's sender`);
  }

  await Promise.all(clients.map((c) => c.close()));
  await waitFor(async () => metric((await getMetrics(gw)).metrics, 'roomcast_connections') === 0,
    { timeoutMs: 30000, what: 'every connection closed' });
});
