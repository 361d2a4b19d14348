// ops.test.mjs -- the operations contract (README): command line, config
// files, exit statuses, graceful stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  BIN, WWW, runCli, spawnProc, startBroker, startGateway, stop, waitReady, freePort,
  tempDir, connect, httpGet, gatewayAt,
} from './harness.mjs';

const BOTH = ['broker', 'gateway'];

test('--help and --version exit 0 with output', { timeout: 60000 }, async () => {
  for (const which of BOTH) {
    const h = await runCli(which, ['--help']);
    assert.equal(h.code, 0, `${which} --help exit status (stderr: ${h.stderr})`);
    assert.ok((h.stdout + h.stderr).trim().length > 0, `${which} --help prints something`);
    const v = await runCli(which, ['--version']);
    assert.equal(v.code, 0, `${which} --version exit status (stderr: ${v.stderr})`);
    assert.match(v.stdout + v.stderr, /\d+\.\d+/, `${which} --version prints a version`);
  }
  // --help lists each process's own keys (the config table prints it).
  const hb = await runCli('broker', ['--help']);
  assert.match(hb.stdout + hb.stderr, /\bdb\b/, 'broker --help mentions db');
  const hg = await runCli('gateway', ['--help']);
  assert.match(hg.stdout + hg.stderr, /\blisten\b/, 'gateway --help mentions listen');
});

test('unknown -o key: exit 2 and stderr names the key', { timeout: 60000 }, async () => {
  for (const which of BOTH) {
    const r = await runCli(which, ['-o', 'log_level=warn', '-o', 'nosuchkey=1']);
    assert.equal(r.code, 2, `${which} exit status; stderr: ${r.stderr}`);
    assert.match(r.stderr, /nosuchkey/, `${which} stderr names the key`);
  }
  // A bad value for a known key: exit 2, names the key.
  const g = await runCli('gateway', ['-o', 'heartbeat_ms=banana']);
  assert.equal(g.code, 2, `gateway heartbeat_ms=banana exit status; stderr: ${g.stderr}`);
  assert.match(g.stderr, /heartbeat_ms/, 'gateway stderr names heartbeat_ms');
  const b = await runCli('broker', ['-o', 'offline_max=banana']);
  assert.equal(b.code, 2, `broker offline_max=banana exit status; stderr: ${b.stderr}`);
  assert.match(b.stderr, /offline_max/, 'broker stderr names offline_max');
  // An override without '=' is an error too.
  const n = await runCli('gateway', ['-o', 'listen']);
  assert.equal(n.code, 2, `gateway -o listen (no '=') exit status; stderr: ${n.stderr}`);
});

test('config file errors: bad line, unknown key, bad value quote file:line; missing file', { timeout: 60000 }, async () => {
  const dir = tempDir();
  const noEq = path.join(dir, 'noeq.conf');
  fs.writeFileSync(noEq, '# roomcast test config\nlog_level = warn\n\nthis line has no equals sign\n');
  const unknown = path.join(dir, 'unknown.conf');
  fs.writeFileSync(unknown, '# comment\n\nnosuchkey = 1\n');
  for (const which of BOTH) {
    const r = await runCli(which, ['-c', noEq]);
    assert.equal(r.code, 2, `${which} -c ${noEq} exit status; stderr: ${r.stderr}`);
    assert.ok(r.stderr.includes(`${noEq}:4`), `${which} stderr quotes ${noEq}:4; got: ${r.stderr}`);
    const u = await runCli(which, ['-c', unknown]);
    assert.equal(u.code, 2, `${which} -c ${unknown} exit status; stderr: ${u.stderr}`);
    assert.ok(u.stderr.includes(`${unknown}:3`), `${which} stderr quotes ${unknown}:3; got: ${u.stderr}`);
  }
  const badG = path.join(dir, 'badg.conf');
  fs.writeFileSync(badG, 'log_level = warn\nheartbeat_ms = banana\n');
  const g = await runCli('gateway', ['-c', badG]);
  assert.equal(g.code, 2, `gateway bad value exit status; stderr: ${g.stderr}`);
  assert.ok(g.stderr.includes(`${badG}:2`), `gateway stderr quotes ${badG}:2; got: ${g.stderr}`);
  const badB = path.join(dir, 'badb.conf');
  fs.writeFileSync(badB, 'log_level = warn\n# x\noffline_max = banana\n');
  const b = await runCli('broker', ['-c', badB]);
  assert.equal(b.code, 2, `broker bad value exit status; stderr: ${b.stderr}`);
  assert.ok(b.stderr.includes(`${badB}:3`), `broker stderr quotes ${badB}:3; got: ${b.stderr}`);

  const missing = path.join(dir, 'does-not-exist.conf');
  for (const which of BOTH) {
    const r = await runCli(which, ['-c', missing]);
    assert.equal(r.code, 2, `${which} missing config exit status; stderr: ${r.stderr}`);
    assert.ok(r.stderr.includes(missing), `${which} stderr names the missing file; got: ${r.stderr}`);
  }
});

