// Shared pieces of the browser tests: start the real broker and gateway on
// free ports, launch Debian's Chromium through playwright-core, and poll for
// conditions (node:test has no auto-waiting assertions).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OUT = path.join(ROOT, 'tests', 'out');
// ROOMCAST_BIN_DIR lets the same tests run against installed binaries.
const BIN = process.env.ROOMCAST_BIN_DIR || path.join(ROOT, 'bin');

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { sleep };

/** Several distinct free TCP ports on 127.0.0.1 (held open together so they differ). */
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      await new Promise((res, rej) => { s.once('error', rej); s.listen(0, '127.0.0.1', res); });
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

// Every child we start, so a crash of the test process still kills them.
const children = new Set();
process.on('exit', () => {
  for (const c of children) { try { c.kill('SIGKILL'); } catch { /* already gone */ } }
});

class Proc {
  constructor(name, file, args, logFile) {
    this.name = name;
    this.tail = [];
    this.exited = null;
    this.child = spawn(file, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(this.child);
    const log = fs.createWriteStream(logFile, { flags: 'a' });
    log.write(`\n--- ${new Date().toISOString()} ${file} ${args.join(' ')}\n`);
    const keep = (buf) => {
      log.write(buf);
      for (const line of buf.toString().split('\n')) if (line) this.tail.push(line);
      if (this.tail.length > 60) this.tail.splice(0, this.tail.length - 60);
    };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    this.done = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        children.delete(this.child);
        this.exited = { code, signal };
        log.end();
        resolve(this.exited);
      });
      this.child.on('error', (err) => {
        children.delete(this.child);
        this.exited = { code: null, signal: null, error: err };
        log.end();
        resolve(this.exited);
      });
    });
  }

  /** Stop with `signal`, escalating to SIGKILL after `graceMs`. */
  async stop(signal = 'SIGTERM', graceMs = 5000) {
    if (this.exited) return this.exited;
    try { this.child.kill(signal); } catch { /* already gone */ }
    const t = setTimeout(() => { try { this.child.kill('SIGKILL'); } catch { /* gone */ } }, graceMs);
    const r = await this.done;
    clearTimeout(t);
    return r;
  }

  describe() {
    return `${this.name} (${this.exited ? `exited ${JSON.stringify(this.exited)}` : 'running'}):\n  ${this.tail.slice(-25).join('\n  ')}`;
  }
}

/**
 * A broker and a gateway on free ports, with a fresh database.
 *   const srv = await Servers.start({ name: 'chat', gateway: ['heartbeat_ms=2000'] });
 *   srv.url  -> 'http://127.0.0.1:PORT/'
 */
export class Servers {
  static async start(opts = {}) {
    const s = new Servers(opts);
    try {
      await s._start();
    } catch (e) {
      await s.stop();
      throw e;
    }
    return s;
  }

  constructor({ name = 'test', broker = [], gateway = [], common = [] } = {}) {
    this.name = name;
    this.extra = { broker, gateway, common };
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-browser-'));
    // Server logs of each test, for reading after a failure.
    fs.mkdirSync(path.join(OUT, 'browser-logs'), { recursive: true });
    this.logBase = path.join(OUT, 'browser-logs', name);
    for (const k of ['broker', 'gateway']) fs.rmSync(`${this.logBase}-${k}.log`, { force: true });
  }

  async _start() {
    for (const b of ['roomcast-broker', 'roomcast-gateway']) {
      if (!fs.existsSync(path.join(BIN, b))) throw new Error(`${path.join(BIN, b)} is missing: run make first`);
    }
    [this.eventsPort, this.fanoutPort, this.port] = await freePorts(3);
    this.url = `http://127.0.0.1:${this.port}/`;
    this.startBroker();
    await this.startGateway();
  }

  _common() {
    return ['-o', `events_url=tcp://127.0.0.1:${this.eventsPort}`, '-o', `fanout_url=tcp://127.0.0.1:${this.fanoutPort}`,
      ...this.extra.common.flatMap((kv) => ['-o', kv])];
  }

  startBroker() {
    const args = [...this._common(), '-o', `db=${path.join(this.dir, 'roomcast.db')}`,
      ...this.extra.broker.flatMap((kv) => ['-o', kv])];
    this.broker = new Proc('broker', path.join(BIN, 'roomcast-broker'), args, `${this.logBase}-broker.log`);
    return this.broker;
  }

  /** Start (or restart) the gateway on the same port and wait until /healthz says 200. */
  async startGateway() {
    const args = [...this._common(), '-o', `listen=127.0.0.1:${this.port}`, '-o', `www=${path.join(ROOT, 'www')}`,
      '-o', 'id=gw1',
      // 1024 workers, as the integration harness: the default (10,240) is
      // 10,000 tasks per gateway, and these tests are about the page, not
      // capacity (tests/integration/capacity.test.mjs covers the default).
      '-o', 'threads=1024', ...this.extra.gateway.flatMap((kv) => ['-o', kv])];
    this.gateway = new Proc('gateway', path.join(BIN, 'roomcast-gateway'), args, `${this.logBase}-gateway.log`);
    await this.waitHealthy();
    return this.gateway;
  }

