// corners.test.mjs -- corners of the protocol the gateway answers itself:
// errors name the request (`id` echoed, rate_limited included), noauth for
// everything but auth and heartbeat before authentication (unknown events,
// empty tokens), and valid JSON is never bad_json (numbers out of range for
// their field are bad_request naming the field).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { BIN, startBroker, startGateway, connect, expectFields, sleep, waitFor, stop, runCli } from './harness.mjs';
import { rawOpen } from './rawws.mjs';

const NOT_PING = (f) => !(f.event === 'heartbeat' && f.message === 'ping');

/** Sends text (raw) and returns the next frame that is not a server ping. */
async function answer(c, text) {
  c.sendRaw(text);
  return c.next(NOT_PING);
}

test('rate_limited errors echo the id of the event they refuse', { timeout: 60000 }, async (t) => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { rate_per_s: 5 });
  const ws = await rawOpen(gw, { label: 'burst with ids' });
  ws.sendText('{"event":"enter","room":"ids","name":"Burst"}');
  await ws.next({ event: 'enter' });
  await sleep(1200); // the bucket refills
  // A burst of 20 messages, each with its own id, in one TCP write. Some
  // are not objects with an id at all: their errors carry none.
  for (let i = 0; i < 20; i++) ws.sendText(JSON.stringify({ event: 'message', room: 'ids', message: `m${i}`, id: `b-${i}` }));
  ws.sendText('{"event":"heartbeat","message":"ping","id":""}'); // an invalid id (empty)
  ws.sendText('{"id":"x", nope');                                 // not JSON
  const answers = [];
  await waitFor(() => {
    while (ws.events.length) {
      const f = ws.events.shift();
      if (NOT_PING(f)) answers.push(f);
    }
    return answers.length >= 22;
  }, { timeoutMs: 10000, what: '22 answers' });
  const limited = answers.filter((f) => f.event === 'error' && f.code === 'rate_limited');
  t.diagnostic(`answers: ${answers.map((f) => `${f.event}:${f.code || ''}:${f.id || ''}`).join(' ')}`);
  assert.ok(limited.length >= 3, `the burst goes past the rate: ${JSON.stringify(answers)}`);
  const stored = answers.filter((f) => f.event === 'message').map((f) => f.id);
  const refusedIds = limited.map((f) => f.id).filter((x) => x !== undefined);
  // Every message is either stored (its echo has its id) or refused with its id.
  for (let i = 0; i < 20; i++) {
    const id = `b-${i}`;
    assert.ok(stored.includes(id) || refusedIds.includes(id),
      `message ${id} is answered by its echo or by an error naming it: ${JSON.stringify(answers)}`);
  }
  // The two without a valid id get rate_limited with no id.
  assert.equal(limited.filter((f) => f.id === undefined).length, 2, `no id where none was valid: ${JSON.stringify(limited)}`);
  assert.equal(refusedIds.length + stored.length, 20, 'each message once');
});

test('other gateway errors echo a valid id: unknown_event, bad_request, too_large, event not a string', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { max_message_bytes: 10, rate_per_s: 5000 });
  const c = await connect(gw);
  await c.enter('e', 'Ids');
  const cases = [
    ['{"event":"nope","id":"u1"}', 'unknown_event', 'u1'],
    ['{"event":7,"id":"u2"}', 'bad_request', 'u2'],
    ['{"event":"message","room":"bad room!","message":"x","id":"u3"}', 'bad_request', 'u3'],
    ['{"event":"message","room":"e","message":"far too long here","id":"u4"}', 'too_large', 'u4'],
    ['{"event":"history","room":"e","limit":0,"id":"u5"}', 'bad_request', 'u5'],
    ['{"event":"enter","room":"e","id":"u6"}', 'bad_request', 'u6'],
    ['{"event":"heartbeat","message":"hi","id":"u7"}', 'bad_request', 'u7'],
    ['{"event":"auth","token":"x","id":"u8"}', 'unsupported', 'u8'],
    ['{"event":"history","room":"e","limit":-9223372036854775809,"id":"u9"}', 'bad_request', 'u9'],
  ];
  for (const [text, code, id] of cases) {
    const f = await answer(c, text);
    expectFields(f, { event: 'error', code, id }, `answer to ${text}`);
  }
  // An invalid id is not echoed, but the error still comes.
  const f = await answer(c, '{"event":"message","room":"e","message":"x","id":""}');
  expectFields(f, { event: 'error', code: 'bad_request' }, 'an empty id');
  assert.equal(f.id, undefined, 'an invalid id is not echoed');
  assert.match(f.message, /id/, 'the error names the id field');
});

