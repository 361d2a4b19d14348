// roomcast.js's binary messages in Node, against the real broker and
// gateway (the `ws` package as its WebSocket): sendBinary with a typed
// array and with a Blob, delivery to the app with the header fields and
// the payload (an ArrayBuffer), the outbox's `sent`, the local too_large
// refusal, and history decoding base64 `data` back into a payload.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Servers, eventually } from './helpers.mjs';
import { RoomcastClient, decodeBinaryMessage, encodeBinaryMessage } from '../../www/roomcast.js';

describe('roomcast.js: binary messages', { timeout: 60000 }, () => {
  let srv;
  const clients = [];
  before(async () => { srv = await Servers.start({ name: 'module-binary', gateway: ['max_binary_bytes=4096'] }); });
  after(async () => {
    for (const c of clients) c.close();
    await srv?.stop();
  });

  function client(name) {
    const c = new RoomcastClient({ url: `${srv.url.replace(/^http/, 'ws')}ws`, WebSocket, storage: null });
    const got = { message: [], pending: [], error: [], enter: [] };
    for (const e of Object.keys(got)) c.on(e, (d) => got[e].push(d));
    c.connect();
    clients.push(c);
    return { c, got, name };
  }

  it('a history request refused `unavailable` resolves null instead of waiting forever', async () => {
    const sent = [];
    class Sock {
      constructor() { this.readyState = 1; Sock.last = this; setTimeout(() => this.onmessage?.({ data: JSON.stringify({ event: 'welcome', conn: 'c', protocol: 1, auth: 'none', uid: 'u1', heartbeat_ms: 25000, limits: {} }) }), 0); }
      send(d) { sent.push(JSON.parse(d)); }
      close() { this.readyState = 3; }
      push(f) { this.onmessage?.({ data: JSON.stringify(f) }); }
    }
    const c = new RoomcastClient({ url: 'ws://x/ws', WebSocket: Sock, storage: null });
    c.enter('r', 'ann');
    c.connect();
    await eventually(() => assert.ok(sent.some((f) => f.event === 'enter')));
    Sock.last.push({ event: 'enter', room: 'r', uid: 'u1', name: 'ann', num: 1, total: 1, seq: 9 });
    const h = c.history('r');
    await eventually(() => assert.ok(sent.some((f) => f.event === 'history')));
    Sock.last.push({ event: 'error', code: 'unavailable', message: 'busy' });
    assert.equal(await h, null);
    c.close();
  });

  it('encodes and decodes the layout', () => {
    const buf = encodeBinaryMessage({ event: 'message', room: 'r' }, new Uint8Array([0, 255]));
    const u = new Uint8Array(buf);
    assert.equal(new DataView(buf).getUint32(0), u.length - 6);
    const d = decodeBinaryMessage(buf);
    assert.equal(d.binary, true);
    assert.deepEqual([...new Uint8Array(d.payload)], [0, 255]);
    assert.equal(decodeBinaryMessage(new Uint8Array([0, 0, 0, 9, 1])), null);
  });

  it('sends and delivers pictures and files; too large fails locally; history gives payloads', async () => {
    const a = client('ann');
    const b = client('ben');
    a.c.enter('pics', 'ann');
    b.c.enter('pics', 'ben');
    await eventually(() => assert.ok(a.got.enter.some((e) => e.self) && b.got.enter.some((e) => e.self)));

    const bytes = new Uint8Array(1000).map((_, i) => (i * 7) & 255);
    const id1 = a.c.sendBinary('pics', bytes, { type: 'image/png', filename: 'a.png' });
    const id2 = a.c.sendBinary('pics', new Blob(['hello'], { type: 'text/plain;charset=utf-8' }), { filename: 'dir/n.txt' });
    await eventually(() => assert.equal(b.got.message.length, 2));
    const [m1, m2] = b.got.message;
    assert.equal(m1.binary, true);
    assert.equal(m1.type, 'image/png');
    assert.equal(m1.filename, 'a.png');
    assert.equal(m1.size, 1000);
    assert.equal(m1.id, id1);
    assert.equal(m1.name, 'ann');
    assert.ok(m1.payload instanceof ArrayBuffer);
    assert.deepEqual(new Uint8Array(m1.payload), bytes);
    assert.equal(m2.type, 'text/plain', 'the Blob type without its parameters');
    assert.equal(m2.filename, 'dir_n.txt', 'no / in a file name');
    assert.equal(Buffer.from(m2.payload).toString(), 'hello');
    assert.equal(m2.seq, m1.seq + 1);
    await eventually(() => {
      const sent = a.got.pending.filter((p) => p.state === 'sent').map((p) => p.id);
      assert.deepEqual(sent, [id1, id2]);
    });
    assert.ok(a.got.message.find((m) => m.id === id1 && m.own), 'the sender gets its own copy');

    // Over max_binary_bytes (4096 with its header): refused here, nothing sent.
    assert.ok(a.c.binaryTooLarge(5000));
    assert.equal(a.c.binaryTooLarge(100), null);
    const big = a.c.sendBinary('pics', new Uint8Array(5000));
    assert.ok(a.got.error.find((e) => e.id === big && e.code === 'too_large'));
    assert.ok(a.got.pending.find((p) => p.id === big && p.state === 'failed'));
    a.c.send('pics', 'text after');
    await eventually(() => assert.equal(b.got.message.at(-1).message, 'text after'));
    assert.equal(b.got.message.length, 3, 'the big one never arrived');

    // A newcomer reads them from history, payload decoded.
    const c = client('cid');
    c.c.enter('pics', 'cid');
    await eventually(() => assert.ok(c.got.enter.some((e) => e.self)));
    const h = await c.c.history('pics');
    assert.equal(h.messages.length, 3);
    assert.equal(h.messages[0].binary, true);
    assert.deepEqual(new Uint8Array(h.messages[0].payload), bytes);
    assert.equal(h.messages[0].data, undefined);
    assert.equal(h.messages[2].message, 'text after');
  });
});