  async waitHealthy(timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (this.gateway.exited) throw new Error(`gateway exited before it was ready\n${this.describe()}`);
      if (this.broker.exited) throw new Error(`broker exited before the gateway was ready\n${this.describe()}`);
      try {
        const res = await fetch(`${this.url}healthz`, { signal: AbortSignal.timeout(1000) });
        last = `${res.status} ${await res.text()}`;
        if (res.status === 200) return;
      } catch (e) {
        last = String(e.cause?.code || e.message);
      }
      await sleep(100);
    }
    throw new Error(`gateway not healthy after ${timeoutMs} ms (last: ${last})\n${this.describe()}`);
  }

  describe() {
    return [this.broker, this.gateway].filter(Boolean).map((p) => p.describe()).join('\n');
  }

  async stop() {
    await Promise.all([this.gateway?.stop(), this.broker?.stop()].filter(Boolean));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/**
 * A person with their own browser context (own localStorage). Records page
 * errors, console errors and dialogs so tests can assert none happened.
 */
export async function newUser(browser, url, { viewport = { width: 1280, height: 800 }, colorScheme, query = '' } = {}) {
  const context = await browser.newContext({ viewport, colorScheme });
  const user = { context, errors: [], dialogs: [], url: url + query };
  user.page = await openPage(user);
  return user;
}

export async function openPage(user) {
  const page = await user.context.newPage();
  page.on('pageerror', (e) => user.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // Chromium logs every refused WebSocket attempt itself; while a server is
    // down those are expected and say nothing about the page.
    if (m.type() === 'error' && !/^WebSocket connection to .* failed/.test(m.text())) user.errors.push(`console: ${m.text()}`);
  });
  page.on('dialog', (d) => { user.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  await page.goto(user.url);
  return page;
}

/** Retry `fn` until it stops throwing; rethrow its last error after the timeout. */
export async function eventually(fn, { timeout = 10000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    await sleep(interval);
  }
}

export async function statusText(page) {
  return (await page.getByRole('status').textContent()).trim();
}

export async function waitStatus(page, want, timeout = 15000) {
  await eventually(async () => {
    const got = await statusText(page);
    if (got !== want) throw new Error(`status is "${got}", want "${want}"`);
  }, { timeout, interval: 50 });
}

export async function enterRoom(page, name, room) {
  await page.getByRole('textbox', { name: 'Name' }).fill(name);
  await page.getByRole('textbox', { name: 'Room' }).fill(room);
  await page.getByRole('button', { name: 'Enter' }).click();
}

export async function sendMessage(page, text, { key = false } = {}) {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  if (key) await box.press('Enter');
  else await page.getByRole('button', { name: 'Send' }).click();
}

/** Delivered messages in the visible log, in order: [{name, text}]. */
export async function logMessages(page) {
  return page.getByRole('log').locator('li.msg:not(.pending)').evaluateAll((els) => els
    .filter((li) => li.offsetParent !== null)
    .map((li) => ({ name: li.querySelector('.author').textContent, text: li.querySelector('.body').textContent })));
}

export async function logTexts(page) {
  return (await logMessages(page)).map((m) => m.text);
}

/** Wait until the visible log holds exactly `want` (message texts, in order). */
export async function waitLog(page, want, timeout = 15000) {
  await eventually(async () => {
    const got = await logTexts(page);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new Error(`log is ${JSON.stringify(got)}\nwant ${JSON.stringify(want)}`);
    }
  }, { timeout });
}

export async function waitText(locator, re, timeout = 10000) {
  await eventually(async () => {
    const t = (await locator.textContent()) || '';
    if (!re.test(t)) throw new Error(`text ${JSON.stringify(t)} does not match ${re}`);
  }, { timeout });
}

/**
 * A scripted participant over a plain WebSocket (the `ws` package), for
 * filling a room faster than typing would.
 */
export async function bot(baseUrl, { uid, name, room }) {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}ws`);
  let waiters = [];
  ws.on('message', (data) => {
    const f = JSON.parse(data);
    if (f.event === 'heartbeat' && f.message === 'ping') ws.send('{"event":"heartbeat","message":"pong"}');
    waiters = waiters.filter((w) => !w(f));
  });
  const next = (pred, ms = 10000) => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('bot: no answer in time')), ms);
    waiters.push((f) => { if (!pred(f)) return false; clearTimeout(t); resolve(f); return true; });
  });
  const welcome = next((f) => f.event === 'welcome');
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  await welcome;
  const entered = next((f) => f.event === 'enter' && f.uid === uid && f.room === room);
  ws.send(JSON.stringify({ event: 'enter', room, name, uid }));
  await entered;
  let n = 0;
  return {
    /** Post messages in order, paced under the default rate limit; resolves when all are stored. */
    async say(...texts) {
      let last = null;
      for (const text of texts) {
        const id = `bot-${uid}-${++n}`;
        last = next((f) => f.event === 'message' && f.id === id);
        ws.send(JSON.stringify({ event: 'message', room, message: text, id }));
        await sleep(25);
      }
      return last;
    },
    close: () => ws.close(),
  };
}
