// errors.test.mjs -- every kind of bad input gets the protocol's error (or
// close code) and nothing else; after an `error` the connection stays usable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, startGateway, connect, expectFields, within } from './harness.mjs';

const LIMITS = { max_frame_bytes: 4096, max_message_bytes: 100, rate_per_s: 5000 };

/** Sends `raw` (a string, or an object to JSON-encode), expects one `error`
 *  with `code` (and `id` when given), then proves the connection still works
 *  with a heartbeat ping, and that no other answer came in between. */
async function expectError(c, raw, code, { id, what } = {}) {
  const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
  const label = what || text.slice(0, 80);
  c.sendRaw(text);
  const e = await c.next((f) => !(f.event === 'heartbeat' && f.message === 'ping'), 5000)
    .catch((err) => { throw new Error(`no answer to ${label}: ${err.message}`); });
  expectFields(e, { event: 'error', code }, `answer to ${label}`);
  assert.equal(typeof e.message, 'string', `error.message is a string for ${label}: ${JSON.stringify(e)}`);
  if (id !== undefined) expectFields(e, { id }, `error for ${label} echoes id`);
  await c.ping().catch((err) => { throw new Error(`connection not usable after ${label}: ${err.message}`); });
  const extra = c.pending((f) => !(f.event === 'heartbeat' && f.message === 'ping'));
  assert.deepEqual(extra, [], `nothing else answers ${label}`);
  return e;
}

/** Like expectError but the request must succeed with a frame matching pred. */
async function expectOk(c, obj, pred, what) {
  c.send(obj);
  const f = await c.next((x) => x.event === 'error' || pred(x), 5000)
    .catch((err) => { throw new Error(`no answer to ${what}: ${err.message}`); });
  assert.notEqual(f.event, 'error', `${what} must succeed, got ${JSON.stringify(f)}`);
  return f;
}

test('bad frames: bad_json, bad_request, unknown_event, unsupported', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, LIMITS);
  const c = await connect(gw, { label: 'errors' });

  const badJson = [
    'not json',
    '{"event":"heartbeat","message":"ping"} x',
    '{"event":"heartbeat","message":"ping"}{"event":"heartbeat","message":"ping"}',
    "{'event':'heartbeat','message':'ping'}",
    '{"event":"heartbeat","message":"ping",}',
    '{"event":"heartbeat","message":"ping","n":NaN}',
    '{"event":"heartbeat","message":"ping","n":Infinity}',
    '{"event":"heartbeat","message":"ping"} // comment',
    '/* comment */ {"event":"heartbeat","message":"ping"}',
    '{"event":"heartbeat","message":"ping"',
    '{event:"heartbeat",message:"ping"}',
    '{"event":"heartbeat","message":"ping","n":01}',
    '',
  ];
  for (const raw of badJson) await expectError(c, raw, 'bad_json', { what: `bad JSON ${JSON.stringify(raw)}` });

  // Whitespace around the object is valid JSON.
  c.sendRaw(' \n\t{"event":"heartbeat","message":"ping"} \r\n');
  await c.next({ event: 'heartbeat', message: 'pong' });

  for (const raw of ['[]', '[{"event":"heartbeat","message":"ping"}]', '"heartbeat"', '42', 'null', 'true']) {
    await expectError(c, raw, 'bad_request', { what: `non-object JSON ${raw}` });
  }
  for (const raw of ['{}', '{"room":"r","message":"x"}', '{"Event":"heartbeat","message":"ping"}']) {
    await expectError(c, raw, 'bad_request', { what: `missing event ${raw}` });
  }
  for (const raw of ['{"event":5}', '{"event":null}', '{"event":["who"]}', '{"event":{"x":1}}', '{"event":true}']) {
    await expectError(c, raw, 'bad_request', { what: `event not a string ${raw}` });
  }
  for (const ev of ['dance', 'welcome', 'WHO']) {
    await expectError(c, { event: ev, room: 'r' }, 'unknown_event', { what: `unknown event "${ev}"` });
  }
  await expectError(c, { event: 'dance', id: 'u-1' }, 'unknown_event', { id: 'u-1', what: 'unknown event with id' });

  // A binary frame that is not a binary chat message (no 4-byte header
  // length): bad_json, and otherwise ignored (not processed).
  c.sendBinary(Buffer.from('{"event":"heartbeat","message":"ping"}'));
  expectFields(await c.next('error'), { event: 'error', code: 'bad_json' }, 'binary frame');
  await c.ping();
  assert.deepEqual(c.pending('heartbeat'), [], 'the binary frame was not processed');

  // Unknown extra fields are ignored.
  c.send({ event: 'heartbeat', message: 'ping', extra: { deep: [1, 2] }, more: 'x' });
  await c.next({ event: 'heartbeat', message: 'pong' });
  assert.deepEqual(c.pending('error'), [], 'extra fields are not an error');
});

