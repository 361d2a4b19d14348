// api-hostile.test.mjs -- hostile input to the server API: thousands of
// mutated and random request bodies, deep nesting, NULs and bad UTF-8,
// odd paths and queries sent as raw bytes, lying Content-Length headers.
// Every answer must be one the protocol lists (never 500), and afterwards
// both processes are alive and the API works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { startBroker, startGateway, within } from './harness.mjs';
import { api, describe, KEY } from './api-helpers.mjs';

const ALLOWED = new Set([200, 400, 401, 404, 413]);
// Malformed HTTP is refused by civetweb before any handler runs (411 for a
// negative length, 414 for a long URI ...): any 4xx is fine there.
const rawOk = (s) => s === 0 || (s >= 200 && s < 500);

/** Sends raw bytes, resolves with the status line's code (0 when the
 *  server closed without one) once the server closes or 5 s pass. */
function raw(gw, bytes, { endAfter = true } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(gw.port, '127.0.0.1');
    let got = '';
    const done = () => {
      s.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(got);
      resolve({ status: m ? Number(m[1]) : 0, text: got });
    };
    const timer = setTimeout(done, 5000);
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('close', () => { clearTimeout(timer); done(); });
    s.on('error', () => {});
    s.write(bytes);
    if (endAfter) s.end();
  });
}

function mutate(buf, rnd) {
  const b = Buffer.from(buf);
  const n = 1 + (rnd() % 4);
  for (let i = 0; i < n && b.length > 0; i++) {
    const at = rnd() % b.length;
    switch (rnd() % 4) {
      case 0: b[at] = rnd() % 256; break;
      case 1: b[at] = '{}[]":,\\0'.charCodeAt(rnd() % 9); break;
      case 2: return Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
      default: return Buffer.concat([b.subarray(0, at), Buffer.from([rnd() % 256]), b.subarray(at)]);
    }
  }
  return b;
}

test('hostile bodies: never a 500, never a crash', { timeout: 180000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { api_key: KEY });
  let seed = 12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  const seeds = [
    '{"room":"lobby","message":"hello","uid":"u1","name":"N","id":"i1"}',
    '{"room":"lobby","data":"aGVsbG8=","type":"text/plain","filename":"a.txt"}',
    '{"uid":"mallory"}',
  ];
  const statuses = {};
  for (let i = 0; i < 600; i++) {
    const s = seeds[i % seeds.length];
    const body = i % 10 === 9 ? crypto.randomBytes(rnd() % 200) : mutate(Buffer.from(s), rnd);
    const p = i % 3 === 2 ? '/api/v1/disconnect' : '/api/v1/publish';
    const r = await api(gw, 'POST', p, { body });
    statuses[r.status] = (statuses[r.status] || 0) + 1;
    assert.ok(ALLOWED.has(r.status), `${p} ${body.toString('hex').slice(0, 200)}: ${describe(r)}`);
    if (r.status !== 200) assert.ok(r.json && r.json.error && r.json.error.code, describe(r));
  }
  const specials = [
    '['.repeat(100000), `{"room":${'['.repeat(20)}1${']'.repeat(20)}}`, '{"room":"lobby","message":"\\u0000"}',
    '{"room":"lob\\u0000by","message":"x"}', '{"room":"lobby","message":"\\ud800"}', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
    `{"room":"lobby","message":"${'é'.repeat(20000)}"}`, `{"room":"lobby","message":"x","pad":"${'x'.repeat(5 << 20)}"}`,
    '{"room":"lobby","message":1e400}', '{"room":"lobby","message":"x","n":123456789012345678901234567890}',
    '{"room":"lobby","data":"===="}', '{"room":"lobby","data":"YQ"}', '{"room":"lobby","data":"Y Q=="}',
    `{"room":"lobby","data":"${'A'.repeat(2 << 20)}"}`,
  ];
  for (const body of specials) {
    const r = await api(gw, 'POST', '/api/v1/publish', { body });
    assert.ok(ALLOWED.has(r.status), `${String(body).slice(0, 80)}: ${describe(r)}`);
  }
  const ok = await api(gw, 'POST', '/api/v1/publish', { body: { room: 'lobby', message: 'still fine' } });
  assert.equal(ok.status, 200, `after the storm: ${describe(ok)} (statuses ${JSON.stringify(statuses)})`);
});

