// raft.test.mjs -- the replicated broker (README "A replicated broker"):
// three brokers in a Raft group (node_id, peers, raft_dir) and two gateways
// given every member's URLs, comma-separated:
//   - a steady stream of messages from a client on one gateway to a client
//     on the other; the leader is SIGKILLed mid-stream; chat resumes (a
//     functional bound of 15 s, not a speed figure) and every message the
//     receiver got before and after is in history with the same seq;
//   - /healthz names the member a gateway uses ("leader": ID);
//   - two of three members down: events get `unavailable`;
//   - SIGSTOP instead: the same, then the frozen member is thawed, the new
//     leader is killed, and the group of the thawed member and the third
//     serves with every message (the thawed one caught up);
//   - a follower is killed, the others take snapshots (raft_snapshot_rounds
//     lowered), its db and raft_dir are deleted, it restarts, installs a
//     snapshot, catches up (its broker_raft_follower_lag_N on the leader's
//     /metrics goes from behind to 0) and later serves as leader with every
//     message and the same seqs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  startBroker, restartBroker, startGateway, connect, waitFor, sleep, stop, httpGet, freePort,
  tempDir, getMetrics, metric,
} from './harness.mjs';

const ROOM = 'replicated';

async function startGroup(extra = {}) {
  const ports = [await freePort(), await freePort(), await freePort()];
  const peers = ports.map((p, i) => `${i + 1}=127.0.0.1:${p}`).join(',');
  const members = [];
  for (let i = 0; i < 3; i++) {
    const dir = tempDir('roomcast-raft-');
    members.push(await startBroker({
      db: path.join(dir, 'roomcast.db'),
      events_url: `tcp://127.0.0.1:${await freePort()}`,
      fanout_url: `tcp://127.0.0.1:${await freePort()}`,
      node_id: i + 1, peers, raft_dir: path.join(dir, 'raft'), log_level: 'info', ...extra,
    }));
  }
  const group = {
    members, gateways: 0,
    events_url: members.map((m) => m.events_url).join(','),
    fanout_url: members.map((m) => m.fanout_url).join(','),
  };
  return group;
}

async function healthz(gw) {
  const r = await httpGet(gw, '/healthz');
  let body = {};
  try { body = JSON.parse(r.body); } catch { /* */ }
  return { status: r.status, body };
}

/** Sends message i with client id `m<i>` until one is stored (the sender
 *  sees its own copy), resending on `unavailable` or silence. */
async function sendStored(c, i, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  const id = `m${i}`;
  while (Date.now() < deadline) {
    c.send({ event: 'message', room: ROOM, message: `text ${i}`, id });
    try {
      const f = await c.next((f) => f.id === id && (f.event === 'message' || f.event === 'error'), 1500);
      if (f.event === 'message') return f;
    } catch { /* no answer: resend by id */ }
    await sleep(100);
  }
  throw new Error(`message ${i} not stored within ${timeoutMs} ms`);
}

/** 3 members, 2 gateways, a stream from a client on one to a client on the
 *  other; the leader gets `signal` mid-stream. Returns what later checks
 *  need. */
