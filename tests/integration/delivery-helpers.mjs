// delivery-helpers.mjs -- small helpers for delivery.test.mjs (catch-up,
// history paging, seq checks) on top of harness.mjs.
import assert from 'node:assert/strict';

const short = (f) => {
  const s = JSON.stringify(f);
  return s.length > 240 ? s.slice(0, 240) + '...' : s;
};
export { short };

/** After an `enter` was sent on c: takes, in arrival order, every `message`
 *  of `room` up to this connection's own `enter` event (uid). Resolves with
 *  {replay: [message frames before enter], enter}. */
export async function catchUp(c, room, uid, timeoutMs = 10000) {
  const replay = [];
  const pred = (f) => f && ((f.event === 'error' && !('id' in f)) ||
    (f.room === room && (f.event === 'message' || (f.event === 'enter' && f.uid === uid))));
  for (;;) {
    const f = await c.next(pred, timeoutMs);
    if (f.event === 'error') throw new Error(`${c.label}: error while catching up in ${room}: ${short(f)}; replayed so far: ${replay.map((m) => m.seq)}`);
    if (f.event === 'enter') return { replay, enter: f };
    replay.push(f);
  }
}

/** Sends enter (with extra fields) and returns catchUp(). */
export async function enterCatchUp(c, room, name, extra, timeoutMs = 10000) {
  c.send({ event: 'enter', room, name, ...extra });
  return catchUp(c, room, extra.uid, timeoutMs);
}

/** Sends `n` messages (ids `${prefix}-${i}`, text `${prefix} ${i}`) from c
 *  without waiting, then waits for c's own copy of each; returns them in
 *  the order sent. */
export async function postMany(c, room, uid, n, prefix, timeoutMs = 20000) {
  for (let i = 0; i < n; i++) c.send({ event: 'message', room, message: `${prefix} ${i}`, id: `${prefix}-${i}` });
  const out = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`;
    const f = await c.next((x) => x && x.room === room && ((x.event === 'message' && x.uid === uid && x.id === id) ||
      (x.event === 'error' && x.id === id)), timeoutMs);
    if (f.event === 'error') throw new Error(`${c.label}: message ${id} refused: ${short(f)}`);
    out.push(f);
  }
  return out;
}

/** Sends history and resolves with the `history` answer or an `error`. */
export async function history(c, room, opts = {}, timeoutMs = 10000) {
  c.send({ event: 'history', room, ...opts });
  // errors carrying an id answer a `message`, not this request
  return c.next((f) => f && ((f.event === 'history' && f.room === room) || (f.event === 'error' && !('id' in f))), timeoutMs);
}

/** Whole history of a room, paged backwards with limit 200; oldest first. */
export async function fullHistory(c, room) {
  let before;
  const all = [];
  for (let pages = 0; pages < 1000; pages++) {
    const h = await history(c, room, before === undefined ? { limit: 200 } : { limit: 200, before });
    if (h.event !== 'history') throw new Error(`history page failed: ${short(h)}`);
    all.unshift(...h.messages);
    if (!h.more || h.messages.length === 0) return all;
    before = h.messages[0].seq;
  }
  throw new Error('history paging did not end');
}

/** Asserts that seqs is exactly from, from+1, ..., to. */
export function assertRange(seqs, from, to, what) {
  const expected = [];
  for (let s = from; s <= to; s++) expected.push(s);
  if (JSON.stringify(seqs) !== JSON.stringify(expected)) {
    const i = seqs.findIndex((s, k) => s !== expected[k]);
    assert.fail(`${what}: expected seqs ${from}..${to} (${expected.length}), got ${seqs.length}: ` +
      `${seqs.length > 40 ? `${JSON.stringify(seqs.slice(0, 20))} ... ${JSON.stringify(seqs.slice(-20))}` : JSON.stringify(seqs)}` +
      (i >= 0 ? `; first difference at index ${i}: got ${seqs[i]}, expected ${expected[i]}` : ''));
  }
}

/** Records every frame c receives (independently of next()/queue). */
export function record(c) {
  const frames = [];
  c.ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    try { frames.push(JSON.parse(data.toString())); } catch { /* */ }
  });
  return frames;
}

/** Collects problems without stopping at the first; `done()` fails with all. */
export function softChecks() {
  const problems = [];
  const check = (ok, msg) => { if (!ok) problems.push(typeof msg === 'function' ? msg() : msg); return ok; };
  const done = () => {
    if (problems.length) assert.fail(`${problems.length} problem(s):\n- ${problems.join('\n- ')}`);
  };
  return { check, done, problems };
}
