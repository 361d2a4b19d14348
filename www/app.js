// The roomcast web client UI. All protocol work (heartbeats, reconnects,
// catch-up, de-duplication, the outbox) lives in roomcast.js; this file only
// turns its events into DOM. Everything a person typed is inserted with
// textContent or text nodes, never as HTML.

import { RoomcastClient, isValidName, isValidRoom } from './roomcast.js';

const $ = (id) => document.getElementById(id);
const el = {
  app: $('app'), status: $('status'), conn: document.querySelector('.conn'),
  join: $('join'), name: $('name'), room: $('room'), tokenField: $('token-field'), token: $('token'),
  joinHint: $('join-hint'), rooms: $('rooms'), members: $('members'), membersPanel: $('members-panel'),
  membersToggle: $('members-toggle'), roomTitle: $('room-title'), counts: $('counts'), banner: $('banner'),
  log: $('log'), empty: $('empty'), jump: $('jump'), composer: $('composer'), message: $('message'),
  attach: $('attach'),
  send: $('send'), toasts: $('toasts'),
};

const UI_KEY = 'roomcast:ui:v1';
const TOKEN_KEY = 'roomcast:token';
const HISTORY_PAGE = 50;

function safeSession() {
  try { return globalThis.sessionStorage || null; } catch { return null; }
}
function readJSON(key) {
  try { return JSON.parse(localStorage.getItem(key) || 'null'); } catch { return null; }
}
function writeJSON(key, v) {
  try { localStorage.setItem(key, JSON.stringify(v)); } catch { /* storage full or disabled */ }
}

// The token can come from the page URL (?token=...) or the Token box. It is
// kept for this tab only (sessionStorage) so a reload does not ask again.
const params = new URLSearchParams(location.search);
const session = safeSession();
let token = params.get('token') || (session && session.getItem(TOKEN_KEY)) || '';
if (token) el.token.value = token;

const client = new RoomcastClient({ token: token || null });

/**
 * The `name` claim of a JWT, read without verifying it: only to fill in the
 * Name box and to know a name is not required. The server checks the token.
 */
function tokenName(tok) {
  try {
    const part = tok.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(part), (ch) => ch.charCodeAt(0)));
    const claims = JSON.parse(json);
    return typeof claims.name === 'string' && claims.name ? claims.name : null;
  } catch {
    return null;
  }
}

/** Per-room UI state. */
const rooms = new Map();
let active = null;
let uiState = readJSON(UI_KEY) || {};

// ---- formatting -----------------------------------------------------------------

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayTimeFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

function timeEl(ts) {
  const d = new Date(Number.isFinite(ts) ? ts : Date.now());
  const t = document.createElement('time');
  t.dateTime = d.toISOString();
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  t.textContent = sameDay ? timeFmt.format(d) : dayTimeFmt.format(d);
  t.title = fullFmt.format(d);
  return t;
}

// A stable hue per uid so people are easy to tell apart; CSS turns it into a
// colour with enough contrast for the current theme.
function hueOf(s) {
  let h = 0x811c9dc5; // FNV-1a, then golden-angle steps to spread near values
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return Math.round((h % 1000) * 137.508) % 360;
}

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/g;

/** Message text as DOM: text nodes, plus links for http(s) URLs. */
function richText(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    let url = m[0];
    // Trailing punctuation usually ends the sentence, not the URL.
    const trail = url.match(/[.,;:!?)\]]+$/);
    if (trail) url = url.slice(0, -trail[0].length);
    let href = null;
    try {
      const u = new URL(url);
      if (u.protocol === 'http:' || u.protocol === 'https:') href = u.href;
    } catch { href = null; }
    if (!href) continue;
    if (m.index > last) frag.append(document.createTextNode(text.slice(last, m.index)));
    const a = document.createElement('a');
    a.href = href;
    a.textContent = url;
    a.rel = 'noopener noreferrer nofollow';
    a.target = '_blank';
    frag.append(a);
    last = m.index + url.length;
  }
  if (last < text.length) frag.append(document.createTextNode(text.slice(last)));
  return frag;
}

// ---- rooms ----------------------------------------------------------------------

