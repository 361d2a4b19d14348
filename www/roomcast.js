// roomcast.js: a standalone client for the roomcast WebSocket protocol
// (version 1). It has no dependencies and works in browsers and in any
// runtime with a WHATWG-style WebSocket (pass `WebSocket` in the options).
//
//   import { RoomcastClient } from './roomcast.js';
//   const rc = new RoomcastClient({ url: 'ws://host:8080/ws' });
//   rc.on('message', (m) => console.log(m.name, m.message));
//   rc.connect();
//   rc.enter('lobby', 'alice');
//   rc.send('lobby', 'hello');
//
// Reliability lives here so every app gets it: heartbeats both ways, a dead
// link detector, reconnection with exponential backoff and full jitter,
// catch-up with `since` after a reconnect or a page reload, de-duplication by
// (room, seq), and an outbox of messages whose client ids make resends
// idempotent on the server.

export const PROTOCOL_VERSION = 1;

const ROOM_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const UID_RE = /^[A-Za-z0-9_.:@-]{1,64}$/;
// Control characters (C0, DEL, C1) are not allowed in names by the protocol.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

const DEFAULT_HEARTBEAT_MS = 25000;
// Errors after which resending the same message later can succeed.
const RETRYABLE = new Set(['rate_limited', 'unavailable', 'internal']);

const encoder = typeof TextEncoder !== 'undefined' ? new TextEncoder() : null;
function byteLength(s) {
  if (encoder) return encoder.encode(s).length;
  return unescape(encodeURIComponent(s)).length;
}

/** A random client message id: 16 random bytes in hex (32 characters). */
export function newMessageId() {
  const bytes = new Uint8Array(16);
  const c = globalThis.crypto;
  // getRandomValues exists in insecure contexts too (unlike randomUUID), so a
  // page served over plain http from a LAN address still gets good ids.
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

// ---- binary messages (docs/protocol.md "Binary messages") ------------------

const MIME_RE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+$/;
const DEFAULT_TYPE = 'application/octet-stream';
// File names: no path separators and no control characters.
const FILENAME_BAD_RE = /[/\\\u0000-\u001f\u007f-\u009f]/g;

/** A MIME type the protocol takes (`word/word`, at most 127 bytes), from
 *  anything a Blob may carry (`text/plain;charset=utf-8`); null if none. */
export function cleanType(type) {
  if (typeof type !== 'string') return null;
  const t = type.split(';')[0].trim();
  return t.length <= 127 && MIME_RE.test(t) ? t : null;
}

/** A file name the protocol takes (1-255 bytes of UTF-8, no `/`, `\` or
 *  control characters): bad characters become `_`, long names are cut
 *  (keeping the extension); null for an empty name. */
export function cleanFilename(name) {
  if (typeof name !== 'string' || !name) return null;
  let n = name.replace(FILENAME_BAD_RE, '_');
  while (byteLength(n) > 255) {
    const dot = n.lastIndexOf('.');
    const ext = dot > 0 && n.length - dot <= 16 ? n.slice(dot) : '';
    n = [...n.slice(0, n.length - ext.length)].slice(0, -1).join('') + ext;
  }
  return n || null;
}

/** Encodes a binary chat message: 4-byte big-endian header length, the JSON
 *  header, the payload (an ArrayBuffer or a typed array). Returns an ArrayBuffer. */
export function encodeBinaryMessage(header, payload) {
  const h = encoder.encode(JSON.stringify(header));
  const p = payload instanceof ArrayBuffer ? new Uint8Array(payload)
    : new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  const out = new Uint8Array(4 + h.length + p.length);
  new DataView(out.buffer).setUint32(0, h.length);
  out.set(h, 4);
  out.set(p, 4 + h.length);
  return out.buffer;
}

/** Decodes a binary chat message from the server: its header fields plus
 *  `binary: true` and `payload` (an ArrayBuffer); null if it is not one. */
export function decodeBinaryMessage(data) {
  const u = data instanceof ArrayBuffer ? new Uint8Array(data)
    : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
  if (!u || u.length < 4) return null;
  const n = new DataView(u.buffer, u.byteOffset, u.byteLength).getUint32(0);
  if (n < 1 || 4 + n > u.length) return null;
  let h;
  try { h = JSON.parse(new TextDecoder().decode(u.subarray(4, 4 + n))); } catch { return null; }
  if (!h || typeof h !== 'object' || Array.isArray(h)) return null;
  const payload = u.slice(4 + n).buffer;
  return { ...h, binary: true, payload };
}

function base64ToBuffer(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

export function isValidRoom(room) {
  return typeof room === 'string' && ROOM_RE.test(room);
}

export function isValidName(name) {
  if (typeof name !== 'string') return false;
  const n = [...name].length;
  return n >= 1 && n <= 32 && !CONTROL_RE.test(name);
}

export function isValidUid(uid) {
  return typeof uid === 'string' && UID_RE.test(uid);
}

/** The `/ws` endpoint next to the current page (ws: or wss: to match it). */
export function defaultUrl() {
  if (typeof location === 'undefined') throw new Error('RoomcastClient: no url given');
  const u = new URL('ws', location.href);
  u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  u.search = '';
  u.hash = '';
  return u.href;
}

function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => { m.set(k, String(v)); },
    removeItem: (k) => { m.delete(k); },
  };
}

function defaultStorage() {
  try {
    const s = globalThis.localStorage;
    if (s) {
      // Some browsers expose localStorage but throw on use (private modes,
      // disabled storage); probe once and fall back to memory.
      const k = '__roomcast_probe__';
      s.setItem(k, '1');
      s.removeItem(k);
      return s;
    }
  } catch { /* fall through to memory */ }
  return memoryStorage();
}

