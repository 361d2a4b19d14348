// The benchmark's baseline: an ordinary single-process Node.js chat server on
// the `ws` library that speaks the part of roomcast's client protocol the
// benchmark uses (docs/protocol.md): welcome, enter (with num/total/seq),
// message (seq/ts/uid/name, broadcast to the room, the sender included),
// leave, out on close, heartbeat ping/pong and the per-connection rate limit.
// Rooms live in memory and nothing is stored, as the benchmark's target states.
//
// It is meant as a fair opponent, written the way a competent Node developer
// would: each broadcast is serialized once with JSON.stringify and the same
// string is handed to ws.send for every member; no per-recipient work beyond
// that. Usage: node server.mjs PORT [RATE_PER_S]   (listens on 127.0.0.1)

import http from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node server.mjs PORT [RATE_PER_S]');
  process.exit(2);
}
const RATE_PER_S = Number(process.argv[3] ?? 50);
const HEARTBEAT_MS = 25000;
const MAX_FRAME_BYTES = 65536;
const MAX_MESSAGE_BYTES = 16384;
// A client whose unsent backlog passes this is dropped, like roomcast's bounded
// per-connection queue, so that one stalled reader cannot grow memory forever.
const MAX_BUFFERED = 8 * 1024 * 1024;

const ROOM_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const UID_RE = /^[A-Za-z0-9_.:@-]{1,64}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

/** room name -> { seq, num, members: Map uid -> {name, conns:Set}, conns: Set } */
const rooms = new Map();
let nextConn = 1;

function send(ws, obj) {
  ws.send(JSON.stringify(obj));
}

function error(ws, code, message, id) {
  const e = { event: 'error', code, message };
  if (id !== undefined) e.id = id;
  send(ws, e);
}

// One serialization per broadcast, whatever the room's size.
function broadcast(room, obj) {
  const text = JSON.stringify(obj);
  for (const c of room.conns) {
    if (c.bufferedAmount > MAX_BUFFERED) {
      c.terminate();
      continue;
    }
    c.send(text);
  }
}

function validName(name) {
  if (typeof name !== 'string' || CONTROL_RE.test(name)) return false;
  const chars = [...name].length;
  return chars >= 1 && chars <= 32;
}

function onEnter(ws, st, msg) {
  const { room: roomName, name } = msg;
  if (typeof roomName !== 'string' || !ROOM_RE.test(roomName)) return error(ws, 'bad_request', 'room');
  if (!validName(name)) return error(ws, 'bad_request', 'name');
  let uid = st.uid;
  if (msg.uid !== undefined) {
    if (typeof msg.uid !== 'string' || !UID_RE.test(msg.uid)) return error(ws, 'bad_request', 'uid');
    uid = msg.uid;
  }
  let room = rooms.get(roomName);
  if (!room) {
    room = { seq: 0, num: 0, members: new Map(), conns: new Set() };
    rooms.set(roomName, room);
  }
  const already = st.rooms.get(roomName);
  if (already && already.uid === uid) {
    // Entering again is harmless: only this connection hears about it.
    already.name = name;
    const m = room.members.get(uid);
    m.name = name;
    return send(ws, { event: 'enter', room: roomName, uid, name, num: room.num, total: room.members.size, seq: room.seq });
  }
  if (already) leaveConn(ws, st, roomName, false);
  let member = room.members.get(uid);
  if (!member) {
    member = { name, conns: new Set() };
    room.members.set(uid, member);
  }
  member.name = name;
  const wasOnline = member.conns.size > 0;
  member.conns.add(ws);
  room.conns.add(ws);
  st.rooms.set(roomName, { uid, name });
  const ev = { event: 'enter', room: roomName, uid, name, num: 0, total: room.members.size, seq: room.seq };
  if (wasOnline) {
    ev.num = room.num;
    return send(ws, ev);
  }
  room.num++;
  ev.num = room.num;
  broadcast(room, ev);
}

function onMessage(ws, st, msg) {
  const { room: roomName, message, id } = msg;
  if (id !== undefined && (typeof id !== 'string' || id.length < 1 || Buffer.byteLength(id) > 64)) {
    return error(ws, 'bad_request', 'id');
  }
  if (typeof roomName !== 'string' || !ROOM_RE.test(roomName)) return error(ws, 'bad_request', 'room', id);
  if (typeof message !== 'string') return error(ws, 'bad_request', 'message', id);
  if (Buffer.byteLength(message) > MAX_MESSAGE_BYTES) return error(ws, 'too_large', 'message', id);
  const me = st.rooms.get(roomName);
  const room = rooms.get(roomName);
  if (!me || !room) return error(ws, 'not_in_room', roomName, id);
  room.seq++;
  const ev = { event: 'message', room: roomName, uid: me.uid, name: me.name, message, seq: room.seq, ts: Date.now() };
  if (id !== undefined) ev.id = id;
  broadcast(room, ev);
}