function roomState(room) {
  let r = rooms.get(room);
  if (r) return r;
  const pane = document.createElement('div');
  pane.className = 'pane';
  pane.hidden = true;
  const older = document.createElement('div');
  older.className = 'older';
  const olderBtn = document.createElement('button');
  olderBtn.type = 'button';
  olderBtn.className = 'ghost small';
  olderBtn.textContent = 'Load older messages';
  olderBtn.addEventListener('click', () => loadOlder(room));
  const olderNote = document.createElement('span');
  olderNote.className = 'muted small';
  older.append(olderBtn, olderNote);
  older.hidden = true;
  const items = document.createElement('ol');
  items.className = 'items';
  const outbox = document.createElement('ol');
  outbox.className = 'items outbox';
  pane.append(older, items, outbox);
  el.log.append(pane);

  const li = document.createElement('li');
  const tab = document.createElement('button');
  tab.type = 'button';
  tab.className = 'tab';
  const hash = document.createElement('span');
  hash.className = 'hash';
  hash.setAttribute('aria-hidden', 'true');
  hash.textContent = '#';
  const label = document.createElement('span');
  label.className = 'tab-name';
  label.textContent = room;
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.hidden = true;
  tab.append(hash, label, badge);
  tab.addEventListener('click', () => activate(room, { focus: true }));
  const x = document.createElement('button');
  x.type = 'button';
  x.className = 'tab-leave';
  x.setAttribute('aria-label', `Leave ${room}`);
  x.title = `Leave ${room}`;
  x.textContent = '×';
  x.addEventListener('click', () => leaveRoom(room));
  li.append(tab, x);
  el.rooms.append(li);

  r = {
    room, pane, older, olderBtn, olderNote, items, outbox, tabLi: li, tab, badge,
    els: new Map(), pending: new Map(), minSeq: null, maxSeq: 0, more: null, loading: false,
    unread: 0, counts: null, members: new Map(), gap: null, gapEl: null, draft: '',
    stick: true, scrollTop: 0, entered: false,
  };
  rooms.set(room, r);
  updateEmpty();
  return r;
}

function removeRoom(room) {
  const r = rooms.get(room);
  if (!r) return;
  r.pane.remove();
  r.tabLi.remove();
  rooms.delete(room);
  if (active === room) {
    active = null;
    const next = rooms.keys().next();
    if (!next.done) activate(next.value);
    else renderActive();
  }
  saveUi();
  updateEmpty();
  updateTitle();
}

function leaveRoom(room) {
  client.leave(room);
  removeRoom(room);
  toast(`You left ${room}.`);
  // The button that had focus is gone; keep keyboard users somewhere useful.
  const r = rooms.get(active);
  if (r) r.tab.focus(); else el.room.focus();
}

function activate(room, { focus = false } = {}) {
  const prev = rooms.get(active);
  if (prev) {
    prev.draft = el.message.value;
    prev.scrollTop = el.log.scrollTop;
    prev.stick = nearBottom();
    prev.pane.hidden = true;
    prev.tab.removeAttribute('aria-current');
  }
  active = room;
  const r = rooms.get(room);
  if (!r) { renderActive(); return; }
  r.pane.hidden = false;
  r.tab.setAttribute('aria-current', 'page');
  el.message.value = r.draft;
  autoGrow();
  r.unread = 0;
  renderBadge(r);
  renderActive();
  if (r.stick) scrollToBottom(); else el.log.scrollTop = r.scrollTop;
  saveUi();
  updateTitle();
  if (focus) el.message.focus();
  if (r.entered && !r.gap && r.more !== false && el.log.scrollHeight <= el.log.clientHeight) loadOlder(room);
}

function renderActive() {
  const r = rooms.get(active);
  el.message.disabled = !r;
  el.send.disabled = !r;
  el.attach.disabled = !r;
  el.message.placeholder = r ? `Message #${r.room}` : 'Enter a room to start chatting';
  el.roomTitle.textContent = r ? `#${r.room}` : 'No room yet';
  el.membersToggle.hidden = !r;
  el.log.setAttribute('aria-label', r ? `Conversation in ${r.room}` : 'Conversation');
  renderCounts();
  renderMembers();
  el.jump.hidden = true;
}

function renderCounts() {
  const r = rooms.get(active);
  if (!r || !r.counts) { el.counts.textContent = ''; return; }
  // The wording is part of the contract ("N online", "M members"), so it
  // stays the same for every number.
  el.counts.textContent = '';
  const on = document.createElement('span');
  on.className = 'online-count';
  on.textContent = `${r.counts.num} online`;
  const sep = document.createElement('span');
  sep.setAttribute('aria-hidden', 'true');
  sep.textContent = ' · ';
  const mem = document.createElement('span');
  mem.textContent = `${r.counts.total} members`;
  el.counts.append(on, sep, mem);
}