/**
 * A roomcast connection that survives network trouble.
 *
 * Events (listener gets one object unless noted):
 *   status    {status: 'connecting'|'connected'|'reconnecting'|'offline'|'closed', delay?}
 *   welcome   the server's welcome frame
 *   auth      {uid, name?} after a successful jwt authentication
 *   noauth    {message} the token is missing or was rejected
 *   message   a message frame plus {own}; each (room, seq) is emitted once
 *   history   {room, messages, more, before} messages not emitted before, oldest first
 *   enter / out / leave   the frame plus {self}; `enter` also has {initial, replayed}
 *   who       {room, members}
 *   truncated {room, since, before}: messages with since < seq < before were
 *             left out of the catch-up; fetch them with history()
 *   pending   {room, id, message, state: 'queued'|'sending'|'sent'|'failed', error?, seq?}
 *             the outbox: `sent` (with the stored seq) means the server has
 *             it; `failed` is final until retry(id)
 *   error     {code, message, id?, room?, text?}
 */
export class RoomcastClient {
  constructor(options = {}) {
    this.url = options.url || defaultUrl();
    this.token = options.token || null;
    this.storage = options.storage === null ? memoryStorage() : (options.storage || defaultStorage());
    this.storageKey = options.storageKey || 'roomcast:v1';
    this.WebSocket = options.WebSocket || globalThis.WebSocket;
    this.backoffBaseMs = options.backoffBaseMs ?? 500;
    this.backoffCapMs = options.backoffCapMs ?? 15000;
    this.welcomeTimeoutMs = options.welcomeTimeoutMs ?? 10000;
    this.enterRetryMs = options.enterRetryMs ?? 8000;
    this.historyLimit = options.historyLimit ?? 50;

    this.status = 'idle';
    this.welcome = null;
    this.auth = null;          // welcome.auth: 'none' | 'jwt'
    this.authed = false;
    this.authName = null;
    this.limits = { max_frame_bytes: 65536, max_message_bytes: 16384, max_binary_bytes: 1048576, rate_per_s: 50 };
    this.heartbeatMs = DEFAULT_HEARTBEAT_MS;

    this._listeners = new Map();
    this._ws = null;
    this._gen = 0;             // socket generation: stale sockets' events are ignored
    this._attempt = 0;
    this._everConnected = false;
    this._wanted = false;      // connect() called and close() not since
    this._timers = { reconnect: null, beat: null, welcome: null, flush: null, stable: null };
    this._lastRx = 0;
    this._bucket = { tokens: 0, at: 0 };
    this._sendQueue = [];      // frames waiting for rate budget

    // Persistent state. `rooms` keeps insertion order (Map), which is the
    // order the app showed them in.
    this.uid = null;
    this.name = null;
    this.rooms = new Map();    // room -> {name, uid?, seq, joined, initial, since, replayed, minReplay, seen:Set, requests:[], retries, enterTimer}
    this.outbox = [];          // [{room, id, message, t, gen, retryAt}]
    this._binOut = [];         // binary messages not yet stored (memory only): [{room, id, type, filename, size, bytes, gen, retryAt, failed}]
    this._leaving = new Map(); // room -> last seq: rooms left while disconnected (enter+leave on reconnect)
    this._load();

    this._onOnline = () => this._handleOnline();
    this._onOffline = () => this._handleOffline();
    this._onWake = () => { if (this._isOpen()) this._raw({ event: 'heartbeat', message: 'ping' }); };
    this._onPageHide = () => { this._saveNow(); };
  }