test('valid JSON is never bad_json: integers out of range are bad_request naming the field', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { rate_per_s: 5000 });
  const c = await connect(gw);
  await c.enter('r', 'Numbers');
  const fieldCases = [
    ['{"event":"history","room":"r","limit":-9223372036854775809}', /limit/],
    ['{"event":"history","room":"r","limit":9223372036854775808}', /limit/],
    ['{"event":"history","room":"r","limit":18446744073709551616}', /limit/],
    ['{"event":"history","room":"r","before":123456789012345678901234567890}', /before/],
    ['{"event":"history","room":"r","limit":1e400}', /limit/],
    ['{"event":"enter","room":"r","name":"N","since":-99999999999999999999}', /since/],
    ['{"event":"enter","room":"r","name":"N","since":1.5}', /since/],
  ];
  for (const [text, field] of fieldCases) {
    const f = await answer(c, text);
    expectFields(f, { event: 'error', code: 'bad_request' }, `answer to ${text}`);
    assert.match(f.message, field, `the error names the field: ${JSON.stringify(f)}`);
  }
  // Out-of-range numbers in fields nobody reads are ignored like any
  // unknown field: the event is served.
  c.sendRaw('{"event":"heartbeat","message":"ping","x":-9223372036854775809,"y":[1e999,99999999999999999999]}');
  await c.next({ event: 'heartbeat', message: 'pong' });
  c.sendRaw('{"event":"message","room":"r","message":"big numbers","n":1e400}');
  expectFields(await c.next({ event: 'message' }), { message: 'big numbers' }, 'message with an unread huge number');
  // Still bad_json: what is not JSON.
  for (const text of ['{"event":"heartbeat","message":"ping","x":NaN}', '{"event":"heartbeat","x":Infinity}',
    '{"event":"heartbeat","x":-Infinity}', '{"event":"heartbeat","x":01}', '{"event":"heartbeat","x":1.}']) {
    const f = await answer(c, text);
    expectFields(f, { event: 'error', code: 'bad_json' }, `answer to ${text}`);
  }
  // In range: still served.
  c.sendRaw('{"event":"history","room":"r","limit":9223372036854775807,"before":0}');
  expectFields(await c.next('history'), { room: 'r' }, 'history with the largest limit');
});

test('jwt, before auth: unknown events, events without a string event and empty tokens get noauth', { timeout: 60000 }, async () => {
  const secret = 'corners-test-secret-0123456789abcdef';
  const broker = await startBroker({ auth: 'jwt', jwt_secret: secret });
  const gw = await startGateway(broker, { auth: 'jwt', jwt_secret: secret, rate_per_s: 5000 });
  const c = await connect(gw);
  for (const text of ['{"event":"nope"}', '{"event":"nope","id":"n1"}', '{"event":7}', '{"room":"r"}',
    '{"event":"auth","token":""}', '{"event":"auth","token":"","id":"n2"}', '{"event":"who","room":"r"}']) {
    const f = await answer(c, text);
    expectFields(f, { event: 'noauth' }, `answer to ${text} before auth`);
    assert.equal(typeof f.message, 'string');
  }
  // heartbeat is still answered, and a token that is not a string is a
  // bad request.
  c.sendRaw('{"event":"heartbeat","message":"ping"}');
  await c.next({ event: 'heartbeat', message: 'pong' });
  const f = await answer(c, '{"event":"auth","token":5,"id":"n3"}');
  expectFields(f, { event: 'error', code: 'bad_request', id: 'n3' }, 'a token that is not a string');
});

test('errors from the broker echo the id too: not_in_room for who, leave, history and message; bad names; forbidden; unavailable', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { rate_per_s: 5000 });
  const c = await connect(gw);
  const cases = [
    ['{"event":"who","room":"elsewhere","id":"w1"}', 'not_in_room', 'w1'],
    ['{"event":"leave","room":"elsewhere","id":"l1"}', 'not_in_room', 'l1'],
    ['{"event":"history","room":"elsewhere","id":"h1"}', 'not_in_room', 'h1'],
    ['{"event":"message","room":"elsewhere","message":"x","id":"m1"}', 'not_in_room', 'm1'],
    ['{"event":"delete","room":"elsewhere","seq":1,"id":"d1"}', 'not_in_room', 'd1'],
  ];
  for (const [text, code, id] of cases) {
    const f = await answer(c, text);
    expectFields(f, { event: 'error', code, id }, `answer to ${text}`);
  }
  // Without an id: the same errors, no id.
  const f = await answer(c, '{"event":"who","room":"elsewhere"}');
  expectFields(f, { event: 'error', code: 'not_in_room' }, 'who without an id');
  assert.equal(f.id, undefined);
  // The broker gone: unavailable, with the id.
  await stop(broker.proc, 'SIGKILL');
  await waitFor(async () => {
    const g = await answer(c, '{"event":"enter","room":"r","name":"N","id":"e1"}');
    if (g.code !== 'unavailable') return false;
    expectFields(g, { event: 'error', code: 'unavailable', id: 'e1' }, 'enter while the broker is down');
    return true;
  }, { timeoutMs: 10000, what: 'enter answered unavailable with its id' });
});

test('jwt: forbidden and auth errors from the broker echo the id', { timeout: 60000 }, async () => {
  const secret = 'corners-test-secret-0123456789abcdef';
  const broker = await startBroker({ auth: 'jwt', jwt_secret: secret });
  const gw = await startGateway(broker, { auth: 'jwt', jwt_secret: secret, rate_per_s: 5000 });
  const r = await runCli(path.join(path.dirname(BIN.broker), 'roomcast-token'),
    ['-o', `jwt_secret=${secret}`, '--sub', 'alice', '--name', 'Alice', '--ttl', '60', '--rooms', 'lobby']);
  assert.equal(r.code, 0, r.stderr);
  const c = await connect(gw);
  c.send({ event: 'auth', token: r.stdout.trim(), id: 'a1' });
  expectFields(await c.next('auth'), { uid: 'alice' }, 'auth');
  const f = await answer(c, '{"event":"enter","room":"kitchen","name":"A","id":"k1"}');
  expectFields(f, { event: 'error', code: 'forbidden', id: 'k1' }, 'enter a room the token does not allow');
  const g = await answer(c, '{"event":"enter","room":"lobby","name":"A","uid":"bob","id":"k2"}');
  expectFields(g, { event: 'error', code: 'forbidden', id: 'k2' }, 'enter with another uid');
});