async function failover(signal) {
  const group = await startGroup();
  const gwA = await startGateway(group, { rate_per_s: 100000 }).catch(async (e) => {
    throw new Error(`${e.message}\n${group.members.map((m) => m.proc.stderr).join('\n')}`);
  });
  const gwB = await startGateway(group, { rate_per_s: 100000 });
  const h = await healthz(gwA);
  assert.equal(h.status, 200);
  assert.ok(h.body.leader >= 1 && h.body.leader <= 3, `healthz names the member in use: ${JSON.stringify(h.body)}`);

  const sender = await connect(gwA, { label: 'sender' });
  await sender.enter(ROOM, 'Sender', { uid: 'sender' });
  const receiver = await connect(gwB, { label: 'receiver' });
  await receiver.enter(ROOM, 'Receiver', { uid: 'receiver' });
  const delivered = new Map(); // id -> seq, as the receiver saw them
  receiver.ws.on('message', (data) => {
    let f;
    try { f = JSON.parse(data.toString()); } catch { return; }
    if (f.event !== 'message' || !f.id) return;
    if (delivered.has(f.id)) assert.equal(delivered.get(f.id), f.seq, `${f.id} delivered twice with two seqs`);
    delivered.set(f.id, f.seq);
  });

  let i = 0;
  for (; i < 30; i++) await sendStored(sender, i);
  await waitFor(() => delivered.size >= 30, { what: 'the first 30 messages delivered' });

  const leader = (await healthz(gwA)).body.leader;
  const victim = group.members[leader - 1];
  if (signal === 'SIGKILL') await stop(victim.proc, 'SIGKILL');
  else process.kill(victim.proc.pid, signal);
  const signalledAt = Date.now();
  // The stream goes on: each message is resent by id until it is stored.
  const first = await sendStored(sender, i++);
  const resumedMs = Date.now() - signalledAt;
  assert.ok(resumedMs < 15000, `chat resumed after ${resumedMs} ms`);
  for (; i < 60; i++) await sendStored(sender, i);
  await waitFor(() => delivered.has(`m${i - 1}`), { what: 'the last message delivered', timeoutMs: 15000 });
  const h2 = await healthz(gwB);
  assert.notEqual(h2.body.leader, leader, 'gateway B left the member that was signalled');
  await checkHistory(gwB, delivered, i);
  console.log(`# ${signal}: leader ${leader}; first message stored again after ${resumedMs} ms (seq ${first.seq}); ${delivered.size} delivered`);
  return { group, gwA, gwB, sender, delivered, leader, next: i };
}

/** Every message the receiver got is stored with the same seq, once;
 *  m0..m<count-1> are all stored; seqs are gapless. */
async function checkHistory(gw, delivered, count) {
  const probe = await connect(gw, { label: 'probe' });
  await probe.enter(ROOM, 'Probe', { uid: 'probe' });
  probe.send({ event: 'history', room: ROOM, limit: 200 });
  const hist = await probe.next('history', 10000);
  const stored = new Map();
  for (const m of hist.messages) {
    assert.ok(!stored.has(m.id), `${m.id} stored twice`);
    stored.set(m.id, m.seq);
  }
  for (const [id, seq] of delivered) assert.equal(stored.get(id), seq, `${id} delivered with seq ${seq}`);
  for (let k = 0; k < count; k++) assert.ok(stored.has(`m${k}`), `m${k} stored`);
  const seqs = hist.messages.map((m) => m.seq);
  assert.deepEqual(seqs, seqs.map((_, k) => seqs[0] + k), 'seqs gapless');
  probe.close();
}

async function stopAll(r) {
  for (const m of r.group.members) {
    try { process.kill(m.proc.pid, 'SIGCONT'); } catch { /* gone */ }
    await stop(m.proc, 'SIGKILL').catch(() => {});
  }
  await stop(r.gwA.proc);
  await stop(r.gwB.proc);
}

test('replicated broker: SIGKILL the leader mid-stream, chat resumes, nothing delivered is lost or renumbered; two of three down: unavailable', { timeout: 120000 }, async () => {
  const r = await failover('SIGKILL');
  const { sender, gwA } = r;
  // Two of three down: unavailable.
  const next = (await healthz(gwA)).body.leader;
  await stop(r.group.members[next - 1].proc, 'SIGKILL');
  await sleep(500);
  let refused = null;
  for (let tries = 0; tries < 20 && !refused; tries++) {
    sender.send({ event: 'message', room: ROOM, message: 'lonely', id: `x${tries}` });
    try {
      const f = await sender.next((f) => f.id === `x${tries}`, 3000);
      assert.notEqual(f.event, 'message', 'nothing is stored with one member of three');
      if (f.event === 'error') refused = f;
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
    }
  }
  assert.ok(refused, 'an event was refused');
  assert.equal(refused.code, 'unavailable');
  await stopAll(r);
});

test('replicated broker: SIGSTOP the leader mid-stream, chat resumes; it comes back, catches up, and serves once the new leader is killed', { timeout: 120000 }, async () => {
  const r = await failover('SIGSTOP');
  const { sender, gwB, delivered } = r;
  const frozen = r.group.members[r.leader - 1];
  process.kill(frozen.proc.pid, 'SIGCONT');
  await sleep(2000); // it learns the new term and catches up from the log
  const current = (await healthz(r.gwA)).body.leader;
  assert.notEqual(current, r.leader);
  await stop(r.group.members[current - 1].proc, 'SIGKILL');
  // Now the group is the thawed member and the third: both must hold
  // everything, whichever leads.
  let i = r.next;
  for (const end = i + 10; i < end; i++) await sendStored(sender, i);
  await waitFor(() => delivered.has(`m${i - 1}`), { what: 'the last message delivered', timeoutMs: 15000 });
  await checkHistory(gwB, delivered, i);
  await stopAll(r);
});