  // ---- events -------------------------------------------------------------

  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this.off(event, fn);
  }

  off(event, fn) {
    const s = this._listeners.get(event);
    if (s) s.delete(fn);
  }

  _emit(event, data) {
    const s = this._listeners.get(event);
    if (!s) return;
    for (const fn of [...s]) {
      try { fn(data); } catch (e) {
        // One broken listener must not stop the protocol machinery.
        if (typeof console !== 'undefined') console.error('roomcast listener failed', e);
      }
    }
  }

  // ---- public API -----------------------------------------------------------

  /** Open the connection and keep it open until close(). */
  connect() {
    if (this._wanted) return this;
    this._wanted = true;
    if (typeof window !== 'undefined' && window.addEventListener) {
      window.addEventListener('online', this._onOnline);
      window.addEventListener('offline', this._onOffline);
      window.addEventListener('pagehide', this._onPageHide);
      window.addEventListener('focus', this._onWake);
    }
    if (typeof document !== 'undefined' && document.addEventListener) {
      document.addEventListener('visibilitychange', this._onWake);
    }
    this._open();
    return this;
  }

  /** Close for good (no reconnection). Rooms stay remembered in storage. */
  close() {
    this._wanted = false;
    if (typeof window !== 'undefined' && window.removeEventListener) {
      window.removeEventListener('online', this._onOnline);
      window.removeEventListener('offline', this._onOffline);
      window.removeEventListener('pagehide', this._onPageHide);
      window.removeEventListener('focus', this._onWake);
    }
    if (typeof document !== 'undefined' && document.removeEventListener) {
      document.removeEventListener('visibilitychange', this._onWake);
    }
    this._dropSocket(1000);
    this._clearTimers();
    this._saveNow();
    this._setStatus('closed');
  }

  /** Set (or replace) the jwt token; authenticates at once when connected. */
  setToken(token) {
    this.token = token || null;
    if (this._isOpen() && this.auth === 'jwt' && this.token && !this.authed) {
      this._raw({ event: 'auth', token: this.token });
    }
  }

  /**
   * Enter a room (and stay in it across reconnects and reloads). `name` may be
   * omitted in jwt mode when the token carries one. `opts.uid` picks the uid
   * in auth mode `none` (kept for later connections).
   */
  enter(room, name, opts = {}) {
    if (!isValidRoom(room)) throw new TypeError('invalid room name');
    if (name != null && name !== '' && !isValidName(name)) throw new TypeError('invalid display name');
    if (opts.uid != null) {
      if (!isValidUid(opts.uid)) throw new TypeError('invalid uid');
      this.uid = opts.uid;
    }
    if (name) this.name = name;
    const leftSeq = this._leaving.get(room);
    this._leaving.delete(room);
    let r = this.rooms.get(room);
    // Already in (or on the way in) under the same name: nothing changes.
    if (r && (r.joined || r.enterTimer) && (!name || name === r.name)) return this;
    if (!r) {
      r = this._newRoom(name || this.name, leftSeq ?? null);
      this.rooms.set(room, r);
      r.initial = true;
    } else if (name) {
      r.name = name;
    }
    this._save();
    if (this._ready()) this._sendEnter(room);
    return this;
  }

  /** End membership of a room. */
  leave(room) {
    const r = this.rooms.get(room);
    if (!r) return this;
    const joinedNow = r.joined && this._ready();
    this._forgetRoom(room);
    if (joinedNow) this._raw({ event: 'leave', room });
    else this._leaving.set(room, r.seq); // the server needs an enter first; done on reconnect
    this._save();
    return this;
  }

  /**
   * Send a chat message. Returns its client id. It is queued while the link
   * is down or the room not yet (re-)entered and resent with the same id, so
   * the server stores it at most once.
   */
  send(room, text) {
    if (!this.rooms.has(room)) throw new Error(`not in room ${room}`);
    if (typeof text !== 'string' || text.length === 0) throw new TypeError('empty message');
    const item = { room, id: newMessageId(), message: text, t: Date.now(), gen: 0, retryAt: 0 };
    const tooBig = this._tooBig(item);
    if (tooBig) {
      this._emit('pending', { room, id: item.id, message: text, state: 'failed', error: tooBig });
      this._emit('error', { ...tooBig, id: item.id, room, text });
      return item.id;
    }
    this.outbox.push(item);
    this._save();
    const r = this.rooms.get(room);
    const sendable = this._ready() && r.joined;
    this._emit('pending', { room, id: item.id, message: text, state: sendable ? 'sending' : 'queued' });
    if (sendable) this._flushOutbox();
    return item.id;
  }

  /**
   * Whether a binary message of `size` payload bytes (with this type and
   * file name) would be over `limits.max_binary_bytes`: null when it fits,
   * else {code: 'too_large', message}.
   */
  binaryTooLarge(size, { type, filename } = {}) {
    const max = Number(this.limits.max_binary_bytes) || 1048576;
    const header = { event: 'message', room: 'r'.repeat(64), id: 'i'.repeat(32), type: cleanType(type) || DEFAULT_TYPE };
    const fn = cleanFilename(filename);
    if (fn) header.filename = fn;
    const total = 4 + byteLength(JSON.stringify(header)) + size;
    return total > max ? { code: 'too_large', message: `too large: ${total} bytes with its header, at most ${max}` } : null;
  }

  /**
   * Send a picture or a file (a Blob, File, ArrayBuffer or typed array) as a
   * binary message. `type` defaults to the Blob's type (else
   * application/octet-stream), `filename` to a File's name. Returns its
   * client id; like send(), it is resent with the same id after a reconnect
   * (kept in memory only, not in storage). A payload over
   * `max_binary_bytes` fails at once with `too_large`, nothing sent.
   */
  sendBinary(room, data, { type, filename, id } = {}) {
    if (!this.rooms.has(room)) throw new Error(`not in room ${room}`);
    const isBlob = typeof Blob !== 'undefined' && data instanceof Blob;
    if (!isBlob && !(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) throw new TypeError('sendBinary takes a Blob or an ArrayBuffer');
    const size = isBlob ? data.size : data.byteLength;
    const item = {
      room, id: id || newMessageId(), type: cleanType(type) || cleanType(isBlob ? data.type : null) || DEFAULT_TYPE,
      filename: cleanFilename(filename ?? (isBlob ? data.name : null)), size, bytes: null, gen: 0, retryAt: 0, failed: false,
    };
    const info = (state, extra) => ({ room, id: item.id, message: item.filename || '', binary: true, type: item.type,
      filename: item.filename, size, state, ...(extra || {}) });
    const bad = size === 0 ? { code: 'bad_request', message: 'the file is empty' }
      : this.binaryTooLarge(size, item);
    if (bad) {
      this._emit('pending', info('failed', { error: bad }));
      this._emit('error', { ...bad, id: item.id, room });
      return item.id;
    }
    this._binOut.push(item);
    const ready = (buf) => { item.bytes = buf; this._flushOutbox(); };
    if (isBlob) {
      data.arrayBuffer().then(ready, () => {
        this._binOut = this._binOut.filter((m) => m !== item);
        this._emit('pending', info('failed', { error: { code: 'read_failed', message: 'the file could not be read' } }));
      });
    } else {
      ready(data instanceof ArrayBuffer ? data.slice(0) : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    }
    const r = this.rooms.get(room);
    this._emit('pending', info(this._ready() && r.joined ? 'sending' : 'queued'));
    return item.id;
  }

  _binInfo(item, state, extra) {
    return { room: item.room, id: item.id, message: item.filename || '', binary: true, type: item.type,
      filename: item.filename, size: item.size, state, ...(extra || {}) };
  }

  /** Drop a queued or failed message from the outbox (it will not be sent). */
  discard(id) {
    const i = this.outbox.findIndex((m) => m.id === id);
    if (i >= 0) { this.outbox.splice(i, 1); this._save(); }
    this._binOut = this._binOut.filter((m) => m.id !== id);
  }

  /** Try a failed message again (same id, so never stored twice). */
  retry(id) {
    const bin = this._binOut.find((m) => m.id === id);
    if (bin) {
      bin.gen = 0;
      bin.retryAt = 0;
      bin.failed = false;
      const br = this.rooms.get(bin.room);
      this._emit('pending', this._binInfo(bin, this._ready() && br && br.joined ? 'sending' : 'queued'));
      this._flushOutbox();
      return id;
    }
    const item = this.outbox.find((m) => m.id === id);
    if (!item) return null;
    item.gen = 0;
    item.retryAt = 0;
    item.failed = false;
    this._save();
    const r = this.rooms.get(item.room);
    const sendable = this._ready() && r && r.joined;
    this._emit('pending', { room: item.room, id, message: item.message, state: sendable ? 'sending' : 'queued' });
    if (sendable) this._flushOutbox();
    return id;
  }

  /** Ask for the member list. Resolves with the `who` event, or null if the link dropped first. */
  who(room) {
    return this._request(room, { event: 'who', room }, 'who');
  }

  /**
   * Ask for older messages: those with seq < before (default: the newest).
   * Resolves with {room, messages, more, before} where `messages` holds only
   * the ones not emitted before; null if the link dropped first.
   */
  history(room, before, limit) {
    const frame = { event: 'history', room };
    if (before != null) frame.before = before;
    frame.limit = limit ?? this.historyLimit;
    return this._request(room, frame, 'history');
  }

  /** Asks the server to delete one of this user's messages in a room it
   *  has entered. Returns false (nothing sent) when the room is not entered
   *  on the current connection; the answer is a `delete` event (or an
   *  `error`: `forbidden` for another's message). */
  deleteMessage(room, seq) {
    const r = this.rooms.get(room);
    if (!r || !r.joined || !this._ready() || !Number.isInteger(seq) || seq < 1) return false;
    this._raw({ event: 'delete', room, seq });
    return true;
  }

  /** Rooms currently kept, in the order they were entered. */
  roomList() {
    return [...this.rooms.keys()];
  }

  /** The last seq seen in a room (null before the first entry). */
  lastSeq(room) {
    const r = this.rooms.get(room);
    return r ? r.seq : null;
  }

  /** Messages of the outbox for a room (queued, sending or failed), oldest first. */
  pending(room) {
    return this.outbox.filter((m) => room == null || m.room === room)
      .map((m) => ({ room: m.room, id: m.id, message: m.message, t: m.t, failed: !!m.failed }));
  }

  // ---- connection lifecycle -----------------------------------------------

  _isOpen() {
    return this._ws && this._ws.readyState === 1;
  }

  _ready() {
    return this._isOpen() && this.welcome && (this.auth !== 'jwt' || this.authed);
  }

  _online() {
    return typeof navigator === 'undefined' || navigator.onLine !== false;
  }

  _setStatus(status, extra) {
    if (this.status === status && !extra) return;
    this.status = status;
    this._emit('status', { status, ...(extra || {}) });
  }

  _open() {
    if (!this._wanted) return;
    clearTimeout(this._timers.reconnect);
    this._timers.reconnect = null;
    if (!this._online()) {
      this._setStatus('offline');
      return;
    }
    // `connecting` only for the very first try; after any failure the user
    // sees `reconnecting` until a connection works.
    this._setStatus(this._everConnected || this._attempt > 0 ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new this.WebSocket(this._socketUrl());
    } catch (e) {
      this._emit('error', { code: 'connect_failed', message: String(e && e.message || e) });
      this._scheduleReconnect();
      return;
    }
    const gen = ++this._gen;
    this._ws = ws;
    this.welcome = null;
    this.authed = false;
    this._lastRx = Date.now();
    this._sendQueue = [];
    // Binary messages arrive as ArrayBuffers: decoded at once, in order.
    try { ws.binaryType = 'arraybuffer'; } catch { /* a runtime without it */ }
    ws.onmessage = (ev) => { if (gen === this._gen) this._onFrame(ev.data); };
    ws.onclose = (ev) => { if (gen === this._gen) this._onClose(ev.code, ev.reason); };
    // An error is always followed by a close event; that is where we react.
    ws.onerror = () => {};
    // A socket that opens but never says welcome (a proxy that accepted the
    // TCP connection and hangs) is as dead as one that never opened.
    clearTimeout(this._timers.welcome);
    this._timers.welcome = setTimeout(() => {
      if (gen === this._gen && !this.welcome) this._linkDead('no welcome');
    }, this.welcomeTimeoutMs);
  }

  _socketUrl() {
    // The token travels in the first `auth` frame rather than in the URL, so
    // it does not land in proxy access logs.
    return this.url;
  }

  _dropSocket(code) {
    const ws = this._ws;
    this._ws = null;
    this._gen++;
    if (ws) {
      ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(code || 1000); } catch { /* already closing */ }
    }
    this._stopBeat();
    this._markDisconnected();
  }

  _markDisconnected() {
    this.welcome = null;
    this.authed = false;
    this._sendQueue = [];
    for (const r of this.rooms.values()) {
      r.joined = false;
      clearTimeout(r.enterTimer);
      r.enterTimer = null;
      // Pending who/history requests die with the socket: the server will
      // never answer them now. Callers get null and ask again later.
      for (const q of r.requests) if (q.sent) q.resolve(null);
      r.requests = r.requests.filter((q) => !q.sent);
    }
    for (const m of this.outbox) m.gen = 0;
    for (const m of this._binOut) m.gen = 0;
  }

  _onClose(code, reason) {
    this._ws = null;
    this._gen++;
    this._stopBeat();
    clearTimeout(this._timers.welcome);
    this._markDisconnected();
    if (code === 4001) {
      this._emit('noauth', { message: reason || 'not authenticated in time' });
    }
    this._emitQueuedState();
    this._scheduleReconnect();
  }

  _linkDead(why) {
    // Closing a dead TCP link can take minutes to report; start over at once
    // with a fresh socket instead of waiting for the old one's close event.
    this._dropSocket(4000);
    this._emitQueuedState();
    this._emit('error', { code: 'link_dead', message: why });
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    if (!this._wanted) return;
    clearTimeout(this._timers.reconnect);
    if (!this._online()) {
      this._setStatus('offline');
      return;
    }
    // Exponential backoff with full jitter: spread a crowd of clients that
    // lost the same gateway over the whole window instead of a thundering herd.
    const ceiling = Math.min(this.backoffCapMs, this.backoffBaseMs * 2 ** this._attempt);
    const delay = Math.floor(Math.random() * ceiling);
    this._attempt = Math.min(this._attempt + 1, 30);
    this._setStatus('reconnecting', { delay });
    this._timers.reconnect = setTimeout(() => this._open(), delay);
  }

  _handleOnline() {
    if (!this._wanted) return;
    this._attempt = 0;
    if (!this._ws) this._open();
  }

  _handleOffline() {
    if (!this._wanted) return;
    // The browser says there is no network: stop burning retries, show
    // `offline`, and come back at once on the `online` event.
    clearTimeout(this._timers.reconnect);
    this._dropSocket(1000);
    this._emitQueuedState();
    this._setStatus('offline');
  }

  _clearTimers() {
    for (const k of Object.keys(this._timers)) {
      clearTimeout(this._timers[k]);
      clearInterval(this._timers[k]);
      this._timers[k] = null;
    }
    for (const r of this.rooms.values()) { clearTimeout(r.enterTimer); r.enterTimer = null; }
  }

  _startBeat() {
    this._stopBeat();
    const every = Math.max(1000, Math.floor(this.heartbeatMs / 2));
    this._timers.beat = setInterval(() => {
      if (!this._isOpen()) return;
      if (Date.now() - this._lastRx > 2 * this.heartbeatMs) {
        this._linkDead('server silent');
        return;
      }
      this._raw({ event: 'heartbeat', message: 'ping' });
    }, every);
  }

  _stopBeat() {
    clearInterval(this._timers.beat);
    this._timers.beat = null;
  }

  // ---- frames in --------------------------------------------------------------

  _onFrame(data) {
    this._lastRx = Date.now();
    if (typeof data !== 'string') {
      const b = decodeBinaryMessage(data);
      if (b && b.event === 'message' && typeof b.room === 'string') this._onMessage(b);
      return;
    }
    let f;
    try { f = JSON.parse(data); } catch { return; }
    if (!f || typeof f !== 'object' || typeof f.event !== 'string') return;
    switch (f.event) {
      case 'welcome': return this._onWelcome(f);
      case 'auth': return this._onAuth(f);
      case 'noauth': return this._emit('noauth', { message: f.message || '' });
      case 'heartbeat':
        if (f.message === 'ping') this._raw({ event: 'heartbeat', message: 'pong' });
        return;
      case 'message': return this._onMessage(f);
      case 'enter': return this._onEnter(f);
      case 'out': return this._onPresence(f);
      case 'leave': return this._onLeave(f);
      case 'who': return this._onWho(f);
      case 'history': return this._onHistory(f);
      case 'error': return this._onError(f);
      case 'delete': return this._onDelete(f);
      default: return; // unknown server events are ignored (forward compatible)
    }
  }

  _onWelcome(f) {
    clearTimeout(this._timers.welcome);
    this.welcome = f;
    this.auth = f.auth === 'jwt' ? 'jwt' : 'none';
    if (Number.isFinite(f.heartbeat_ms) && f.heartbeat_ms > 0) this.heartbeatMs = f.heartbeat_ms;
    if (f.limits && typeof f.limits === 'object') this.limits = { ...this.limits, ...f.limits };
    this._bucket = { tokens: this._rate(), at: Date.now() };
    this._startBeat();
    if (this.auth === 'none') {
      // Keep the first uid we were ever given: it is our identity in every
      // room across reconnects and reloads.
      if (!this.uid && isValidUid(f.uid)) { this.uid = f.uid; this._save(); }
    }
    this._emit('welcome', f);
    if (this.auth === 'jwt') {
      if (this.token) this._raw({ event: 'auth', token: this.token });
      else this._emit('noauth', { message: 'a token is required' });
      // Connected at the transport level; rooms follow after `auth`.
      this._connected();
      return;
    }
    this._connected();
    this._resume();
  }

  _onAuth(f) {
    this.authed = true;
    if (isValidUid(f.uid)) this.uid = f.uid;
    this.authName = typeof f.name === 'string' ? f.name : null;
    this._save();
    this._emit('auth', { uid: f.uid, name: f.name });
    this._resume();
  }

  _connected() {
    this._everConnected = true;
    // The backoff starts over only once a connection has proved stable, so a
    // server that accepts and then drops us at once is not hammered.
    clearTimeout(this._timers.stable);
    const gen = this._gen;
    this._timers.stable = setTimeout(() => { if (gen === this._gen) this._attempt = 0; }, 5000);
    this._setStatus('connected');
  }

  _resume() {
    for (const [room, seq] of this._leaving) {
      const r = this._newRoom(this.name, seq);
      r.leaving = true;
      this._sendEnterFrame(room, r);
    }
    for (const room of this.rooms.keys()) this._sendEnter(room);
  }

  _newRoom(name, seq) {
    return {
      name: name || null, seq, joined: false, initial: true, since: null, replayed: 0,
      minReplay: null, seen: new Set(), requests: [], enterTimer: null, retries: 0, counts: null,
    };
  }

  _sendEnter(room) {
    const r = this.rooms.get(room);
    if (!r) return;
    r.joined = false;
    r.since = r.seq;
    r.replayed = 0;
    r.minReplay = null;
    this._sendEnterFrame(room, r);
    clearTimeout(r.enterTimer);
    // No answer (the enter was lost to a broker outage, or refused with an
    // error the protocol cannot tie to a room): ask again, less and less
    // often, for as long as the connection lasts.
    const wait = Math.min(30000, this.enterRetryMs * 2 ** Math.min(r.retries, 4));
    r.enterTimer = setTimeout(() => {
      r.enterTimer = null;
      if (this.rooms.get(room) !== r || r.joined || !this._ready()) return;
      r.retries++;
      if (r.retries === 3) this._emit('error', { code: 'enter_failed', message: `could not enter ${room} yet`, room });
      this._sendEnter(room);
    }, wait);
  }

  _sendEnterFrame(room, r) {
    const frame = { event: 'enter', room };
    const name = r.name || this.name;
    if (name) frame.name = name;
    // In jwt mode the token's `sub` is the uid; sending another one is
    // refused, so only `none` mode carries it.
    if (this.auth === 'none' && this.uid) frame.uid = this.uid;
    if (r.seq != null) frame.since = r.seq;
    this._raw(frame);
  }

  _onMessage(f) {
    const r = this.rooms.get(f.room);
    if (!r || !Number.isInteger(f.seq)) return;
    const own = this.uid != null && f.uid === this.uid;
    if (own && f.id) this._acked(f.id, f.seq);
    if (f.replay) {
      r.replayed++;
      if (r.minReplay == null || f.seq < r.minReplay) r.minReplay = f.seq;
    }
    // The live stream (replay included) is gap-free and in seq order, so
    // anything at or below the last seq seen is a copy we already delivered,
    // possibly before a reload. `seen` covers copies delivered via history.
    if ((r.seq != null && f.seq <= r.seq) || r.seen.has(f.seq)) return;
    r.seen.add(f.seq);
    r.seq = f.seq;
    this._save();
    this._emit('message', { ...f, own });
  }

  _onDelete(f) {
    if (!this.rooms.has(f.room) || !Number.isInteger(f.seq)) return;
    this._emit('delete', { room: f.room, seq: f.seq, by: f.by });
  }

  _acked(id, seq) {
    const b = this._binOut.findIndex((m) => m.id === id);
    if (b >= 0) {
      const [item] = this._binOut.splice(b, 1);
      this._emit('pending', this._binInfo(item, 'sent', { seq }));
      return;
    }
    const i = this.outbox.findIndex((m) => m.id === id);
    if (i < 0) return;
    const [item] = this.outbox.splice(i, 1);
    this._save();
    this._emit('pending', { room: item.room, id, message: item.message, state: 'sent', seq });
  }

  _onEnter(f) {
    const room = f.room;
    if (this._leaving.has(room) && f.uid === this.uid) {
      // Entered only to be able to leave (left while disconnected).
      this._leaving.delete(room);
      this._raw({ event: 'leave', room });
      this._save();
      return;
    }
    const r = this.rooms.get(room);
    if (!r) return;
    r.counts = { num: f.num, total: f.total };
    const self = f.uid === this.uid;
    if (!self) {
      this._emit('enter', { ...f, self: false });
      return;
    }
    clearTimeout(r.enterTimer);
    r.enterTimer = null;
    r.retries = 0;
    const initial = r.initial;
    r.initial = false;
    r.joined = true;
    const since = r.since;
    if (f.truncated) {
      const before = r.minReplay != null ? r.minReplay : (Number.isInteger(f.seq) ? f.seq + 1 : null);
      this._emit('truncated', { room, since: since ?? 0, before });
    }
    // `seq` is the room's newest message at the time of entry; everything up
    // to it has been replayed (or predates a first membership), so the next
    // catch-up starts there.
    if (Number.isInteger(f.seq) && (r.seq == null || f.seq > r.seq)) r.seq = f.seq;
    this._save();
    this._emit('enter', { ...f, self: true, initial, replayed: r.replayed });
    this._flushRequests(room);
    this._flushOutbox();
  }

  _onPresence(f) {
    const r = this.rooms.get(f.room);
    if (!r) return;
    r.counts = { num: f.num, total: f.total };
    this._emit('out', { ...f, self: f.uid === this.uid });
  }

  _onLeave(f) {
    const self = f.uid === this.uid;
    const r = this.rooms.get(f.room);
    if (r) r.counts = { num: f.num, total: f.total };
    if (self && r) this._forgetRoom(f.room);
    if (r || self) this._emit('leave', { ...f, self });
  }

  _forgetRoom(room) {
    const r = this.rooms.get(room);
    if (!r) return;
    clearTimeout(r.enterTimer);
    for (const q of r.requests) q.resolve(null);
    this.rooms.delete(room);
    this.outbox = this.outbox.filter((m) => m.room !== room);
    this._binOut = this._binOut.filter((m) => m.room !== room);
    this._save();
  }

  _onWho(f) {
    const r = this.rooms.get(f.room);
    const data = { room: f.room, members: Array.isArray(f.members) ? f.members : [] };
    if (r) this._answer(r, 'who', data);
    this._emit('who', data);
  }

  _onHistory(f) {
    const r = this.rooms.get(f.room);
    if (!r) return;
    const q = r.requests.find((x) => x.sent && x.kind === 'history');
    const list = Array.isArray(f.messages) ? f.messages : [];
    const fresh = [];
    for (const m of list) {
      if (!m || !Number.isInteger(m.seq) || r.seen.has(m.seq)) continue;
      r.seen.add(m.seq);
      if (this.uid != null && m.uid === this.uid && m.id) this._acked(m.id, m.seq);
      const x = { ...m, room: f.room, own: this.uid != null && m.uid === this.uid };
      if (typeof m.data === 'string' && typeof m.type === 'string') {
        // A binary message: its payload as an ArrayBuffer, like a live one.
        try { x.payload = base64ToBuffer(m.data); } catch { continue; }
        x.binary = true;
        delete x.data;
      }
      fresh.push(x);
    }
    fresh.sort((a, b) => a.seq - b.seq);
    const data = { room: f.room, messages: fresh, more: !!f.more, before: q ? q.frame.before : undefined,
      count: list.length, oldest: list.length ? Math.min(...list.map((m) => m.seq)) : null };
    this._answer(r, 'history', data);
    this._emit('history', data);
  }

  _onError(f) {
    const code = String(f.code || 'error');
    const out = { code, message: String(f.message || code) };
    const bin = f.id != null ? this._binOut.find((m) => m.id === f.id) : null;
    if (bin) {
      out.id = f.id;
      out.room = bin.room;
      this._binaryFailed(bin, code, out);
    } else if (f.id != null) {
      out.id = f.id;
      const item = this.outbox.find((m) => m.id === f.id);
      if (item) {
        out.room = item.room;
        out.text = item.message;
        this._messageFailed(item, code, out);
      }
    } else if (code === 'forbidden' && this._unconfirmedEnters().length === 1) {
      // A jwt whose `rooms` claim does not cover the room: the error carries
      // no room, but a single unanswered enter can only be that one. Retrying
      // would be refused the same way, so the room is dropped.
      const room = this._unconfirmedEnters()[0];
      out.room = room;
      out.rejected = true;
      this._forgetRoom(room);
    } else if (code === 'not_in_room' || code === 'unavailable') {
      // Errors without an id cannot name their room; a who/history waiting
      // for an answer in exactly one room is the likely cause (a history
      // page is refused `unavailable` while the server has too much on its
      // way to this client's gateway): its caller gets null and may ask
      // again.
      const waiting = [...this.rooms].filter(([, r]) => r.requests.some((q) => q.sent));
      if (waiting.length === 1) {
        const [room, r] = waiting[0];
        const q = r.requests.find((x) => x.sent);
        out.room = room;
        r.requests.splice(r.requests.indexOf(q), 1);
        q.resolve(null);
      }
    }
    this._emit('error', out);
  }

  _unconfirmedEnters() {
    return [...this.rooms].filter(([, r]) => !r.joined && r.enterTimer).map(([room]) => room);
  }

  _binaryFailed(item, code, err) {
    item.gen = 0;
    if (RETRYABLE.has(code)) {
      item.retryAt = Date.now() + (code === 'rate_limited' ? 1000 : 3000);
      this._emit('pending', this._binInfo(item, 'queued', { error: err }));
      this._scheduleFlush(item.retryAt - Date.now());
      return;
    }
    if (code === 'not_in_room' && this.rooms.has(item.room)) {
      this._emit('pending', this._binInfo(item, 'queued', { error: err }));
      if (this._ready() && this.rooms.get(item.room).joined) this._sendEnter(item.room);
      return;
    }
    item.failed = true;
    this._emit('pending', this._binInfo(item, 'failed', { error: err }));
  }

  _messageFailed(item, code, err) {
    if (RETRYABLE.has(code)) {
      // Transient: resend the same id later; the server dedupes if the first
      // try did get stored after all.
      item.gen = 0;
      item.retryAt = Date.now() + (code === 'rate_limited' ? 1000 : 3000);
      this._emit('pending', { room: item.room, id: item.id, message: item.message, state: 'queued', error: err });
      this._scheduleFlush(item.retryAt - Date.now());
      return;
    }
    if (code === 'not_in_room' && this.rooms.has(item.room)) {
      // The server forgot our membership (e.g. the broker lost its state
      // across a restart): enter again; the outbox is flushed after it.
      item.gen = 0;
      this._emit('pending', { room: item.room, id: item.id, message: item.message, state: 'queued', error: err });
      if (this._ready() && this.rooms.get(item.room).joined) this._sendEnter(item.room);
      return;
    }
    item.failed = true;
    item.gen = 0;
    this._save();
    this._emit('pending', { room: item.room, id: item.id, message: item.message, state: 'failed', error: err });
  }

  // ---- requests (who, history) ---------------------------------------------

  _request(room, frame, kind) {
    const r = this.rooms.get(room);
    if (!r) return Promise.resolve(null);
    return new Promise((resolve) => {
      const q = { kind, frame, resolve, sent: false };
      r.requests.push(q);
      if (this._ready() && r.joined) this._flushRequests(room);
    });
  }

  _flushRequests(room) {
    const r = this.rooms.get(room);
    if (!r) return;
    // One request of each kind in flight per room: answers carry no request
    // id, so they are matched to requests in order.
    for (const kind of ['who', 'history']) {
      if (r.requests.some((q) => q.kind === kind && q.sent)) continue;
      const q = r.requests.find((x) => x.kind === kind && !x.sent);
      if (q) { q.sent = true; this._raw(q.frame); }
    }
  }

  _answer(r, kind, data) {
    const i = r.requests.findIndex((q) => q.kind === kind && q.sent);
    if (i < 0) return;
    const [q] = r.requests.splice(i, 1);
    q.resolve(data);
    const room = [...this.rooms].find(([, v]) => v === r);
    if (room && this._ready() && r.joined) this._flushRequests(room[0]);
  }

  // ---- frames out ------------------------------------------------------------

  _rate() {
    const rate = Number(this.limits.rate_per_s);
    // Stay a little under the server's bucket so our own pings and enters
    // never push a burst of queued messages over the edge.
    return Number.isFinite(rate) && rate > 0 ? Math.max(1, Math.floor(rate * 0.8)) : 40;
  }

  _take() {
    const now = Date.now();
    const rate = this._rate();
    const b = this._bucket;
    b.tokens = Math.min(rate, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    if (b.tokens >= 1) { b.tokens -= 1; return true; }
    return false;
  }

  _raw(frame) {
    if (!this._isOpen()) return false;
    const urgent = !(frame instanceof ArrayBuffer) && (frame.event === 'heartbeat' || frame.event === 'auth');
    if (!urgent && (this._sendQueue.length || !this._take())) {
      this._sendQueue.push(frame);
      this._scheduleFlush(Math.ceil(1000 / this._rate()));
      return true;
    }
    if (urgent) this._take();
    try {
      this._ws.send(frame instanceof ArrayBuffer ? frame : JSON.stringify(frame));
    } catch {
      return false;
    }
    return true;
  }

  _scheduleFlush(ms) {
    if (this._timers.flush) return;
    this._timers.flush = setTimeout(() => {
      this._timers.flush = null;
      this._drain();
    }, Math.max(0, ms));
  }

  _drain() {
    if (!this._isOpen()) return;
    while (this._sendQueue.length && this._take()) {
      const frame = this._sendQueue.shift();
      try { this._ws.send(frame instanceof ArrayBuffer ? frame : JSON.stringify(frame)); } catch { return; }
    }
    if (this._sendQueue.length) this._scheduleFlush(Math.ceil(1000 / this._rate()));
    else this._flushOutbox();
  }

  _tooBig(item) {
    const maxMsg = Number(this.limits.max_message_bytes) || 16384;
    if (byteLength(item.message) > maxMsg) {
      return { code: 'too_large', message: `message is longer than ${maxMsg} bytes` };
    }
    const maxFrame = Number(this.limits.max_frame_bytes) || 65536;
    // JSON escaping can blow a message up (control characters become \uXXXX);
    // a frame over the limit would get the connection closed with 1009 again
    // on every resend.
    const frame = JSON.stringify({ event: 'message', room: item.room, message: item.message, id: item.id });
    if (byteLength(frame) > maxFrame) {
      return { code: 'too_large', message: `message is too large once encoded (${maxFrame} bytes max)` };
    }
    return null;
  }

  _flushOutbox() {
    if (!this._ready()) return;
    const now = Date.now();
    let wait = null;
    for (const item of this.outbox) {
      if (item.failed || item.gen === this._gen) continue;
      const r = this.rooms.get(item.room);
      if (!r || !r.joined) continue;
      if (item.retryAt > now) { wait = Math.min(wait ?? Infinity, item.retryAt - now); continue; }
      const big = this._tooBig(item);
      if (big) { this._messageFailed(item, 'too_large', { ...big, id: item.id, room: item.room }); continue; }
      if (this._sendQueue.length > 4 * this._rate()) {
        // Plenty queued already; continue when the rate budget catches up.
        wait = Math.min(wait ?? Infinity, 1000);
        break;
      }
      item.gen = this._gen;
      this._raw({ event: 'message', room: item.room, message: item.message, id: item.id });
      this._emit('pending', { room: item.room, id: item.id, message: item.message, state: 'sending' });
    }
    for (const item of this._binOut) {
      if (item.failed || !item.bytes || item.gen === this._gen) continue;
      const r = this.rooms.get(item.room);
      if (!r || !r.joined) continue;
      if (item.retryAt > now) { wait = Math.min(wait ?? Infinity, item.retryAt - now); continue; }
      item.gen = this._gen;
      const header = { event: 'message', room: item.room, id: item.id, type: item.type };
      if (item.filename) header.filename = item.filename;
      this._raw(encodeBinaryMessage(header, item.bytes));
      this._emit('pending', this._binInfo(item, 'sending'));
    }
    if (wait != null) this._scheduleFlush(wait);
  }

  _emitQueuedState() {
    for (const m of this.outbox) {
      if (!m.failed) this._emit('pending', { room: m.room, id: m.id, message: m.message, state: 'queued' });
    }
    for (const m of this._binOut) if (!m.failed) this._emit('pending', this._binInfo(m, 'queued'));
  }

  // ---- persistence -------------------------------------------------------------

  _load() {
    let s = null;
    try { s = JSON.parse(this.storage.getItem(this.storageKey) || 'null'); } catch { s = null; }
    if (!s || typeof s !== 'object') return;
    if (isValidUid(s.uid)) this.uid = s.uid;
    if (typeof s.name === 'string' && isValidName(s.name)) this.name = s.name;
    if (Array.isArray(s.rooms)) {
      for (const e of s.rooms) {
        if (!e || !isValidRoom(e.room)) continue;
        const seq = Number.isInteger(e.seq) && e.seq >= 0 ? e.seq : null;
        this.rooms.set(e.room, this._newRoom(typeof e.name === 'string' ? e.name : this.name, seq));
      }
    }
    if (Array.isArray(s.outbox)) {
      for (const m of s.outbox) {
        if (m && this.rooms.has(m.room) && typeof m.id === 'string' && typeof m.message === 'string') {
          this.outbox.push({ room: m.room, id: m.id, message: m.message, t: m.t || 0, gen: 0, retryAt: 0, failed: !!m.failed });
        }
      }
    }
    if (Array.isArray(s.leaving)) {
      for (const e of s.leaving) {
        if (e && isValidRoom(e.room)) this._leaving.set(e.room, Number.isInteger(e.seq) ? e.seq : null);
      }
    }
  }

  _save() {
    // Coalesce bursts (a catch-up replays many messages) into one write, but
    // still within the same task so a reload right after cannot lose it.
    if (this._savePending) return;
    this._savePending = true;
    queueMicrotask(() => { this._savePending = false; this._saveNow(); });
  }

  _saveNow() {
    const s = {
      uid: this.uid,
      name: this.name,
      rooms: [...this.rooms].map(([room, r]) => ({ room, name: r.name, seq: r.seq })),
      outbox: this.outbox.map((m) => ({ room: m.room, id: m.id, message: m.message, t: m.t, failed: !!m.failed })),
      leaving: [...this._leaving].map(([room, seq]) => ({ room, seq })),
    };
    try { this.storage.setItem(this.storageKey, JSON.stringify(s)); } catch { /* quota or disabled: keep running in memory */ }
  }
}

export default RoomcastClient;