test('-c FILE configures both processes (one file, each ignores the other\'s keys); -o overrides the file', { timeout: 60000 }, async () => {
  const dir = tempDir();
  const ev = await freePort(), fo = await freePort(), p1 = await freePort(), p2 = await freePort();
  const conf = path.join(dir, 'roomcast.conf');
  fs.writeFileSync(conf, [
    '# one file for both processes',
    '',
    `   events_url = tcp://127.0.0.1:${ev}`,
    `fanout_url=tcp://127.0.0.1:${fo}`,
    '  # an indented comment',
    'log_level = warn',
    `db = ${path.join(dir, 'roomcast.db')}`,
    'offline_max = 500',
    `listen = 127.0.0.1:${p1}`,
    `www = ${WWW}`,
    'id = gw-conf',
    'heartbeat_ms = 20000',
    'threads = 1024',
    '',
  ].join('\n'));
  const broker = spawnProc(BIN.broker, ['-c', conf], 'broker -c');
  const gw1 = gatewayAt(spawnProc(BIN.gateway, ['-c', conf], 'gateway -c'), p1, 'gw-conf');
  await waitReady(gw1, 200);
  const c = await connect(gw1);
  assert.equal(c.welcome.heartbeat_ms, 20000, `heartbeat_ms from the file; welcome: ${JSON.stringify(c.welcome)}`);
  const en = await c.enter('conf-room', 'conf');
  assert.equal(en.num, 1);
  await c.close();
  assert.equal(await stop(gw1.proc), 0, 'gateway SIGTERM exit status');

  // -o is applied after the file.
  const gw2 = gatewayAt(spawnProc(BIN.gateway, ['-c', conf, '-o', `listen=127.0.0.1:${p2}`], 'gateway -c -o'), p2, 'gw-conf2');
  await waitReady(gw2, 200);
  await assert.rejects(httpGet({ port: p1 }, '/healthz', { timeoutMs: 2000 }), `port ${p1} from the file must not be served when -o listen overrides it`);
  assert.equal(await stop(gw2.proc), 0, 'gateway SIGTERM exit status');
  assert.equal(await stop(broker), 0, 'broker SIGTERM exit status');
});

test('SIGTERM and SIGINT: graceful stop, exit 0; the gateway closes WebSockets with 1001', { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const gw = await startGateway(broker);
  const a = await connect(gw);
  const b = await connect(gw);
  await a.enter('stop-room', 'alice');
  await b.enter('stop-room', 'bob');
  const code = await stop(gw, 'SIGTERM');
  assert.equal(code, 0, `gateway exit status after SIGTERM; stderr:\n${gw.proc.stderr}`);
  const ca = await a.closed;
  const cb = await b.closed;
  assert.equal(ca.code, 1001, `close code seen by a client: ${JSON.stringify(ca)}`);
  assert.equal(cb.code, 1001, `close code seen by a client: ${JSON.stringify(cb)}`);

  const gw2 = await startGateway(broker);
  assert.equal(await stop(gw2, 'SIGINT'), 0, `gateway exit status after SIGINT; stderr:\n${gw2.proc.stderr}`);

  assert.equal(await stop(broker.proc, 'SIGTERM'), 0, `broker exit status after SIGTERM; stderr:\n${broker.proc.stderr}`);
  // The broker restarts on the same database (closed cleanly) and SIGINT stops it with 0 too.
  const b2 = await startBroker({ like: broker });
  const gw3 = await startGateway(b2);
  assert.equal(await stop(gw3), 0);
  assert.equal(await stop(b2.proc, 'SIGINT'), 0, `broker exit status after SIGINT; stderr:\n${b2.proc.stderr}`);
});
