// frontproxy.test.mjs -- the front proxy (README, "Behind the TLS front
// proxy"): nginx with etc/nginx/roomcast.conf and a certificate from
// etc/make-cert.sh in front of two gateways. Clients chat over wss:// through
// it, land on different gateways (least_conn), and the gateways see the
// client's address (X-Forwarded-For) and Origin; /healthz, /metrics and the
// www client are served through it; http:// redirects to https://; IPv6
// ([::1]) when this machine has IPv6 loopback.
//
// The site config is the production file itself: only its ports, paths and
// upstream servers are substituted (each substitution must match, so a
// change to roomcast.conf that would make the test run something else fails
// here), and etc/nginx/roomcast-test.conf.in supplies the main context (pid,
// logs, temp paths in the test's temporary directory). nginx runs in the
// foreground as one process (master_process off) so that stopping or
// killing it leaves no worker behind.
//
// Skipped only when /usr/sbin/nginx or openssl is missing (`make test`
// installs both).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import {
  ROOT, Client, WebSocket, startBroker, startGateway, spawnProc, runCli, stop,
  tempDir, freePort, waitFor, httpGet, getMetrics, metric, expectFields,
} from './harness.mjs';

const NGINX = '/usr/sbin/nginx';
const SITE_CONF = path.join(ROOT, 'etc', 'nginx', 'roomcast.conf');
const MAIN_TEMPLATE = path.join(ROOT, 'etc', 'nginx', 'roomcast-test.conf.in');
const MAKE_CERT = path.join(ROOT, 'etc', 'make-cert.sh');
const ORIGIN = 'https://chat.test';
const ROOM = 'proxied';

function haveOpenssl() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** True when a socket can listen on [::1] here (IPv6 loopback works). */
function ipv6Loopback() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(0, '::1', () => srv.close(() => resolve(true)));
  });
}

/** Applies [regex, replacement, expected count] edits to text (every match
 *  replaced; count null: at least one); throws when a pattern does not
 *  match as often as expected. */
function substitute(text, edits, what) {
  let out = text;
  for (const [re, rep, count] of edits) {
    const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g');
    const n = (out.match(g) || []).length;
    if (count === null ? n === 0 : n !== count) {
      throw new Error(`${what}: ${re} matched ${n} times, expected ${count ?? 'at least once'}; ` +
        'did the file change? Update the substitutions of frontproxy.test.mjs with it.');
    }
    out = out.replace(g, rep);
  }
  return out;
}

