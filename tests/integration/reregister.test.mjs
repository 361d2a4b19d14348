// reregister.test.mjs -- a gateway registering its connections again with a
// restarted broker, while clients keep sending and coming and going:
//   - no client event may overtake its connection's registration: a
//     connection that had entered never gets `not_in_room` (nor, in jwt
//     mode, `noauth`) just because the broker has not heard of it again
//     yet; the gateway holds its events until the registrations are queued
//     (or answers `unavailable` while the broker is down);
//   - a connection that closes around a register-again round is never
//     registered after its close: once everyone is gone, nobody is online.
// These are races: the test makes the windows busy (many clients sending
// every few milliseconds, several restarts) rather than exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, startGateway, connect, restartBroker, waitReady, sleep, waitFor, stop } from './harness.mjs';

const ROOM = 'rereg';

/** Every error a client receives, whatever else it takes from its queue. */
function watchErrors(c, errors) {
  c.ws.on('message', (data) => {
    let f;
    try { f = JSON.parse(data.toString()); } catch { return; }
    if (f.event === 'error' || f.event === 'noauth') errors.push({ who: c.label, ...f });
  });
}

test('a broker restart under traffic: no not_in_room, nobody left online after a close around the register-again round', { timeout: 120000 }, async (t) => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { rate_per_s: 100000 });
  const errors = [];
  const clients = [];
  for (let i = 0; i < 12; i++) {
    const c = await connect(gw, { label: `sender-${i}` });
    watchErrors(c, errors);
    await c.enter(ROOM, `S${i}`, { uid: `s${i}` });
    clients.push(c);
  }
  let sending = true;
  let sent = 0;
  const pump = (async () => {
    while (sending) {
      for (const c of clients) {
        if (c.closeInfo) continue;
        try { c.send({ event: 'message', room: ROOM, message: 'x', id: `m${sent++}` }); } catch { /* closing */ }
      }
      await sleep(1);
    }
  })();
  // Churn: connections that enter and close all along, some of them right
  // as the broker comes back.
  const churn = [];
  for (let round = 0; round < 4; round++) {
    await sleep(300);
    // SIGKILL: a crash (a graceful stop is another test's subject).
    await stop(broker.proc, 'SIGKILL');
    await restartBroker(broker);
    // Right as the gateway reconnects: close some, open others.
    const closing = [];
    for (let k = 0; k < 4; k++) {
      const c = await connect(gw, { label: `churn-${round}-${k}` }).catch(() => null);
      if (c) { churn.push(c); closing.push(c); }
    }
    for (const c of closing) c.send({ event: 'enter', room: ROOM, name: 'churn', uid: `churn-${round}-${closing.indexOf(c)}` });
    await waitReady(gw, 200, 10000);
    for (const c of closing) c.terminate();
    await sleep(200);
  }
  await sleep(500);
  sending = false;
  await pump;
  t.diagnostic(`${sent} messages sent across 4 broker restarts; errors: ${JSON.stringify(errors.reduce((m, e) => { m[e.code || e.event] = (m[e.code || e.event] || 0) + 1; return m; }, {}))}`);
  const wrong = errors.filter((e) => e.code !== 'unavailable');
  assert.deepEqual(wrong.slice(0, 10), [], `only unavailable while the broker is away (${wrong.length} others)`);

  // Everyone leaves; a fresh client then sees nobody else online.
  for (const c of clients) await c.close();
  await sleep(300);
  const probe = await connect(gw, { label: 'probe' });
  await probe.enter(ROOM, 'Probe', { uid: 'probe' });
  await waitFor(async () => {
    probe.send({ event: 'who', room: ROOM });
    const who = await probe.next('who');
    const online = who.members.filter((m) => m.online).map((m) => m.uid);
    return online.length === 1 && online[0] === 'probe' ? true : (t.diagnostic(`online: ${online}`), false);
  }, { timeoutMs: 10000, what: 'nobody but the probe online once every other connection closed' });
  await stop(gw.proc);
});

test('a connection that closes while the broker is unreachable (frozen, not restarted) goes offline once it answers again', { timeout: 60000 }, async (t) => {
  // gateway_timeout_ms is long, so the frozen broker does not drop the
  // gateway itself (which would make it register everything again).
  const broker = await startBroker({ gateway_timeout_ms: 20000 });
  const gw = await startGateway(broker, { rate_per_s: 1000 });
  const stay = await connect(gw, { label: 'stays' });
  await stay.enter(ROOM, 'Stays', { uid: 'stays' });
  const leave = await connect(gw, { label: 'leaves' });
  await leave.enter(ROOM, 'Leaves', { uid: 'leaves' });
  await stay.next({ event: 'enter', uid: 'leaves' });
  broker.proc.child.kill('SIGSTOP');
  try {
    // The gateway's poll times out (2 s): it counts the broker as down.
    await waitReady(gw, 503, 10000);
    await leave.close();
    await sleep(200);
  } finally {
    broker.proc.child.kill('SIGCONT');
  }
  await waitReady(gw, 200, 10000);
  const out = await stay.next({ event: 'out', uid: 'leaves' }, 10000).catch(() => null);
  stay.send({ event: 'who', room: ROOM });
  const who = await stay.next('who');
  const online = who.members.filter((m) => m.online).map((m) => m.uid).sort();
  t.diagnostic(`out event: ${JSON.stringify(out)}; online: ${online}`);
  assert.deepEqual(online, ['stays'], 'the connection closed while the broker was unreachable is offline');
  assert.ok(out, 'the room saw `out` for it');
});
