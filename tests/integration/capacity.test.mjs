// capacity.test.mjs -- a gateway on the shipped default `threads` (no
// override) holds far more WebSockets than the old default's 960: 2,500
// open at once, every one welcomed, in rooms, and reached by fan-out. The
// 10,000 figure, and every speed, belong to the benchmark (tests/bench).
// And a gateway whose open-file limit is too low for its workers says so
// and holds what fits, refusing the rest with 503 instead of hanging.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startBroker, startGateway, connect, getMetrics, metric, waitFor,
  spawnProc, gatewayAt, waitReady, freePort, rawUpgrade, BIN, WWW,
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

test('an open-file limit below the default threads: a warning naming it, fewer workers, 503 past them', { timeout: 120000 }, async (t) => {
  const broker = await startBroker();
  const port = await freePort();
  const LIMIT = 400;
  const args = ['-o', `events_url=${broker.events_url}`, '-o', `fanout_url=${broker.fanout_url}`,
    '-o', `listen=127.0.0.1:${port}`, '-o', `www=${WWW}`, '-o', 'id=gw-nofile', '-o', 'log_level=warn'];
  // ulimit sets the soft and the hard limit; the gateway may raise neither
  // unless it has CAP_SYS_RESOURCE.
  const proc = spawnProc('/bin/sh', ['-c', `ulimit -n ${LIMIT} && exec "$0" "$@"`, BIN.gateway, ...args], 'gateway nofile');
  const gw = gatewayAt(proc, port, 'gw-nofile');
  await waitReady(gw, 200, 30000);
  const max = metric((await getMetrics(gw)).metrics, 'roomcast_connections_max');
  if (!/event=capacity_limit limit=open_files/.test(proc.stderr)) {
    assert.ok(max >= 10000, `no warning, so the limit was raised: roomcast_connections_max ${max}`);
    t.skip('the gateway could raise its own hard limit (CAP_SYS_RESOURCE)');
    return;
  }
  assert.match(proc.stderr, new RegExp(`limit=open_files value=${LIMIT} needed=\\d+`), 'the warning names the figure');
  assert.ok(max > 0 && max <= LIMIT - 64, `connections capped below the limit: roomcast_connections_max ${max}`);
  const clients = [];
  for (let i = 0; i < max; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(max, i + 50); j++) batch.push(connect(gw, { label: `n${j}`, timeoutMs: 30000 }));
    clients.push(...await Promise.all(batch));
  }
  assert.equal(clients.length, max, 'every WebSocket up to the cap is accepted');
  const past = await rawUpgrade(gw, '/ws', {}, 10000);
  assert.equal(past.status, 503, `past the cap: 503, not a hang (got ${past.status})`);
  assert.equal(metric((await getMetrics(gw)).metrics, 'roomcast_upgrades_refused_capacity_total'), 1, 'the refusal is counted');
  await clients[0].ping();
  await Promise.all(clients.map((c) => c.close()));
});