/** Writes the test's nginx config into dir; returns the main file's path. */
function writeNginxConfig({ dir, certDir, httpsPort, httpPort, gateways, ipv6 }) {
  const upstream = gateways.map((g) => `    server 127.0.0.1:${g.port} max_fails=1 fail_timeout=10s;`).join('\n');
  const site = substitute(fs.readFileSync(SITE_CONF, 'utf8'), [
    // Loopback ports instead of 80 and 443; [::1] instead of [::] (or no
    // IPv6 listener at all when this machine has no IPv6 loopback).
    [/^(\s*)listen 443 ssl;$/m, `$1listen 127.0.0.1:${httpsPort} ssl;`, 1],
    [/^(\s*)listen \[::\]:443 ssl;$/m, ipv6 ? `$1listen [::1]:${httpsPort} ssl;` : '$1# (no IPv6 loopback here)', 1],
    [/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${httpPort};`, 1],
    [/^(\s*)listen \[::\]:80;$/m, ipv6 ? `$1listen [::1]:${httpPort};` : '$1# (no IPv6 loopback here)', 1],
    // The redirect names the https port, which is not 443 here.
    [/^(\s*)return 301 https:\/\/\$host\$request_uri;$/m, `$1return 301 https://$$host:${httpsPort}$$request_uri;`, 1],
    // Certificate and log in the temporary directories.
    [/^(\s*)ssl_certificate(\s+)\/etc\/roomcast\/tls\/roomcast\.crt;$/m, `$1ssl_certificate$2${certDir}/roomcast.crt;`, 1],
    [/^(\s*)ssl_certificate_key(\s+)\/etc\/roomcast\/tls\/roomcast\.key;$/m, `$1ssl_certificate_key$2${certDir}/roomcast.key;`, 1],
    [/^(\s*)access_log \/var\/log\/nginx\/roomcast\.access\.log;$/m, `$1access_log ${dir}/roomcast.access.log;`, 1],
    // This test's gateways instead of 8081 and 8082 (the line format stays).
    [/^    server 127\.0\.0\.1:808\d max_fails=1 fail_timeout=10s;\n/m, '', 2],
    [/^(\s*zone roomcast_gateways 64k;\n)/m, `$1\n${upstream}\n`, 1],
  ], 'roomcast.conf');
  const sitePath = path.join(dir, 'roomcast-site.conf');
  fs.writeFileSync(sitePath, site);
  const main = substitute(fs.readFileSync(MAIN_TEMPLATE, 'utf8'), [
    [/@DIR@/, dir, null],
    [/@SITE@/, sitePath, null],
  ], 'roomcast-test.conf.in');
  const mainPath = path.join(dir, 'nginx.conf');
  fs.writeFileSync(mainPath, main);
  return mainPath;
}

/** GET over https (or http) through the proxy. Resolves {status, headers, body}. */
function fetchVia(url, { ca, headers = {}, localAddress, timeoutMs = 5000 } = {}) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request({
      host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port, path: u.pathname + u.search,
      method: 'GET', headers, agent: false, ca, localAddress,
      servername: net.isIP(u.hostname.replace(/^\[|\]$/g, '')) ? undefined : u.hostname,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Opens a wss:// connection (verifying the certificate against `ca`) and
 *  waits for welcome, like harness.connect. Rejects with e.status when the
 *  upgrade is refused. */
function connectWss(url, { ca, origin = ORIGIN, localAddress, label, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      ca, origin, localAddress, perMessageDeflate: false, handshakeTimeout: timeoutMs,
    });
    const c = new Client(ws, label || url);
    let done = false;
    const finish = (err, v) => { if (done) return; done = true; clearTimeout(timer); err ? reject(err) : resolve(v); };
    const timer = setTimeout(() => { ws.terminate(); finish(new Error(`${label}: no welcome within ${timeoutMs} ms`)); }, timeoutMs);
    ws.on('unexpected-response', (req, res) => {
      const e = new Error(`${label}: upgrade refused with HTTP ${res.statusCode}`);
      e.status = res.statusCode;
      res.resume();
      ws.terminate();
      finish(e);
    });
    ws.on('error', (e) => finish(new Error(`${label}: ${e.message}`)));
    ws.on('open', async () => {
      try {
        const first = await c.next(() => true, timeoutMs);
        if (!first || first.event !== 'welcome') throw new Error(`first frame is not welcome: ${JSON.stringify(first)}`);
        c.welcome = first;
        finish(null, c);
      } catch (e) {
        finish(new Error(`${label}: ${e.message}`));
      }
    });
  });
}

const gatewayOf = (c) => String(c.welcome.conn).replace(/:\d+$/, '');

