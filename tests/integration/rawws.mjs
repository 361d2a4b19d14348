// rawws.mjs -- a raw-socket WebSocket client for the protocol-abuse tests.
//
// Unlike the `ws` client of harness.mjs, this one never refuses to send
// anything: it does the HTTP upgrade itself over node:net (any path, any
// headers, or a whole hand-written request), then writes whatever frames it
// is told to (any FIN/RSV bits and opcode, masked or not, any length field --
// including lengths that lie about the payload --, fragments, raw garbage).
// It parses what the server sends (text, binary, close with code and reason,
// ping, pong, continuation), and reports the server's close frame and the
// moment the TCP connection ended, separately.
//
//   const ws = await rawConnect(gw);                  // 101 + welcome frame
//   ws.sendText('{"event":"heartbeat","message":"ping"}');
//   await ws.next({ event: 'heartbeat', message: 'pong' });
//   ws.send({ opcode: 3 });                           // reserved opcode
//   const end = await ws.waitClosed();                // {code, reason, tcpEnded, ...}
//
//   const r = await rawConnect(gw, { path: '/x' });   // r.status 404, r.body
//
// Every socket opened through this module is destroyed when the current
// node:test test ends (an afterEach hook), pass or fail.

import net from 'node:net';
import crypto from 'node:crypto';
import { afterEach, after } from 'node:test';

export const OP = Object.freeze({ CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 });
export const RSV1 = 4;
export const RSV2 = 2;
export const RSV3 = 1;
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const open = new Set(); // RawWs objects whose socket may still be open

function destroyAll() {
  for (const ws of [...open]) ws.destroy();
}
afterEach(destroyAll);
after(destroyAll);

const toBuf = (p) => (p === undefined || p === null ? Buffer.alloc(0)
  : Buffer.isBuffer(p) ? p : p instanceof Uint8Array ? Buffer.from(p) : Buffer.from(String(p), 'utf8'));

/** The body of a close frame: a 2-byte code (big-endian) then the reason
 *  (a string, UTF-8 encoded, or raw bytes as a Buffer). */