test('replicated broker: a member that lost its db and raft_dir rejoins, installs a snapshot, catches up and later leads with every message', { timeout: 180000 }, async () => {
  const group = await startGroup({ raft_snapshot_rounds: 16 });
  const gwA = await startGateway(group, { rate_per_s: 100000 });
  const gwB = await startGateway(group, { rate_per_s: 100000 });
  const r = { group, gwA, gwB };
  try {
    const sender = await connect(gwA, { label: 'sender' });
    await sender.enter(ROOM, 'Sender', { uid: 'sender' });
    const receiver = await connect(gwB, { label: 'receiver' });
    await receiver.enter(ROOM, 'Receiver', { uid: 'receiver' });
    const delivered = new Map();
    receiver.ws.on('message', (data) => {
      let f;
      try { f = JSON.parse(data.toString()); } catch { return; }
      if (f.event !== 'message' || !f.id) return;
      if (delivered.has(f.id)) assert.equal(delivered.get(f.id), f.seq, `${f.id} delivered twice with two seqs`);
      delivered.set(f.id, f.seq);
    });
    let i = 0;
    for (; i < 10; i++) await sendStored(sender, i);
    const leader = (await healthz(gwA)).body.leader;
    const lostId = leader === 3 ? 1 : 3;
    const lost = group.members[lostId - 1];
    const lagName = `roomcast_broker_raft_follower_lag_${lostId}`;
    await waitFor(async () => metric((await getMetrics(gwA)).metrics, lagName) === 0,
      { what: `${lagName} 0 while it is up` });
    await stop(lost.proc, 'SIGKILL');
    // One round per message sent one at a time: far more rounds than a
    // snapshot's 16 plus the 4 entries kept after it.
    for (; i < 80; i++) await sendStored(sender, i);
    const snapshots = group.members.filter((m) => m !== lost && /event=raft_snapshot /.test(m.proc.stderr));
    assert.ok(snapshots.length >= 1, 'the live members took snapshots');
    const behind = metric((await getMetrics(gwA)).metrics, lagName);
    assert.ok(behind >= 60, `${lagName} shows the dead member behind: ${behind}`);
    // It loses everything, and comes back.
    for (const f of [lost.db, `${lost.db}-wal`, `${lost.db}-shm`]) fs.rmSync(f, { force: true });
    fs.rmSync(lost.overrides.raft_dir, { recursive: true, force: true });
    await restartBroker(lost);
    await waitFor(() => /event=raft_restored /.test(lost.proc.stderr),
      { what: 'the wiped member installs a snapshot', timeoutMs: 20000 });
    await waitFor(async () => metric((await getMetrics(gwA)).metrics, lagName) === 0,
      { what: `${lagName} back to 0`, timeoutMs: 20000 });
    for (; i < 85; i++) await sendStored(sender, i);
    // Kill the others one at a time (bringing the previous one back from its
    // own files) until the wiped member leads.
    let down = null;
    for (let turn = 0; turn < 10; turn++) {
      const cur = (await healthz(gwA)).body.leader;
      if (cur === lostId) break;
      const victim = group.members[cur - 1];
      await stop(victim.proc, 'SIGKILL');
      if (down) await restartBroker(down);
      down = victim;
      for (const end = i + 3; i < end; i++) await sendStored(sender, i);
      await waitFor(async () => (await healthz(gwA)).body.leader !== cur, { what: 'gateway A follows the new leader', timeoutMs: 15000 });
    }
    assert.equal((await healthz(gwA)).body.leader, lostId, 'the wiped member leads');
    assert.equal((await healthz(gwB)).body.leader, lostId, 'gateway B uses it too');
    for (const end = i + 5; i < end; i++) await sendStored(sender, i);
    await waitFor(() => delivered.has(`m${i - 1}`), { what: 'the last message delivered', timeoutMs: 15000 });
    await checkHistory(gwB, delivered, i);
    console.log(`# member ${lostId} wiped and restored from a snapshot; leads with ${i} messages, ${delivered.size} delivered`);
  } finally {
    await stopAll(r);
  }
});