test('nginx front proxy: wss:// over IPv4 and IPv6 to two gateways, client address and Origin passed through', { timeout: 120000 }, async (t) => {
  const missing = [];
  if (!fs.existsSync(NGINX)) missing.push(NGINX);
  if (!haveOpenssl()) missing.push('openssl');
  if (missing.length) {
    t.skip(`${missing.join(' and ')} not installed (Debian: apt-get install nginx openssl; make test installs them)`);
    return;
  }

  const dir = tempDir('roomcast-nginx-');
  const certDir = path.join(dir, 'tls');
  execFileSync('sh', [MAKE_CERT, certDir], { stdio: 'pipe' });
  const ca = fs.readFileSync(path.join(certDir, 'roomcast.crt'));
  const ipv6 = await ipv6Loopback();
  if (!ipv6) t.diagnostic('no IPv6 loopback on this machine: the [::1] part is left out');

  // Two gateways that trust the proxy (127.0.0.1, the default
  // trusted_proxies), accept only ORIGIN, and allow one WebSocket per client
  // address: every proxied connection comes from 127.0.0.1, so only the
  // X-Forwarded-For address tells the clients below apart.
  const broker = await startBroker();
  const gwOpts = { allowed_origins: ORIGIN, max_conns_per_ip: 1 };
  const gateways = [await startGateway(broker, gwOpts), await startGateway(broker, gwOpts)];

  const httpsPort = await freePort();
  const httpPort = await freePort();
  const conf = writeNginxConfig({ dir, certDir, httpsPort, httpPort, gateways, ipv6 });
  const nginxArgs = ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log'), '-g', 'daemon off; master_process off;'];
  const check = await runCli(NGINX, [...nginxArgs, '-t']);
  assert.equal(check.code, 0, `nginx -t on the test config fails:\n${check.stderr}\n--- config:\n${fs.readFileSync(conf, 'utf8')}`);

  const nginx = spawnProc(NGINX, nginxArgs, 'nginx');
  try {
    const base = `https://127.0.0.1:${httpsPort}`;
    const wsBase = `wss://127.0.0.1:${httpsPort}`;
    await waitFor(async () => {
      if (nginx.exitCode !== null || nginx.exitSignal) {
        throw new Error(`nginx exited: ${nginx.stderr}\n${fs.readFileSync(path.join(dir, 'error.log'), 'utf8')}`);
      }
      return (await fetchVia(`${base}/healthz`, { ca })).status === 200;
    }, { what: 'GET /healthz through nginx to answer 200', timeoutMs: 10000 });

    // --- plain HTTP requests through the proxy ------------------------------
    const hz = await fetchVia(`${base}/healthz`, { ca });
    assert.equal(hz.status, 200, `healthz through the proxy: ${JSON.stringify(hz)}`);
    assert.deepEqual(JSON.parse(hz.body), { status: 'ok', broker: 'up' }, 'healthz body through the proxy');
    const page = await fetchVia(`${base}/`, { ca });
    const direct = await httpGet(gateways[0], '/');
    assert.equal(page.status, 200, 'GET / through the proxy');
    assert.match(String(page.headers['content-type']), /text\/html/, 'GET / is the www client page');
    assert.equal(page.body, direct.body, 'GET / through the proxy is the gateway\'s page');
    const redir = await fetchVia(`http://127.0.0.1:${httpPort}/ws?x=1`);
    assert.equal(redir.status, 301, `http:// is redirected: ${JSON.stringify(redir)}`);
    assert.equal(redir.headers.location, `https://127.0.0.1:${httpsPort}/ws?x=1`, 'redirect target');

    // --- two clients over wss://, on different gateways (least_conn) -------
    const alice = await connectWss(`${wsBase}/ws`, { ca, label: 'alice' });
    const bob = await connectWss(`${wsBase}/ws`, { ca, label: 'bob' });
    const ids = gateways.map((g) => g.id);
    assert.ok(ids.includes(gatewayOf(alice)), `alice's welcome.conn names a gateway: ${alice.welcome.conn}`);
    assert.ok(ids.includes(gatewayOf(bob)), `bob's welcome.conn names a gateway: ${bob.welcome.conn}`);
    assert.notEqual(gatewayOf(alice), gatewayOf(bob),
      `least_conn puts the second open connection on the other gateway: alice ${alice.welcome.conn}, bob ${bob.welcome.conn}`);

    expectFields(await alice.enter(ROOM, 'Alice', { uid: 'alice' }), { num: 1, total: 1 }, 'alice enter');
    expectFields(await bob.enter(ROOM, 'Bob', { uid: 'bob' }), { num: 2, total: 2 }, 'bob enter');
    expectFields(await alice.next({ event: 'enter', uid: 'bob' }), { num: 2, total: 2 }, 'alice sees bob');
    alice.send({ event: 'message', room: ROOM, message: 'over tls from alice', id: 'a1' });
    const m1 = await bob.next({ event: 'message', message: 'over tls from alice' });
    expectFields(m1, { uid: 'alice', seq: 1, id: 'a1' }, 'bob receives alice\'s message');
    await alice.next({ event: 'message', seq: 1 });
    bob.send({ event: 'message', room: ROOM, message: 'über TLS zurück ✓' });
    expectFields(await alice.next({ event: 'message', seq: 2 }), { uid: 'bob', message: 'über TLS zurück ✓' }, 'alice receives bob\'s reply');

    // --- Origin passes through: the gateways' allowed_origins applies -------
    for (const origin of ['https://evil.test', null]) {
      const err = await connectWss(`${wsBase}/ws`, { ca, origin, label: `origin ${origin}` }).then(
        (c) => { c.terminate(); return null; }, (e) => e);
      assert.ok(err && err.status === 403,
        `an upgrade with Origin ${origin ?? '(none)'} is refused by the gateway with 403 through the proxy; got ${err ? err.message : 'an open connection'}`);
    }

    // --- the client address (X-Forwarded-For) reaches the gateways ---------
    // Each gateway already holds one connection from 127.0.0.1 and allows
    // one per address; clients from 127.0.0.2 and 127.0.0.3 (also loopback)
    // are accepted only when the gateway counts them by the X-Forwarded-For
    // address nginx sends, not by nginx's own address.
    const carol = await connectWss(`${wsBase}/ws`, { ca, localAddress: '127.0.0.2', label: 'carol@127.0.0.2' })
      .catch((e) => { throw new Error(`a client from 127.0.0.2 must be accepted (the gateway must count it by X-Forwarded-For): ${e.message}`); });
    const dave = await connectWss(`${wsBase}/ws`, { ca, localAddress: '127.0.0.3', label: 'dave@127.0.0.3' })
      .catch((e) => { throw new Error(`a client from 127.0.0.3 must be accepted (the gateway must count it by X-Forwarded-For): ${e.message}`); });
    assert.notEqual(gatewayOf(carol), gatewayOf(dave), `carol ${carol.welcome.conn} and dave ${dave.welcome.conn} spread over both gateways`);
    // Another connection from 127.0.0.1 is refused (429, passed through)
    // whichever gateway it lands on: both already hold one from that
    // address (alice's and bob's).
    const again = await connectWss(`${wsBase}/ws`, { ca, label: 'alice-again' }).then(
      (c) => { c.terminate(); return null; }, (e) => e);
    assert.ok(again && again.status === 429,
      `a second connection from 127.0.0.1 is refused by max_conns_per_ip=1 with 429 through the proxy; got ${again ? again.message : 'an open connection'}`);

    // Each gateway holds two WebSockets (one per address); /metrics through
    // the proxy answers too.
    await waitFor(async () => {
      const n = [];
      for (const g of gateways) n.push(metric((await getMetrics(g)).metrics, 'roomcast_connections'));
      return n.every((x) => x === 2) ? n : null;
    }, { what: 'roomcast_connections 2 on each gateway', timeoutMs: 5000 });
    const pm = await fetchVia(`${base}/metrics`, { ca });
    assert.equal(pm.status, 200, `GET /metrics through the proxy: ${pm.status}`);
    assert.match(pm.body, /^roomcast_connections \d+$/m, '/metrics through the proxy is the gateway\'s Prometheus text');

    // --- IPv6 ---------------------------------------------------------------
    if (ipv6) {
      const hz6 = await fetchVia(`https://[::1]:${httpsPort}/healthz`, { ca });
      assert.equal(hz6.status, 200, 'healthz over IPv6 through the proxy');
      const redir6 = await fetchVia(`http://[::1]:${httpPort}/`);
      assert.equal(redir6.status, 301, 'http:// over IPv6 is redirected');
      // ::1 is a new address for the per-address cap: accepted.
      const erin = await connectWss(`wss://[::1]:${httpsPort}/ws`, { ca, label: 'erin@[::1]' });
      expectFields(await erin.enter(ROOM, 'Erin', { uid: 'erin' }), { num: 3, total: 3 }, 'erin (IPv6) enters');
      await alice.next({ event: 'enter', uid: 'erin' });
      erin.send({ event: 'message', room: ROOM, message: 'hello over IPv6' });
      expectFields(await alice.next({ event: 'message', message: 'hello over IPv6' }), { uid: 'erin', seq: 3 }, 'alice receives erin\'s message');
      expectFields(await bob.next({ event: 'message', message: 'hello over IPv6' }), { uid: 'erin', seq: 3 }, 'bob receives erin\'s message');
      await erin.close();
      expectFields(await alice.next({ event: 'out', uid: 'erin' }), { num: 2, total: 3 }, 'erin goes out');
    }

    // Closing through the proxy: bob's close reaches his gateway.
    await bob.close();
    expectFields(await alice.next({ event: 'out', uid: 'bob' }), { num: 1, total: 3 - (ipv6 ? 0 : 1) }, 'bob goes out after closing through the proxy');
  } catch (e) {
    // nginx logs to its own file: show its end with the failure.
    let log = '';
    try { log = fs.readFileSync(path.join(dir, 'error.log'), 'utf8').split('\n').slice(-40).join('\n'); } catch { /* */ }
    e.message += `\n--- end of nginx error.log (${path.join(dir, 'error.log')}):\n${log}`;
    throw e;
  } finally {
    // SIGTERM: nginx's fast stop (SIGQUIT would wait for the open
    // WebSockets). master_process off: one process, nothing left behind;
    // the harness SIGKILLs it if it has not exited within 5 s.
    await stop(nginx, 'SIGTERM', 5000).catch(() => {});
  }
});