export function closePayload(code, reason = '') {
  const r = toBuf(reason);
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

/** Builds one WebSocket frame as a client would (masked by default).
 *  opts:
 *    fin (true), rsv (0-7: RSV1 = 4, RSV2 = 2, RSV3 = 1), opcode (1 = text),
 *    payload (string, UTF-8 encoded, or Buffer),
 *    mask (true), maskKey (4 bytes; random by default),
 *    length: the length written in the header (number or BigInt); default
 *      the payload's real length. Anything else is a lie: the payload bytes
 *      written are still exactly `payload`.
 *    lengthForm: 7, 16 or 64 to force the header's length encoding
 *      (default: the shortest one that holds `length`). */
export function buildFrame({
  fin = true, rsv = 0, opcode = OP.TEXT, payload, mask = true, maskKey, length, lengthForm,
} = {}) {
  const data = toBuf(payload);
  const declared = BigInt(length === undefined ? data.length : length);
  let form = lengthForm;
  if (!form) form = declared < 126n ? 7 : declared <= 0xffffn ? 16 : 64;
  const head = [((fin ? 1 : 0) << 7) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const m = mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (form === 7) {
    if (declared > 125n) throw new Error(`length ${declared} does not fit the 7-bit form`);
    head.push(m | Number(declared));
  } else if (form === 16) {
    if (declared > 0xffffn) throw new Error(`length ${declared} does not fit the 16-bit form`);
    head.push(m | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(declared));
  } else if (form === 64) {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(declared);
  } else {
    throw new Error(`lengthForm must be 7, 16 or 64, not ${form}`);
  }
  let key = Buffer.alloc(0);
  let body = data;
  if (mask) {
    key = maskKey ? toBuf(maskKey) : crypto.randomBytes(4);
    if (key.length !== 4) throw new Error('maskKey must be 4 bytes');
    body = Buffer.alloc(data.length);
    for (let i = 0; i < data.length; i++) body[i] = data[i] ^ key[i & 3];
  }
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

function describe(x) {
  const s = JSON.stringify(x);
  return s && s.length > 300 ? s.slice(0, 300) + '...' : s;
}

function matcher(pred) {
  if (typeof pred === 'function') return pred;
  if (typeof pred === 'string') return (f) => f && f.event === pred;
  if (pred && typeof pred === 'object') {
    return (f) => f && typeof f === 'object' &&
      Object.entries(pred).every(([k, v]) => JSON.stringify(f[k]) === JSON.stringify(v));
  }
  throw new Error(`bad predicate ${pred}`);
}

/** A frame as parsed from the server:
 *  {fin, rsv, opcode, masked, length, payload (Buffer), text?, code?, reason?} */
function frameSummary(f) {
  const o = { fin: f.fin, rsv: f.rsv, opcode: f.opcode, length: f.length };
  if (f.masked) o.masked = true;
  if (f.opcode === OP.CLOSE) { o.code = f.code; o.reason = f.reason; }
  else if (f.opcode === OP.TEXT || f.opcode === OP.CONT) o.text = f.payload.toString('utf8').slice(0, 200);
  else o.hex = f.payload.toString('hex').slice(0, 200);
  return o;
}

export class RawWs {
  constructor(socket, label) {
    this.socket = socket;
    this.label = label;
    this.status = null;        // HTTP status of the answer to the upgrade
    this.statusLine = '';
    this.headers = {};         // lower-case names
    this.body = '';            // body of a non-101 answer
    this.acceptOk = null;      // Sec-WebSocket-Accept matched the key
    this.frames = [];          // every frame from the server, parsed
    this.events = [];          // JSON text messages not yet taken by next()
    this.log = [];             // every text message, parsed (last 500)
    this.protocolErrors = [];  // things the server sent that RFC 6455 forbids
    this.closeFrame = null;    // {code, reason, length, at} of the server's first close frame
    this.tcpEnd = null;        // {at, error} when the TCP connection ended
    this.sentClose = false;
    this._buf = Buffer.alloc(0);
    this._out = [];
    this._http = true;
    this._frag = null;         // {opcode, parts} of a fragmented server message
    this._eventWaiters = [];
    this._frameWaiters = [];
    this._closeWaiters = [];
    this._endWaiters = [];
    this.opened = Date.now();
    this.ended = new Promise((resolve) => { this._endWaiters.push(resolve); });
    this.closeReceived = new Promise((resolve) => { this._closeWaiters.push(resolve); });
    open.add(this);
    socket.on('data', (d) => this._onData(d));
    socket.on('error', (e) => { this.lastError = e; });
    socket.on('close', () => this._onEnd());
  }

  // ---- writing ---------------------------------------------------------

  get writable() {
    return !this.socket.destroyed && this.socket.writable;
  }

  /** Writes raw bytes (no framing). Returns false when the socket is gone.
   *  Everything written in one synchronous run goes out in one socket
   *  write (flushed on the next tick): a server that closes after reading
   *  part of it then answers with a TCP RST, but the client has nothing
   *  left to write (no EPIPE), so it still reads the close frame that came
   *  before the RST. */
  write(bytes) {
    if (!this.writable) return false;
    this._out.push(toBuf(bytes));
    if (this._out.length === 1) process.nextTick(() => this.flush());
    return true;
  }

  /** Writes out what write() queued, now. */
  flush() {
    if (!this._out.length) return;
    const data = Buffer.concat(this._out.splice(0));
    if (this.writable) this.socket.write(data);
  }

  /** Writes one frame built by buildFrame(opts). */
  send(opts) { return this.write(buildFrame(opts)); }

  /** Sends text (string or Buffer of bytes, sent as they are) as one text
   *  frame; opts are buildFrame's (fin, rsv, mask ...). */
  sendText(text, opts = {}) { return this.send({ opcode: OP.TEXT, ...opts, payload: text }); }
  sendJson(obj, opts = {}) { return this.sendText(JSON.stringify(obj), opts); }
  sendBinary(bytes, opts = {}) { return this.send({ opcode: OP.BINARY, ...opts, payload: bytes }); }
  sendCont(bytes, opts = {}) { return this.send({ opcode: OP.CONT, ...opts, payload: bytes }); }
  ping(payload = '', opts = {}) { return this.send({ opcode: OP.PING, ...opts, payload }); }
  pong(payload = '', opts = {}) { return this.send({ opcode: OP.PONG, ...opts, payload }); }

  /** Sends a close frame: code (undefined: an empty body) and reason. */
  sendClose(code, reason = '', opts = {}) {
    this.sentClose = true;
    const payload = code === undefined ? Buffer.alloc(0) : closePayload(code, reason);
    return this.send({ opcode: OP.CLOSE, ...opts, payload });
  }

  /** Sends the text `text` as fragments: `parts` is an array of strings or
   *  Buffers (the first goes in a text frame, the rest in continuations, the
   *  last with FIN). */
  sendFragments(parts, { opcode = OP.TEXT, ...opts } = {}) {
    parts.forEach((p, i) => {
      this.send({ ...opts, opcode: i === 0 ? opcode : OP.CONT, fin: i === parts.length - 1, payload: p });
    });
  }

  /** Half-closes (FIN) our side. */
  end() { try { this.socket.end(); } catch { /* */ } }

  destroy() {
    open.delete(this);
    try { this.socket.destroy(); } catch { /* */ }
  }

  // ---- reading ---------------------------------------------------------

  _onEnd() {
    open.delete(this);
    if (!this.tcpEnd) {
      this.tcpEnd = { at: Date.now(), error: this.lastError ? this.lastError.code || this.lastError.message : null };
    }
    for (const r of this._endWaiters.splice(0)) r(this.tcpEnd);
    for (const w of [...this._eventWaiters, ...this._frameWaiters]) w.onEnd();
    this._eventWaiters = [];
    this._frameWaiters = [];
  }

  _onData(d) {
    this._buf = this._buf.length ? Buffer.concat([this._buf, d]) : d;
    if (this._http) {
      if (!this._parseHttp()) return;
    }
    if (this.status === 101) this._parseFrames();
    else this._parseBody();
  }

  _parseHttp() {
    const end = this._buf.indexOf('\r\n\r\n');
    if (end < 0) return false;
    const head = this._buf.subarray(0, end).toString('latin1');
    this._buf = this._buf.subarray(end + 4);
    this._http = false;
    const lines = head.split('\r\n');
    this.statusLine = lines[0];
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    this.status = m ? Number(m[1]) : -1;
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      if (i > 0) this.headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    if (this.status === 101 && this.key) {
      const want = crypto.createHash('sha1').update(this.key + WS_GUID).digest('base64');
      this.acceptOk = this.headers['sec-websocket-accept'] === want;
    }
    if (this._onHead) this._onHead();
    return true;
  }

  _parseBody() {
    this.body += this._buf.toString('utf8');
    this._buf = Buffer.alloc(0);
    const cl = Number(this.headers['content-length']);
    if (this._onBody && Number.isFinite(cl) && Buffer.byteLength(this.body) >= cl) this._onBody();
  }

  _parseFrames() {
    for (;;) {
      const b = this._buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const rsv = (b[0] >> 4) & 7;
      const opcode = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        const big = b.readBigUInt64BE(2);
        if (big > 0x7fffffffn) {
          this.protocolErrors.push(`server frame with a length of ${big}`);
          this.destroy();
          return;
        }
        len = Number(big);
        off = 10;
      }
      let key = null;
      if (masked) {
        if (b.length < off + 4) return;
        key = b.subarray(off, off + 4);
        off += 4;
      }
      if (b.length < off + len) return;
      let payload = Buffer.from(b.subarray(off, off + len));
      this._buf = b.subarray(off + len);
      if (masked) {
        this.protocolErrors.push('server frame is masked');
        for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
      }
      if (rsv) this.protocolErrors.push(`server frame with RSV bits ${rsv}`);
      const f = { fin, rsv, opcode, masked, length: len, payload, at: Date.now() };
      if (opcode === OP.CLOSE) {
        f.code = len >= 2 ? payload.readUInt16BE(0) : (len === 0 ? 1005 : null);
        f.reason = len > 2 ? payload.subarray(2).toString('utf8') : '';
      }
      this._onFrame(f);
    }
  }

  _onFrame(f) {
    this.frames.push(f);
    if (this.frames.length > 2000) this.frames.shift();
    for (let i = 0; i < this._frameWaiters.length; i++) {
      if (this._frameWaiters[i].match(f)) {
        const [w] = this._frameWaiters.splice(i, 1);
        w.resolve(f);
        break;
      }
    }
    if (f.opcode === OP.CLOSE) {
      if (!this.closeFrame) {
        this.closeFrame = { code: f.code, reason: f.reason, length: f.length, at: f.at };
        for (const r of this._closeWaiters.splice(0)) r(this.closeFrame);
      }
      return;
    }
    if (f.opcode === OP.TEXT || f.opcode === OP.BINARY) {
      if (this._frag) this.protocolErrors.push('server started a message inside a fragmented one');
      if (!f.fin) { this._frag = { opcode: f.opcode, parts: [f.payload] }; return; }
      this._message(f.opcode, f.payload);
    } else if (f.opcode === OP.CONT) {
      if (!this._frag) { this.protocolErrors.push('server continuation without a start'); return; }
      this._frag.parts.push(f.payload);
      if (f.fin) {
        const { opcode, parts } = this._frag;
        this._frag = null;
        this._message(opcode, Buffer.concat(parts));
      }
    }
  }

  _message(opcode, payload) {
    let ev;
    if (opcode === OP.BINARY) ev = { __binary: payload.toString('hex').slice(0, 200) };
    else {
      const text = payload.toString('utf8');
      try { ev = JSON.parse(text); } catch { ev = { __raw: text }; }
    }
    this.log.push(ev);
    if (this.log.length > 500) this.log.shift();
    for (let i = 0; i < this._eventWaiters.length; i++) {
      if (this._eventWaiters[i].match(ev)) {
        const [w] = this._eventWaiters.splice(i, 1);
        w.resolve(ev);
        return;
      }
    }
    this.events.push(ev);
  }

  _wait(list, queue, pred, timeoutMs, what) {
    const match = matcher(pred);
    if (queue) {
      const i = queue.findIndex(match);
      if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
    }
    return new Promise((resolve, reject) => {
      const fail = (why) => reject(new Error(`${this.label}: ${why} waiting for ${what} ${typeof pred === 'function' ? pred.label || 'matching a function' : describe(pred)}.\n` +
        `  ${this.state()}`));
      const w = {
        match,
        resolve: (x) => { clearTimeout(timer); resolve(x); },
        onEnd: () => { clearTimeout(timer); fail('TCP connection ended'); },
      };
      const timer = setTimeout(() => {
        const k = list.indexOf(w);
        if (k >= 0) list.splice(k, 1);
        fail(`timeout after ${timeoutMs} ms`);
      }, timeoutMs);
      if (this.tcpEnd) { w.onEnd(); return; }
      list.push(w);
    });
  }

  /** The first queued or incoming JSON message matching pred (function,
   *  event name, or object of required fields), removed from the queue. */
  next(pred = () => true, timeoutMs = 5000) {
    return this._wait(this._eventWaiters, this.events, pred, timeoutMs, 'a message');
  }

  /** The next incoming frame (any opcode) matching pred, e.g.
   *  { opcode: OP.PONG }. Frames that arrived before the call are not
   *  considered unless `since` (an index into this.frames) is given. */
  nextFrame(pred, timeoutMs = 5000, since = null) {
    const match = matcher(pred);
    if (since !== null) {
      const f = this.frames.slice(since).find(match);
      if (f) return Promise.resolve(f);
    }
    return this._wait(this._frameWaiters, null, match, timeoutMs, 'a frame');
  }

  /** Queued JSON messages matching pred (not removed). */
  pending(pred = () => true) { return this.events.filter(matcher(pred)); }

  /** Waits up to timeoutMs for the server's close frame AND the end of the
   *  TCP connection (whichever come). Resolves with
   *  {code, reason, closeFrame, tcpEnded, tcpEndMs (after the close frame,
   *  or after the call when no close frame came), error}. */
  async waitClosed(timeoutMs = 5000) {
    const start = Date.now();
    const deadline = start + timeoutMs;
    const within = (p, ms) => new Promise((resolve) => {
      const t = setTimeout(() => resolve(null), Math.max(0, ms));
      p.then((v) => { clearTimeout(t); resolve(v); });
    });
    if (!this.closeFrame && !this.tcpEnd) {
      await within(Promise.race([this.closeReceived, this.ended]), deadline - Date.now());
    }
    if (!this.tcpEnd) await within(this.ended, deadline - Date.now());
    const cf = this.closeFrame;
    return {
      code: cf ? cf.code : null,
      reason: cf ? cf.reason : null,
      closeFrame: cf,
      tcpEnded: !!this.tcpEnd,
      tcpEndMs: this.tcpEnd ? this.tcpEnd.at - (cf ? cf.at : start) : null,
      error: this.tcpEnd ? this.tcpEnd.error : null,
    };
  }

  /** One line describing what was received, for assertion messages. */
  state() {
    const frames = this.frames.slice(-12).map((f) => describe(frameSummary(f))).join(' ');
    return `status=${this.status} closeFrame=${describe(this.closeFrame)} tcpEnd=${describe(this.tcpEnd)}` +
      ` queued=${this.events.length} last frames: ${frames || 'none'}` +
      (this.protocolErrors.length ? ` SERVER PROTOCOL ERRORS: ${this.protocolErrors.join('; ')}` : '');
  }
}

/** Opens a TCP connection to target ({host?, port}, a harness Gateway) and
 *  sends an upgrade request. Resolves with a RawWs once the answer's head is
 *  in (101), or once the whole answer is in (anything else: see .status,
 *  .body). Never rejects for an HTTP status; rejects when there is no
 *  answer within timeoutMs.
 *  opts:
 *    path ('/ws'), query (appended as ?query when given),
 *    headers: extra or replacing headers; a header set to null is left out
 *      (e.g. { 'Sec-WebSocket-Key': null }),
 *    request: a whole raw request (string/Buffer) sent instead,
 *    welcome (true): for a 101, wait for the first text message, which must
 *      be a `welcome` event, and keep it as .welcome (not queued),
 *    label, timeoutMs (5000). */
export function rawConnect(target, opts = {}) {
  const {
    path = '/ws', query, headers = {}, request, welcome = true, label, timeoutMs = 5000,
  } = opts;
  const host = target.host || '127.0.0.1';
  const port = target.port;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    const ws = new RawWs(socket, label || `raw@${port}${path}`);
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) { ws.destroy(); reject(err); } else resolve(ws);
    };
    const timer = setTimeout(() => finish(new Error(`${ws.label}: no ${ws.status === null ? 'answer to the upgrade' : 'welcome'} within ${timeoutMs} ms; ${ws.state()}`)), timeoutMs);
    socket.on('error', (e) => { if (ws.status === null) finish(new Error(`${ws.label}: ${e.message}`)); });
    socket.on('connect', () => {
      if (request !== undefined) {
        socket.write(toBuf(request));
        return;
      }
      ws.key = crypto.randomBytes(16).toString('base64');
      const h = {
        Host: `${host}:${port}`,
        Upgrade: 'websocket',
        Connection: 'Upgrade',
        'Sec-WebSocket-Key': ws.key,
        'Sec-WebSocket-Version': '13',
      };
      for (const [k, v] of Object.entries(headers)) {
        const existing = Object.keys(h).find((x) => x.toLowerCase() === k.toLowerCase());
        if (existing) delete h[existing];
        if (v !== null && v !== undefined) h[k] = v;
      }
      if (h['Sec-WebSocket-Key'] !== ws.key) ws.key = h['Sec-WebSocket-Key'] || null;
      const target = query !== undefined ? `${path}?${query}` : path;
      const text = `GET ${target} HTTP/1.1\r\n` +
        Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
      socket.write(text);
    });
    ws._onHead = () => {
      if (ws.status !== 101) {
        ws._onBody = () => finish(null);
        ws.ended.then(() => finish(null));
        return;
      }
      if (!welcome) { finish(null); return; }
      ws.next(() => true, timeoutMs).then((first) => {
        if (!first || first.event !== 'welcome') {
          finish(new Error(`${ws.label}: first message is not welcome: ${describe(first)}`));
          return;
        }
        ws.welcome = first;
        finish(null);
      }, (e) => finish(e));
    };
    ws.ended.then(() => {
      if (ws.status === null) finish(new Error(`${ws.label}: connection ended before any answer; ${ws.state()}`));
    });
  });
}

/** Like rawConnect, but the upgrade must succeed (101): rejects otherwise. */
export async function rawOpen(target, opts = {}) {
  const ws = await rawConnect(target, opts);
  if (ws.status !== 101) {
    ws.destroy();
    const e = new Error(`${ws.label}: upgrade refused: ${ws.statusLine} ${ws.body.slice(0, 200)}`);
    e.status = ws.status;
    throw e;
  }
  return ws;
}

/** A deterministic byte generator (xorshift32), for reproducible garbage. */
export function pseudoRandomBytes(n, seed = 1) {
  let x = (seed >>> 0) || 1;
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}