test('hostile paths, queries and headers as raw bytes', { timeout: 120000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker, { api_key: KEY });
  const auth = `Authorization: Bearer ${KEY}\r\n`;
  const paths = [
    '/api/v1/rooms/%00', '/api/v1/rooms/a%00b', '/api/v1/rooms/%ZZ', '/api/v1/rooms/..%2f..%2fetc', '/api/v1/rooms/../../etc/passwd',
    '/api/v1/rooms/a\\b', `/api/v1/rooms/${'a'.repeat(5000)}`, `/api/v1/rooms/r/history?limit=${'9'.repeat(300)}`,
    '/api/v1/rooms/r/history?before=99999999999999999999', '/api/v1/rooms?prefix=%00&after=%FF', '/api/v1/rooms?limit=1&limit=2',
    `/api/v1/rooms?${'a=1&'.repeat(2000)}`, '/api/v1/rooms/r/members?after=%C3', '/api/v1//rooms', '/api/v1/rooms//members',
    '/api/v1/rooms/r/messages/%31', '/api/v1/rooms/%E2%98%83', '/api/v1/rooms/r%20', '/api/v1/rooms/r?x=%',
  ];
  for (const p of paths) {
    for (const m of ['GET', 'DELETE']) {
      const r = await raw(gw, `${m} ${p} HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`);
      assert.ok(rawOk(r.status), `${m} ${p.slice(0, 100)}: ${r.text.slice(0, 200)}`);
    }
  }
  const requests = [
    // Content-Length larger than what is sent, then the client closes.
    `POST /api/v1/publish HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 1000\r\n\r\n{"room":"r"`,
    // Content-Length and chunked both.
    `POST /api/v1/publish HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n0\r\n\r\n`,
    // A broken chunk size.
    `POST /api/v1/publish HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n`,
    // A negative and a huge length.
    `POST /api/v1/publish HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: -5\r\n\r\n{}`,
    `POST /api/v1/publish HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 99999999999999999999\r\n\r\n{}`,
    // No body and no length.
    `POST /api/v1/disconnect HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`,
    // Several Authorization headers, odd spacing.
    `GET /api/v1/rooms/r HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n${auth}Connection: close\r\n\r\n`,
    `GET /api/v1/rooms/r HTTP/1.1\r\nHost: x\r\nAuthorization: bearer    ${KEY}\r\nConnection: close\r\n\r\n`,
    `GET /api/v1/rooms/r HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\u0000x\r\nConnection: close\r\n\r\n`,
    `GET /api/v1/rooms/r HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'k'.repeat(8000)}\r\nConnection: close\r\n\r\n`,
  ];
  for (const req of requests) {
    const r = await raw(gw, Buffer.from(req, 'latin1'));
    assert.ok(rawOk(r.status), `${JSON.stringify(req.slice(0, 120))}: ${r.text.slice(0, 200)}`);
  }
  // A client that sends half a body and goes silent holds only its worker.
  const s = net.connect(gw.port, '127.0.0.1');
  s.on('error', () => {});
  s.write(`POST /api/v1/publish HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 100\r\n\r\n{"ro`);
  const ok = await within(api(gw, 'GET', '/api/v1/rooms/r'), 10000);
  assert.ok(ok && ok.status === 200, `others are served meanwhile: ${ok && describe(ok)}`);
  s.destroy();
  const h = await api(gw, 'GET', '/healthz', { key: null });
  assert.equal(h.status, 200);
});