// Takes this connection out of a room; `leaving` ends the membership (leave),
// otherwise the member only goes offline when its last connection is gone (out).
function leaveConn(ws, st, roomName, leaving) {
  const me = st.rooms.get(roomName);
  const room = rooms.get(roomName);
  if (!me || !room) return;
  st.rooms.delete(roomName);
  const member = room.members.get(me.uid);
  const text = { room: roomName, uid: me.uid, name: me.name };
  if (leaving) {
    const wasOnline = member.conns.size > 0;
    for (const c of member.conns) room.conns.delete(c);
    if (wasOnline) room.num--;
    room.members.delete(me.uid);
    const ev = { event: 'leave', ...text, num: room.num, total: room.members.size };
    broadcast(room, ev);
    for (const c of member.conns) {
      if (c !== ws) c.roomcast.rooms.delete(roomName);
      c.send(JSON.stringify(ev));
    }
  } else {
    member.conns.delete(ws);
    room.conns.delete(ws);
    if (member.conns.size === 0) {
      room.num--;
      broadcast(room, { event: 'out', ...text, num: room.num, total: room.members.size });
    }
  }
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok","broker":"up"}');
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
});

const wss = new WebSocketServer({ server, path: '/ws', maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });

wss.on('connection', (ws) => {
  const id = nextConn++;
  const st = { uid: `anon-${id}`, rooms: new Map(), tokens: RATE_PER_S, last: Date.now(), seen: Date.now() };
  ws.roomcast = st;
  send(ws, {
    event: 'welcome', conn: `c${id}`, protocol: 1, auth: 'none', uid: st.uid, heartbeat_ms: HEARTBEAT_MS,
    limits: { max_frame_bytes: MAX_FRAME_BYTES, max_message_bytes: MAX_MESSAGE_BYTES, rate_per_s: RATE_PER_S },
  });
  ws.on('message', (data, isBinary) => {
    const now = Date.now();
    st.seen = now;
    // Token bucket, refilled continuously, burst of RATE_PER_S.
    st.tokens = Math.min(RATE_PER_S, st.tokens + ((now - st.last) * RATE_PER_S) / 1000);
    st.last = now;
    if (st.tokens < 1) return error(ws, 'rate_limited', 'slow down');
    st.tokens -= 1;
    if (isBinary) return error(ws, 'unsupported', 'binary frames are not supported');
    let msg;
    try {
      msg = JSON.parse(data.toString('utf8'));
    } catch {
      return error(ws, 'bad_json', 'not JSON');
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg) || typeof msg.event !== 'string') {
      return error(ws, 'bad_request', 'event');
    }
    switch (msg.event) {
      case 'enter': return onEnter(ws, st, msg);
      case 'message': return onMessage(ws, st, msg);
      case 'leave':
        if (typeof msg.room !== 'string' || !ROOM_RE.test(msg.room)) return error(ws, 'bad_request', 'room');
        if (!st.rooms.has(msg.room)) return error(ws, 'not_in_room', msg.room);
        return leaveConn(ws, st, msg.room, true);
      case 'heartbeat':
        if (msg.message === 'ping') return send(ws, { event: 'heartbeat', message: 'pong' });
        if (msg.message === 'pong') return undefined;
        return error(ws, 'bad_request', 'message');
      default:
        return error(ws, 'unknown_event', msg.event);
    }
  });
  ws.on('close', () => {
    for (const roomName of [...st.rooms.keys()]) leaveConn(ws, st, roomName, false);
  });
  ws.on('error', () => {});
});

// Server heartbeat: ping everyone every HEARTBEAT_MS, close the silent ones.
setInterval(() => {
  const now = Date.now();
  for (const ws of wss.clients) {
    if (now - ws.roomcast.seen > 2 * HEARTBEAT_MS) ws.close(4000, 'heartbeat timeout');
    else ws.send('{"event":"heartbeat","message":"ping"}');
  }
}, HEARTBEAT_MS).unref();

server.listen(port, '127.0.0.1', () => {
  console.error(`baseline: listening on 127.0.0.1:${port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    for (const ws of wss.clients) ws.close(1001, 'shutting down');
    server.close();
    setTimeout(() => process.exit(0), 200).unref();
  });
}