function renderMembers() {
  const r = rooms.get(active);
  el.members.textContent = '';
  if (!r) return;
  const list = [...r.members.entries()].sort(([, a], [, b]) =>
    (b.online - a.online) || a.name.localeCompare(b.name));
  for (const [uid, m] of list) {
    const li = document.createElement('li');
    li.className = m.online ? 'member online' : 'member';
    const dot = document.createElement('span');
    dot.className = 'presence';
    dot.setAttribute('aria-hidden', 'true');
    const name = document.createElement('span');
    name.textContent = m.name;
    name.className = 'member-name';
    name.style.setProperty('--h', String(hueOf(uid)));
    const state = document.createElement('span');
    state.className = 'sr-only';
    state.textContent = m.online ? ' (online)' : ' (offline)';
    li.append(dot, name, state);
    if (uid === client.uid) {
      const you = document.createElement('span');
      you.className = 'muted small';
      you.textContent = ' (you)';
      li.append(you);
    }
    el.members.append(li);
  }
}

function renderBadge(r) {
  r.badge.hidden = r.unread === 0;
  r.badge.textContent = r.unread === 0 ? '' : r.unread > 99 ? '99+' : String(r.unread);
  r.tab.setAttribute('aria-label', r.unread ? `${r.room}, ${r.unread} unread` : r.room);
}

function updateTitle() {
  let n = 0;
  for (const r of rooms.values()) n += r.unread;
  document.title = n ? `(${n}) roomcast` : 'roomcast';
}

function updateEmpty() {
  // The log itself always stays (empty) so it can be found before any room
  // is entered; the welcome text sits over it.
  el.empty.hidden = rooms.size > 0;
}

function saveUi() {
  uiState = { ...uiState, active };
  writeJSON(UI_KEY, uiState);
}

// ---- the log --------------------------------------------------------------------

function nearBottom() {
  return el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight < 48;
}

function scrollToBottom() {
  el.log.scrollTop = el.log.scrollHeight;
  el.jump.hidden = true;
}

/** Insert `li` into the list in order of its numeric key (arrival order on ties). */
function insertByKey(list, li, key) {
  li._key = key;
  let after = list.lastElementChild;
  while (after && after._key > key) after = after.previousElementSibling;
  if (after) after.after(li); else list.prepend(li);
}

function messageEl(m) {
  const li = document.createElement('li');
  li.className = m.own ? 'msg own' : 'msg';
  li.dataset.seq = String(m.seq);
  const meta = document.createElement('div');
  meta.className = 'meta';
  const who = document.createElement('span');
  who.className = 'author';
  who.textContent = m.name;
  who.style.setProperty('--h', String(hueOf(String(m.uid))));
  meta.append(who);
  if (m.own) {
    const you = document.createElement('span');
    you.className = 'sr-only';
    you.textContent = ' (you)';
    meta.append(you);
  }
  meta.append(' ', timeEl(m.ts));
  if (m.deleted) {
    const body = document.createElement('p');
    body.className = 'body';
    li.append(meta, body);
    markDeleted(li);
    return li;
  }
  if (m.own) {
    // The author may delete their own message (the server checks the uid).
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'msg-delete ghost small';
    del.textContent = 'Delete';
    del.addEventListener('click', () => {
      if (!client.deleteMessage(m.room, m.seq)) toastOnce('Not connected: try again in a moment.', 'warn');
    });
    meta.append(' ', del);
  }
  if (m.binary && m.payload) {
    li.append(meta, fileEl(m));
    return li;
  }
  const body = document.createElement('p');
  body.className = 'body';
  body.append(richText(String(m.message)));
  li.append(meta, body);
  return li;
}

// ---- pictures and files ---------------------------------------------------------

// Shown inline: raster formats only. SVG can carry script, so it is a
// download like any other file, and nothing received is ever parsed as HTML.
const PICTURE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

function formatSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1048576).toFixed(1)} MB`;
}

/** A binary message as DOM: a picture, or a download link with its size. */
function fileEl(m) {
  const type = String(m.type || '').toLowerCase();
  const picture = PICTURE_TYPES.has(type);
  // A picture's blob keeps its type (an <img> never runs script); any other
  // payload is served as opaque bytes, so opening it cannot render HTML.
  const url = URL.createObjectURL(new Blob([m.payload], { type: picture ? type : 'application/octet-stream' }));
  const name = typeof m.filename === 'string' && m.filename ? m.filename : null;
  const div = document.createElement('div');
  div.className = 'body file';
  if (picture) {
    const img = document.createElement('img');
    img.alt = name || 'image';
    img.src = url;
    img.decoding = 'async';
    div.append(img);
  } else {
    const a = document.createElement('a');
    a.href = url;
    a.download = name || 'file';
    a.textContent = name || 'file';
    a.rel = 'noopener';
    const size = document.createElement('span');
    size.className = 'size';
    size.textContent = ` (${formatSize(Number(m.size) || m.payload.byteLength)})`;
    div.append(a, size);
  }
  return div;
}

/** Sends files to the active room; refuses ones over max_binary_bytes. */
function sendFiles(files) {
  const room = active;
  if (!room) { toast('Enter a room first, then attach a file.', 'warn'); return; }
  for (const file of files) {
    const label = file.name || 'That file';
    const big = client.binaryTooLarge(file.size, { type: file.type, filename: file.name });
    if (big) {
      const max = Number(client.limits.max_binary_bytes) || 1048576;
      toast(`${label} is too large to send (${formatSize(file.size)}; the limit is ${formatSize(max)}).`, 'warn');
      continue;
    }
    if (file.size === 0) { toast(`${label} is empty.`, 'warn'); continue; }
    try {
      client.sendBinary(room, file, { filename: file.name, type: file.type });
    } catch (e) {
      toast(`Could not send: ${e.message}`, 'warn');
    }
  }
}

/** Shows a message as deleted: its text (or file) and its Delete button go. */
function markDeleted(li) {
  li.classList.add('deleted');
  const body = li.querySelector('.body');
  if (body) {
    body.classList.remove('file'); // a picture or file goes with its text
    body.replaceChildren(document.createTextNode('message deleted'));
  }
  const del = li.querySelector('.msg-delete');
  if (del) del.remove();
}

/** Add messages (any order) to a room; returns how many were new to the page. */
function addMessages(room, list, { live = false } = {}) {
  const r = rooms.get(room);
  if (!r) return 0;
  const isActive = room === active && !r.pane.hidden;
  const stick = isActive && nearBottom();
  const fromBottom = el.log.scrollHeight - el.log.scrollTop;
  let added = 0;
  let olderAdded = false;
  let ownAdded = false;
  let othersNew = 0;
  for (const m of list) {
    if (r.els.has(m.seq)) continue;
    const li = messageEl(m);
    insertByKey(r.items, li, m.seq);
    r.els.set(m.seq, li);
    added++;
    if (r.minSeq == null || m.seq < r.minSeq) { if (r.minSeq != null) olderAdded = true; r.minSeq = m.seq; }
    if (m.seq > r.maxSeq) r.maxSeq = m.seq;
    if (m.own) ownAdded = true;
    else if (live) othersNew++;
    if (m.own && m.id) dropPending(r, m.id);
  }
  if (!added) return 0;
  updateGap(r);
  updateOlder(r);
  if (isActive) {
    if (stick || (live && ownAdded)) scrollToBottom();
    else if (!live || olderAdded) el.log.scrollTop = el.log.scrollHeight - fromBottom; // keep the view still when older messages appear above
    else if (othersNew) el.jump.hidden = false;
  }
  if (othersNew && (!isActive || document.hidden)) {
    r.unread += othersNew;
    renderBadge(r);
    updateTitle();
  }
  return added;
}

function notice(room, text, kind) {
  const r = rooms.get(room);
  if (!r) return;
  const stick = room === active && nearBottom();
  const li = document.createElement('li');
  li.className = `notice ${kind || ''}`.trim();
  const span = document.createElement('span');
  span.className = 'notice-text';
  span.textContent = text;
  li.append(span, ' ', timeEl(Date.now()));
  // Half a step after the newest message so older history lands above it
  // and later messages below.
  insertByKey(r.items, li, Math.max(r.maxSeq, client.lastSeq(room) || 0) + 0.5);
  if (stick) scrollToBottom();
}

function updateOlder(r) {
  const canLoad = r.entered && r.more !== false && (r.minSeq == null ? r.maxSeq > 0 : r.minSeq > 1);
  r.older.hidden = !canLoad && !r.loading;
  r.olderBtn.disabled = r.loading;
  r.olderBtn.textContent = r.loading ? 'Loading older messages…' : 'Load older messages';
}

async function loadOlder(room) {
  const r = rooms.get(room);
  if (!r || r.loading || r.more === false || !r.entered) return;
  const before = r.minSeq != null ? r.minSeq : client.lastSeq(room) + 1;
  if (!(before > 1)) { r.more = false; updateOlder(r); return; }
  r.loading = true;
  updateOlder(r);
  // aria-busy keeps screen readers from reading out a page of old messages
  // as if they had just arrived.
  el.log.setAttribute('aria-busy', 'true');
  const res = await client.history(room, before, HISTORY_PAGE);
  el.log.removeAttribute('aria-busy');
  r.loading = false;
  if (!rooms.has(room)) return;
  if (res) {
    if (!res.more || res.count === 0 || res.oldest === 1) r.more = false;
    addMessages(room, res.messages);
    if (r.minSeq == null || (res.oldest != null && res.oldest < r.minSeq)) {
      // Everything in that page was already on screen; remember how far we got.
      r.minSeq = res.oldest ?? r.minSeq;
    }
  }
  updateOlder(r);
  updateGap(r);
}

// A truncated catch-up leaves a hole between the last message seen before
// the disconnect and the oldest one replayed. It is marked in the log; when
// older messages are on screen below the hole, a button fills it from the
// newest end, otherwise "Load older" (or scrolling up) does.
function markGap(room, since, before) {
  const r = rooms.get(room);
  if (!r || !(before > since + 1)) return;
  r.gap = { since, before };
  if (!r.gapEl) {
    const li = document.createElement('li');
    li.className = 'gap';
    const span = document.createElement('span');
    span.className = 'gap-text';
    r.gapText = span;
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'ghost small';
    btn.textContent = 'Load missed messages';
    btn.addEventListener('click', () => fillGap(room));
    li.append(span, ' ', btn);
    r.gapEl = li;
    r.gapBtn = btn;
  } else {
    r.gapEl.remove();
  }
  insertByKey(r.items, r.gapEl, before - 0.5);
  updateGap(r);
}

function updateGap(r) {
  if (!r.gap || !r.gapEl) return;
  // Lower the hole's top edge to the oldest message we now hold inside it.
  for (const seq of r.els.keys()) {
    if (seq > r.gap.since && seq < r.gap.before) r.gap.before = seq;
  }
  if (r.gap.before <= r.gap.since + 1) {
    r.gapEl.remove();
    r.gapEl = null;
    r.gap = null;
    return;
  }
  if (r.gapEl._key !== r.gap.before - 0.5) { r.gapEl.remove(); insertByKey(r.items, r.gapEl, r.gap.before - 0.5); }
  let below = false;
  for (const seq of r.els.keys()) if (seq <= r.gap.since) { below = true; break; }
  r.gapBtn.hidden = !below;
  r.gapText.textContent = below
    ? 'Catch-up truncated: some messages you missed are not shown here.'
    : 'Catch-up truncated: some messages you missed are not shown. Load older messages to read them.';
}

async function fillGap(room) {
  const r = rooms.get(room);
  if (!r || !r.gap || r.gapBusy) return;
  r.gapBusy = true;
  r.gapBtn.disabled = true;
  el.log.setAttribute('aria-busy', 'true');
  const res = await client.history(room, r.gap.before, HISTORY_PAGE);
  el.log.removeAttribute('aria-busy');
  r.gapBusy = false;
  if (r.gapBtn) r.gapBtn.disabled = false;
  if (!res || !rooms.has(room) || !r.gap) return;
  addMessages(room, res.messages);
  if (r.gap && (!res.more || res.oldest == null || res.oldest <= r.gap.since + 1)) {
    r.gap.before = r.gap.since + 1;
  } else if (r.gap && res.oldest != null) {
    r.gap.before = Math.min(r.gap.before, res.oldest);
  }
  updateGap(r);
}

// ---- the outbox -----------------------------------------------------------------

const PENDING_TEXT = {
  sending: 'Sending…',
  queued: 'Waiting for the connection — it will be sent automatically.',
};

function showPending(room, id, text, state, error) {
  const r = rooms.get(room);
  if (!r) return;
  let p = r.pending.get(id);
  if (!p) {
    const li = document.createElement('li');
    li.className = 'msg own pending';
    const meta = document.createElement('div');
    meta.className = 'meta';
    const who = document.createElement('span');
    who.className = 'author';
    who.textContent = client.rooms.get(room)?.name || client.name || 'you';
    who.style.setProperty('--h', String(hueOf(String(client.uid))));
    const st = document.createElement('span');
    st.className = 'pending-state';
    meta.append(who, ' ', st);
    const body = document.createElement('p');
    body.className = 'body';
    body.textContent = text;
    const actions = document.createElement('div');
    actions.className = 'pending-actions';
    actions.hidden = true;
    const retry = document.createElement('button');
    retry.type = 'button';
    retry.className = 'ghost small';
    retry.textContent = 'Try again';
    retry.addEventListener('click', () => client.retry(id));
    const discard = document.createElement('button');
    discard.type = 'button';
    discard.className = 'ghost small';
    discard.textContent = 'Discard';
    discard.addEventListener('click', () => { client.discard(id); dropPending(r, id); });
    actions.append(retry, discard);
    li.append(meta, body, actions);
    r.outbox.append(li);
    p = { li, st, actions, retry };
    r.pending.set(id, p);
    if (room === active) scrollToBottom();
  }
  p.li.dataset.state = state;
  if (state === 'failed') {
    p.st.textContent = `Not sent: ${friendlyError(error || { code: 'error' })}`;
    p.actions.hidden = false;
    // Sending the same too-long text again cannot work; only offer Discard.
    p.retry.hidden = !!(error && error.code === 'too_large');
  } else {
    p.st.textContent = PENDING_TEXT[state] || '';
    p.actions.hidden = true;
  }
}

function dropPending(r, id) {
  const p = r.pending.get(id);
  if (!p) return;
  p.li.remove();
  r.pending.delete(id);
}

// ---- members --------------------------------------------------------------------

function setMember(r, uid, name, online) {
  if (!uid) return;
  r.members.set(uid, { name: name || uid, online });
  if (r.room === active) renderMembers();
}

// ---- status and messages to the person ------------------------------------------

const STATUS_BANNER = {
  reconnecting: 'Connection lost. Reconnecting by itself — what you write is kept and sent when it is back.',
  offline: 'You are offline. Messages you write are kept and sent when the network returns.',
};

// The status element shows only the three words of the contract
// (connected, reconnecting, offline); the module's first attempt
// ("connecting") and a closed client map onto them.
const STATUS_WORD = {connecting: 'reconnecting', closed: 'offline'};

function setStatus(s) {
  el.status.textContent = STATUS_WORD[s] || s;
  el.conn.dataset.state = s;
  const text = STATUS_BANNER[s];
  el.banner.hidden = !text;
  el.banner.textContent = text || '';
}

const ERROR_TEXT = {
  rate_limited: 'You are sending faster than the server allows; it will go out in a moment.',
  too_large: 'That message is too long.',
  not_in_room: 'You are not in that room any more.',
  forbidden: 'You are not allowed to do that here.',
  unavailable: 'The chat service is briefly unavailable; trying again.',
  bad_request: 'The server did not accept that request.',
  bad_json: 'The server could not read a request.',
  unsupported: 'The server does not support that request.',
  internal: 'Something went wrong on the server; trying again.',
  enter_failed: 'Could not enter the room. It will be tried again when the connection restarts.',
};

function friendlyError(e) {
  if (e.code === 'too_large') return e.message ? `too long (${e.message})` : 'too long';
  return (ERROR_TEXT[e.code] || e.message || 'Something went wrong.').replace(/\.$/, '');
}

function toast(text, kind = 'info') {
  const div = document.createElement('div');
  div.className = `toast ${kind}`;
  const p = document.createElement('p');
  p.textContent = text;
  const x = document.createElement('button');
  x.type = 'button';
  x.className = 'toast-close';
  x.setAttribute('aria-label', 'Dismiss');
  x.textContent = '×';
  x.addEventListener('click', () => div.remove());
  div.append(p, x);
  el.toasts.append(div);
  while (el.toasts.children.length > 3) el.toasts.firstElementChild.remove();
  setTimeout(() => div.remove(), 7000);
}

let lastToast = { text: '', at: 0 };
function toastOnce(text, kind) {
  // A burst of identical errors (a rate limit hit by a queued batch) is one
  // message to the person, not ten.
  const now = Date.now();
  if (text === lastToast.text && now - lastToast.at < 5000) return;
  lastToast = { text, at: now };
  toast(text, kind);
}

// ---- client events --------------------------------------------------------------

client.on('status', ({ status }) => setStatus(status));

client.on('welcome', (w) => {
  el.tokenField.hidden = w.auth !== 'jwt';
  el.app.dataset.auth = w.auth;
  const fromToken = w.auth === 'jwt' && client.token && tokenName(client.token);
  if (fromToken && !el.name.value) el.name.value = fromToken;
});

client.on('auth', (a) => {
  el.joinHint.textContent = '';
  if (a.name) {
    el.name.value = a.name;
    el.name.placeholder = a.name;
  }
});

client.on('noauth', ({ message }) => {
  el.tokenField.hidden = false;
  const has = !!client.token;
  el.joinHint.textContent = has
    ? `Your token was not accepted${message ? ` (${message})` : ''}. Paste a valid one and press Enter.`
    : 'This server needs a sign-in token. Paste it in the Token box and press Enter.';
});

// Live messages are put on screen in batches: a catch-up of a thousand
// messages arrives as a thousand events, and measuring the scroll position
// for each one would force a layout per message.
const liveBuf = new Map();
let liveTimer = null;
function flushLive() {
  liveTimer = null;
  const batch = [...liveBuf];
  liveBuf.clear();
  for (const [room, list] of batch) addMessages(room, list, { live: true });
}

client.on('message', (m) => {
  roomState(m.room);
  if (!liveBuf.has(m.room)) liveBuf.set(m.room, []);
  liveBuf.get(m.room).push(m);
  if (!liveTimer) liveTimer = setTimeout(flushLive, 0);
});

client.on('history', (h) => {
  if (rooms.has(h.room)) addMessages(h.room, h.messages);
});

client.on('pending', (p) => {
  const r = rooms.get(p.room);
  if (!r) return;
  if (p.state === 'sent') {
    // Its delivered copy (if this page shows it) is in the current batch;
    // swap both in the same task so the message never blinks out.
    if (liveTimer) setTimeout(() => dropPending(r, p.id), 0); else dropPending(r, p.id);
    return;
  }
  const text = p.binary ? `${p.filename || 'file'} (${formatSize(p.size || 0)})` : p.message;
  showPending(p.room, p.id, text, p.state, p.error);
});

client.on('enter', (e) => {
  const r = rooms.get(e.room) || roomState(e.room);
  r.counts = { num: e.num, total: e.total };
  setMember(r, e.uid, e.name, true);
  if (e.self) {
    // The catch-up came just before this event; put it on screen first so
    // the decisions below see it.
    if (liveTimer) { clearTimeout(liveTimer); flushLive(); }
    r.entered = true;
    // Only the first entry of this page is news; re-entries after a
    // reconnect are bookkeeping and would just repeat "… entered".
    if (e.initial) notice(e.room, `${e.name} entered`, 'self');
    client.who(e.room).then((w) => {
      if (!w || !rooms.has(e.room)) return;
      r.members.clear();
      for (const m of w.members) r.members.set(m.uid, { name: m.name || m.uid, online: !!m.online });
      if (e.room === active) renderMembers();
    });
    updateOlder(r);
    // Give a fresh page some context: the newest page of history before
    // what the catch-up brought. A truncated catch-up is left as it is, with
    // its mark, until the person asks for older messages.
    if (e.initial && !r.gap && r.els.size < HISTORY_PAGE) loadOlder(e.room);
  } else {
    notice(e.room, `${e.name} entered`);
  }
  if (e.room === active) renderCounts();
});

client.on('out', (e) => {
  const r = rooms.get(e.room);
  if (!r) return;
  r.counts = { num: e.num, total: e.total };
  setMember(r, e.uid, e.name, false);
  if (!e.self) notice(e.room, `${e.name} went offline`);
  if (e.room === active) renderCounts();
});

client.on('leave', (e) => {
  const r = rooms.get(e.room);
  if (!r) return;
  if (e.self) { removeRoom(e.room); return; }
  r.counts = { num: e.num, total: e.total };
  r.members.delete(e.uid);
  notice(e.room, `${e.name} left`);
  if (e.room === active) { renderCounts(); renderMembers(); }
});

client.on('delete', (d) => {
  const r = rooms.get(d.room);
  if (!r) return;
  if (liveTimer) { clearTimeout(liveTimer); flushLive(); } // the message may still be in the batch
  const li = r.els.get(d.seq);
  if (li) markDeleted(li);
});

client.on('truncated', (t) => markGap(t.room, t.since, t.before));

client.on('error', (e) => {
  if (e.code === 'link_dead') return; // shown as `reconnecting` already
  if (e.rejected && e.room) {
    removeRoom(e.room);
    toast(`You cannot enter ${e.room}: ${friendlyError(e)}.`, 'warn');
    return;
  }
  // Errors about a message are shown next to it (the outbox) unless the
  // person should know something more general.
  if (e.id && e.code !== 'rate_limited' && e.code !== 'unavailable') return;
  toastOnce(friendlyError(e) + '.', e.code === 'rate_limited' ? 'info' : 'warn');
});

// ---- forms and keys -------------------------------------------------------------

el.join.addEventListener('submit', (ev) => {
  ev.preventDefault();
  el.joinHint.textContent = '';
  const tokenVal = el.token.value.trim();
  if (!el.tokenField.hidden && tokenVal && tokenVal !== client.token) {
    if (session) { try { session.setItem(TOKEN_KEY, tokenVal); } catch { /* tab storage unavailable */ } }
    client.setToken(tokenVal);
  }
  const name = el.name.value.trim();
  const room = el.room.value.trim().replace(/^#/, '');
  const nameOptional = client.auth === 'jwt' && (client.authName || (client.token && tokenName(client.token)));
  if (!name && !nameOptional) {
    el.joinHint.textContent = 'Please choose a name first.';
    el.name.focus();
    return;
  }
  if (name && !isValidName(name)) {
    el.joinHint.textContent = 'A name is 1 to 32 characters, without control characters.';
    el.name.focus();
    return;
  }
  if (!room) {
    el.joinHint.textContent = 'Which room? Type a room name, for example lobby.';
    el.room.focus();
    return;
  }
  if (!isValidRoom(room)) {
    el.joinHint.textContent = 'Room names use letters, digits and . _ : - (up to 64).';
    el.room.focus();
    return;
  }
  client.enter(room, name || undefined);
  roomState(room);
  el.room.value = '';
  activate(room, { focus: true });
});

function autoGrow() {
  el.message.style.height = 'auto';
  el.message.style.height = `${Math.min(el.message.scrollHeight, 160)}px`;
}

function sendCurrent() {
  const room = active;
  const text = el.message.value;
  if (!room || !text.trim()) return;
  try {
    client.send(room, text.replace(/\s+$/, ''));
  } catch (e) {
    toast(`Could not send: ${e.message}`, 'warn');
    return;
  }
  el.message.value = '';
  autoGrow();
  const r = rooms.get(room);
  if (r) r.draft = '';
  el.message.focus();
}

el.composer.addEventListener('submit', (ev) => { ev.preventDefault(); sendCurrent(); });
el.message.addEventListener('keydown', (ev) => {
  // Enter sends, Shift+Enter is a new line; never while an input method is
  // composing a character.
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
    ev.preventDefault();
    sendCurrent();
  }
});
el.message.addEventListener('input', autoGrow);

el.attach.addEventListener('change', () => {
  const files = [...el.attach.files];
  el.attach.value = ''; // the same file can be chosen again
  sendFiles(files);
  el.message.focus();
});
el.message.addEventListener('paste', (ev) => {
  const files = [...(ev.clipboardData?.files || [])];
  if (!files.length) return;
  ev.preventDefault();
  sendFiles(files);
});
// Dropping files anywhere on the conversation or the composer sends them.
for (const zone of [el.log, el.composer]) {
  zone.addEventListener('dragover', (ev) => {
    if (!ev.dataTransfer || ![...ev.dataTransfer.types].includes('Files')) return;
    ev.preventDefault();
    el.log.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => el.log.classList.remove('dragging'));
  zone.addEventListener('drop', (ev) => {
    el.log.classList.remove('dragging');
    const files = [...(ev.dataTransfer?.files || [])];
    if (!files.length) return;
    ev.preventDefault();
    sendFiles(files);
  });
}

el.log.addEventListener('scroll', () => {
  if (nearBottom()) el.jump.hidden = true;
  if (el.log.scrollTop < 80 && active) {
    const r = rooms.get(active);
    if (r && r.entered && !r.loading && r.more !== false) loadOlder(active);
  }
}, { passive: true });

el.jump.addEventListener('click', () => { scrollToBottom(); el.message.focus(); });

document.addEventListener('click', (ev) => {
  // The slide-over member list closes when the person clicks elsewhere.
  if (!el.app.classList.contains('show-members')) return;
  if (el.membersPanel.contains(ev.target) || el.membersToggle.contains(ev.target)) return;
  el.app.classList.remove('show-members');
  el.membersToggle.setAttribute('aria-expanded', 'false');
});

el.membersToggle.addEventListener('click', () => {
  const open = el.app.classList.toggle('show-members');
  el.membersToggle.setAttribute('aria-expanded', String(open));
});

document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && el.app.classList.contains('show-members')) {
    el.app.classList.remove('show-members');
    el.membersToggle.setAttribute('aria-expanded', 'false');
    el.membersToggle.focus();
    return;
  }
  // Alt+Up / Alt+Down move between rooms from anywhere.
  if (!ev.altKey || (ev.key !== 'ArrowUp' && ev.key !== 'ArrowDown')) return;
  const list = [...rooms.keys()];
  if (list.length < 2) return;
  ev.preventDefault();
  const i = list.indexOf(active);
  const next = list[(i + (ev.key === 'ArrowDown' ? 1 : -1) + list.length) % list.length];
  activate(next, { focus: true });
});

document.addEventListener('visibilitychange', () => {
  if (document.hidden) return;
  const r = rooms.get(active);
  if (r && r.unread) { r.unread = 0; renderBadge(r); updateTitle(); }
});

// ---- start ----------------------------------------------------------------------

if (client.name) el.name.value = client.name;
for (const room of client.roomList()) roomState(room);
for (const p of client.pending()) showPending(p.room, p.id, p.message, p.failed ? 'failed' : 'queued');
const first = rooms.has(uiState.active) ? uiState.active : client.roomList()[0];
if (first) activate(first);
else renderActive();
updateEmpty();
setStatus(client.status === 'idle' ? 'connecting' : client.status);
client.connect();
if (!client.name) el.name.focus();
else if (!first) el.room.focus();

// Exposed for debugging from the console and for tests that want to look
// at the client's state; the UI never reads it.
window.roomcast = client;