test('not_in_room, field validation, too_large, id echo, 1009, 1007', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, LIMITS);
  const c = await connect(gw, { label: 'fields' });

  // Rooms this connection has not entered.
  await expectError(c, { event: 'message', room: 'lobby', message: 'hi' }, 'not_in_room', { what: 'message, not entered' });
  await expectError(c, { event: 'message', room: 'lobby', message: 'hi', id: 'm-7' }, 'not_in_room', { id: 'm-7', what: 'message with id, not entered' });
  await expectError(c, { event: 'who', room: 'lobby' }, 'not_in_room', { what: 'who, not entered' });
  await expectError(c, { event: 'leave', room: 'lobby' }, 'not_in_room', { what: 'leave, not entered' });
  await expectError(c, { event: 'history', room: 'lobby' }, 'not_in_room', { what: 'history, not entered' });

  // Room names.
  const badRooms = ['a'.repeat(65), 'has space', 'slash/no', 'é', 'semi;colon', 'tab\t', ''];
  for (const room of badRooms) {
    await expectError(c, { event: 'enter', room, name: 'x' }, 'bad_request', { what: `enter room ${JSON.stringify(room)}` });
  }
  await expectError(c, { event: 'enter', name: 'x' }, 'bad_request', { what: 'enter without room' });
  await expectError(c, { event: 'enter', room: 5, name: 'x' }, 'bad_request', { what: 'enter with a numeric room' });
  const longRoom = 'R'.repeat(64);
  expectFields(await c.enter(longRoom, 'x'), { room: longRoom, num: 1 }, 'a 64-byte room is fine');
  const oddRoom = 'a-Z_0.9:x';
  expectFields(await c.enter(oddRoom, 'x'), { room: oddRoom }, 'every allowed room character');

  // Names.
  await expectError(c, { event: 'enter', room: 'names' }, 'bad_request', { what: 'enter without name' });
  await expectError(c, { event: 'enter', room: 'names', name: '' }, 'bad_request', { what: 'empty name' });
  await expectError(c, { event: 'enter', room: 'names', name: 'n'.repeat(33) }, 'bad_request', { what: 'name of 33 characters' });
  await expectError(c, { event: 'enter', room: 'names', name: 'a\u0001b' }, 'bad_request', { what: 'name with a control character' });
  await expectError(c, { event: 'enter', room: 'names', name: 'a\nb' }, 'bad_request', { what: 'name with a newline' });
  await expectError(c, { event: 'enter', room: 'names', name: 42 }, 'bad_request', { what: 'numeric name' });
  const name32 = 'é'.repeat(32); // 32 characters, 64 bytes
  expectFields(await c.enter('names', name32), { name: name32 }, 'a name of 32 (two-byte) characters is fine');

  // uids.
  for (const uid of ['bad uid', 'a/b', 'x'.repeat(65), 'ü', '']) {
    await expectError(c, { event: 'enter', room: 'uids', name: 'u', uid }, 'bad_request', { what: `uid ${JSON.stringify(uid)}` });
  }
  const okUid = 'u_1.a:b@c-D';
  expectFields(await c.enter('uids', 'u', { uid: okUid }), { uid: okUid }, 'every allowed uid character');

  // Messages: size in bytes, not characters.
  const room = 'msgs';
  await c.enter(room, 'sender');
  await expectError(c, { event: 'message', room, message: 'x'.repeat(101) }, 'too_large', { what: 'message of 101 bytes' });
  await expectError(c, { event: 'message', room, message: '€'.repeat(34), id: 'big-1' }, 'too_large', { id: 'big-1', what: 'message of 34 euro signs (102 bytes)' });
  const exact = 'y'.repeat(100);
  expectFields(await expectOk(c, { event: 'message', room, message: exact }, (f) => f.event === 'message', 'message of 100 bytes'),
    { message: exact, seq: 1 }, 'message of exactly max_message_bytes');
  const euros = '€'.repeat(33); // 99 bytes
  expectFields(await expectOk(c, { event: 'message', room, message: euros, id: 'e-1' }, (f) => f.event === 'message', 'message of 99 bytes'),
    { message: euros, seq: 2, id: 'e-1' }, 'message of 33 euro signs');
  await expectError(c, { event: 'message', room }, 'bad_request', { what: 'message without message' });
  await expectError(c, { event: 'message', room, message: 12, id: 'n-1' }, 'bad_request', { id: 'n-1', what: 'numeric message' });
  await expectError(c, { event: 'message', room, message: 'x', id: 'i'.repeat(65) }, 'bad_request', { what: 'id of 65 bytes' });
  await expectError(c, { event: 'message', message: 'x', id: 'nr-1' }, 'bad_request', { id: 'nr-1', what: 'message without room' });

  // history.
  await expectError(c, { event: 'history', room, limit: 0 }, 'bad_request', { what: 'history limit 0' });
  await expectError(c, { event: 'history', room, limit: -5 }, 'bad_request', { what: 'history limit -5' });
  const h = await expectOk(c, { event: 'history', room, limit: 1000 }, (f) => f.event === 'history', 'history limit 1000 (capped)');
  assert.deepEqual(h.messages.map((m) => m.seq), [1, 2], `history oldest first: ${JSON.stringify(h)}`);
  expectFields(h, { room, more: false }, 'history answer');

  // who of an entered room works; leave then who is not_in_room.
  const w = await expectOk(c, { event: 'who', room }, (f) => f.event === 'who', 'who of an entered room');
  assert.equal(w.members.length, 1);
  const lv = await expectOk(c, { event: 'leave', room }, (f) => f.event === 'leave', 'leave');
  expectFields(lv, { room, num: 0, total: 0 }, 'leave of the only member');
  await expectError(c, { event: 'who', room }, 'not_in_room', { what: 'who after leave' });

  // Frames: exactly max_frame_bytes is fine, one more closes with 1009.
  const frameOf = (n) => {
    const base = '{"event":"heartbeat","message":"ping","pad":""}';
    return base.replace('"pad":""', `"pad":"${'p'.repeat(n - base.length)}"`);
  };
  assert.equal(Buffer.byteLength(frameOf(4096)), 4096);
  c.sendRaw(frameOf(4096));
  await c.next({ event: 'heartbeat', message: 'pong' });
  // Fragments reassembled under the limit are one message.
  c.ws.send('{"event":"heartbeat",', { fin: false });
  c.ws.send('"message":"ping"}', { fin: true });
  await c.next({ event: 'heartbeat', message: 'pong' });

  c.sendRaw(frameOf(4097));
  const closed = await within(c.closed, 5000);
  assert.ok(closed, `a 4097-byte frame closes the connection; frames: ${JSON.stringify(c.log.slice(-5))}`);
  assert.equal(closed.code, 1009, `close code for a frame over max_frame_bytes: ${JSON.stringify(closed)}`);

  // Fragments each under the limit but over it together: 1009 too.
  const f2 = await connect(gw, { label: 'fragments' });
  const chunk = 'p'.repeat(2000);
  f2.ws.send(`{"event":"heartbeat","message":"ping","pad":"${chunk}`, { fin: false });
  f2.ws.send(chunk, { fin: false });
  f2.ws.send(`${chunk}"}`, { fin: true });
  const closed2 = await within(f2.closed, 5000);
  assert.ok(closed2, 'fragments over max_frame_bytes together close the connection');
  assert.equal(closed2.code, 1009, `close code for fragments over the limit: ${JSON.stringify(closed2)}`);

  // Invalid UTF-8 in a text message: 1007.
  const u = await connect(gw, { label: 'utf8' });
  u.ws.send(Buffer.from([0x7b, 0x22, 0x65, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
  const closed3 = await within(u.closed, 5000);
  assert.ok(closed3, 'invalid UTF-8 closes the connection');
  assert.equal(closed3.code, 1007, `close code for invalid UTF-8: ${JSON.stringify(closed3)}`);

  // The gateway is fine after all that.
  const d = await connect(gw, { label: 'after' });
  await d.ping();
});
