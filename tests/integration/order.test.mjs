// order.test.mjs -- order under concurrency: several senders on two
// gateways at full speed; every receiver sees one gap-free seq sequence and
// each sender's messages in the order it sent them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, startGateway, connect } from './harness.mjs';

const ROOM = 'race';
const SENDERS = 4;
const PER_SENDER = 200;
const TOTAL = SENDERS * PER_SENDER;

test(`${SENDERS} senders x ${PER_SENDER} messages on two gateways, 6 receivers: identical gap-free seq, per-sender order`, { timeout: 120000 }, async () => {
  const broker = await startBroker();
  const opts = { rate_per_s: 5000 };
  const gws = [await startGateway(broker, opts), await startGateway(broker, opts)];

  const receivers = [];
  for (let i = 0; i < 6; i++) {
    const c = await connect(gws[i % 2], { label: `recv${i}@${gws[i % 2].id}` });
    c.autoPong = true;
    await c.enter(ROOM, `recv${i}`, { uid: `recv${i}` });
    receivers.push(c);
  }
  const senders = [];
  for (let i = 0; i < SENDERS; i++) {
    const c = await connect(gws[i % 2], { label: `send${i}@${gws[i % 2].id}` });
    c.autoPong = true;
    await c.enter(ROOM, `send${i}`, { uid: `send${i}` });
    senders.push(c);
  }

  // Everyone is in; fire.
  for (let n = 0; n < PER_SENDER; n++) {
    for (let i = 0; i < SENDERS; i++) {
      senders[i].send({ event: 'message', room: ROOM, message: `send${i}:${n}`, id: `s${i}-${n}` });
    }
  }

  const isMsg = (f) => f.event === 'message' || f.event === 'error';
  const results = await Promise.all([...receivers, ...senders].map((c) => c.collect(isMsg, TOTAL, 90000)));
  const reference = results[0];
  const all = [...receivers, ...senders];
  for (let k = 0; k < all.length; k++) {
    const got = results[k];
    const who = all[k].label;
    const errors = got.filter((f) => f.event === 'error');
    assert.deepEqual(errors, [], `${who}: errors during the burst`);
    const seqs = got.map((f) => f.seq);
    const firstBad = seqs.findIndex((s, i) => s !== i + 1);
    assert.equal(firstBad, -1,
      `${who}: seq must be 1..${TOTAL} in order; first wrong at index ${firstBad}: ` +
      `${JSON.stringify(seqs.slice(Math.max(0, firstBad - 3), firstBad + 4))}`);
    for (let i = 0; i < TOTAL; i++) {
      const a = got[i], b = reference[i];
      if (a.uid !== b.uid || a.message !== b.message || a.id !== b.id || a.ts !== b.ts) {
        assert.fail(`${who} and ${all[0].label} disagree at seq ${i + 1}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
      }
    }
    for (let s = 0; s < SENDERS; s++) {
      const mine = got.filter((f) => f.uid === `send${s}`).map((f) => f.message);
      const want = Array.from({ length: PER_SENDER }, (_, n) => `send${s}:${n}`);
      assert.deepEqual(mine, want, `${who}: messages of send${s} in the order sent`);
    }
  }
});
