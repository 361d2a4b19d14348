// The www client keeps a conversation whole through a page reload, a
// gateway restart, a lost network and a frozen server: statuses go
// `reconnecting` -> `connected` by themselves, and no message is lost or
// shown twice.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Servers, enterRoom, eventually, launchBrowser, logTexts, newUser, openPage, sendMessage, sleep,
  statusText, waitLog, waitStatus, waitText,
} from './helpers.mjs';

/** Watch the status element and record every distinct value it shows. */
async function recordStatuses(page) {
  await page.evaluate(() => {
    const el = document.querySelector('[role=status]');
    window.__statuses = [el.textContent.trim()];
    new MutationObserver(() => {
      const s = el.textContent.trim();
      if (window.__statuses.at(-1) !== s) window.__statuses.push(s);
    }).observe(el, { childList: true, characterData: true, subtree: true });
  });
}
const statuses = (page) => page.evaluate(() => window.__statuses);

function assertNoDuplicates(list) {
  assert.equal(new Set(list).size, list.length, `no message shown twice: ${JSON.stringify(list)}`);
}

describe('www client: resilience', { timeout: 240000 }, () => {
  let browser;
  const cleanups = [];

  before(async () => { browser = await launchBrowser(); });
  after(async () => {
    for (const f of cleanups.reverse()) await f().catch(() => {});
    await browser?.close().catch(() => {});
  });

  async function servers(opts) {
    const s = await Servers.start(opts);
    cleanups.push(() => s.stop());
    return s;
  }
  async function person(srv, opts) {
    const u = await newUser(browser, srv.url, opts);
    cleanups.push(() => u.context.close());
    return u;
  }

  it('a reload resumes where it was: nothing missed, nothing doubled', async () => {
    const srv = await servers({ name: 'reload' });
    const alice = await person(srv);
    const bob = await person(srv);
    await enterRoom(alice.page, 'alice', 'reload');
    await waitText(alice.page.getByRole('log'), /alice entered/);
    await enterRoom(bob.page, 'bob', 'reload');
    await waitText(alice.page.getByRole('log'), /bob entered/);
    const want = [];
    for (let i = 1; i <= 3; i++) {
      await sendMessage(i % 2 ? bob.page : alice.page, `before ${i}`);
      want.push(`before ${i}`);
    }
    await waitLog(alice.page, want);

    // Bob keeps talking while alice's page reloads.
    const reload = alice.page.reload();
    for (let i = 1; i <= 4; i++) {
      await sendMessage(bob.page, `during ${i}`);
      want.push(`during ${i}`);
    }
    await reload;
    await waitStatus(alice.page, 'connected');
    // The room and the name come back from localStorage without typing.
    await waitLog(alice.page, want);
    await sendMessage(alice.page, 'back again');
    want.push('back again');
    await waitLog(bob.page, want);
    await waitLog(alice.page, want);
    const names = await alice.page.getByRole('log').locator('li.msg:not(.pending) .author').allTextContents();
    assert.equal(names.at(-1), 'alice', 'same name after the reload');

    // A closed tab that opens again later catches up too.
    await alice.page.close();
    await waitText(bob.page.getByRole('log'), /alice went offline/);
    for (let i = 1; i <= 3; i++) {
      await sendMessage(bob.page, `while closed ${i}`);
      want.push(`while closed ${i}`);
    }
    await waitLog(bob.page, want);
    const again = await openPage(alice);
    await waitStatus(again, 'connected');
    await waitLog(again, want);
    assertNoDuplicates(await logTexts(again));
    assert.deepEqual(alice.errors, []);
    assert.deepEqual(bob.errors, []);
  });

  it('both sides recover by themselves when the gateway restarts', async () => {
    const srv = await servers({ name: 'restart' });
    const alice = await person(srv);
    const bob = await person(srv);
    const a = alice.page;
    const b = bob.page;
    await enterRoom(a, 'alice', 'restart');
    await waitText(a.getByRole('log'), /alice entered/);
    await enterRoom(b, 'bob', 'restart');
    await waitText(a.getByRole('log'), /bob entered/);
    await sendMessage(a, 'one');
    await sendMessage(b, 'two');
    const want = ['one', 'two'];
    await waitLog(a, want);
    await waitLog(b, want);
    await recordStatuses(a);
    await recordStatuses(b);

    const exit = await srv.gateway.stop('SIGTERM');
    assert.equal(exit.code, 0, `gateway exits 0 on SIGTERM\n${srv.describe()}`);
    await waitStatus(a, 'reconnecting');
    await waitStatus(b, 'reconnecting');

    // Written while the server is gone: shown as waiting, sent after the reconnect.
    await sendMessage(a, 'sent while down');
    await waitText(a.getByRole('log').locator('li.pending'), /Waiting for the connection/);
    want.push('sent while down');
    await sleep(1500);
    await srv.startGateway();

    await waitStatus(a, 'connected', 30000);
    await waitStatus(b, 'connected', 30000);
    await waitLog(a, want);
    await waitLog(b, want);
    assert.equal(await a.getByRole('log').locator('li.pending').count(), 0, 'nothing left in the outbox');
    await sendMessage(b, 'three');
    await sendMessage(a, 'four');
    want.push('three', 'four');
    await waitLog(a, want);
    await waitLog(b, want);
    for (const p of [a, b]) {
      const seq = await statuses(p);
      const i = seq.indexOf('reconnecting');
      assert.ok(i >= 0 && seq.indexOf('connected', i) > i, `status went reconnecting -> connected: ${seq}`);
    }
    assert.deepEqual(alice.errors, []);
    assert.deepEqual(bob.errors, []);
  });

  it('keeps chatting across a broker crash and restart', async () => {
    const srv = await servers({ name: 'broker-crash' });
    const alice = await person(srv);
    const bob = await person(srv);
    const a = alice.page;
    const b = bob.page;
    await enterRoom(a, 'alice', 'crash');
    await waitText(a.getByRole('log'), /alice entered/);
    await enterRoom(b, 'bob', 'crash');
    await waitText(a.getByRole('log'), /bob entered/);
    await sendMessage(a, 'before the crash');
    await waitLog(b, ['before the crash']);

    await srv.broker.stop('SIGKILL');
    // Written while the broker is down: kept and retried until stored.
    await sendMessage(a, 'during the outage');
    await sleep(1000);
    srv.startBroker();
    await srv.waitHealthy(20000);
    const want = ['before the crash', 'during the outage'];
    await waitLog(b, want, 30000);
    await waitLog(a, want, 30000);
    await sendMessage(b, 'after the restart');
    want.push('after the restart');
    await waitLog(a, want, 20000);
    await waitLog(b, want);
    assert.deepEqual(alice.errors, []);
    assert.deepEqual(bob.errors, []);
  });

  it('shows offline without network and sends the queue when it is back', async () => {
    const srv = await servers({ name: 'offline' });
    const alice = await person(srv);
    const bob = await person(srv);
    await enterRoom(alice.page, 'alice', 'net');
    await enterRoom(bob.page, 'bob', 'net');
    await waitText(alice.page.getByRole('log'), /bob entered/);
    await sendMessage(bob.page, 'are you there?');
    await waitLog(alice.page, ['are you there?']);

    await alice.context.setOffline(true);
    await waitStatus(alice.page, 'offline');
    await sendMessage(alice.page, 'typed on the train');
    await sendMessage(alice.page, 'and another');
    await sendMessage(bob.page, 'hello?');
    await sleep(500);
    assert.equal(await statusText(alice.page), 'offline');
    await alice.context.setOffline(false);
    await waitStatus(alice.page, 'connected');
    const want = ['are you there?', 'hello?', 'typed on the train', 'and another'];
    await eventually(async () => {
      const got = await logTexts(bob.page);
      assert.deepEqual([...got].sort(), [...want].sort());
    });
    await eventually(async () => {
      const got = await logTexts(alice.page);
      assert.deepEqual(got, await logTexts(bob.page));
    });
    assertNoDuplicates(await logTexts(alice.page));
  });

  it('treats a frozen server as gone and recovers when it thaws', async () => {
    const srv = await servers({ name: 'frozen', gateway: ['heartbeat_ms=1000'] });
    const alice = await person(srv);
    await enterRoom(alice.page, 'alice', 'frozen');
    await waitText(alice.page.getByRole('log'), /alice entered/);
    await sendMessage(alice.page, 'before the freeze');
    await waitLog(alice.page, ['before the freeze']);
    await recordStatuses(alice.page);
    srv.gateway.child.kill('SIGSTOP');
    try {
      // Silence for 2 x heartbeat_ms means the link is dead.
      await waitStatus(alice.page, 'reconnecting', 10000);
      await sendMessage(alice.page, 'during the freeze');
    } finally {
      srv.gateway.child.kill('SIGCONT');
    }
    await waitStatus(alice.page, 'connected', 30000);
    await waitLog(alice.page, ['before the freeze', 'during the freeze'], 30000);
    assert.deepEqual(alice.errors, []);
  });

  it('marks a truncated catch-up and loads older messages on request', async () => {
    const srv = await servers({ name: 'truncated', broker: ['offline_max=5'] });
    const alice = await person(srv);
    const bob = await person(srv);
    await enterRoom(alice.page, 'alice', 'busy');
    await waitText(alice.page.getByRole('log'), /alice entered/);
    await alice.page.close();
    await enterRoom(bob.page, 'bob', 'busy');
    const want = [];
    for (let i = 1; i <= 12; i++) {
      await sendMessage(bob.page, `news ${i}`);
      want.push(`news ${i}`);
    }
    await waitLog(bob.page, want);
    const page = await openPage(alice);
    await waitStatus(page, 'connected');
    await waitLog(page, want.slice(-5));
    await waitText(page.getByRole('log'), /truncated/i);
    await page.getByRole('button', { name: /Load older/ }).click();
    await waitLog(page, want);
    assertNoDuplicates(await logTexts(page));
    await eventually(async () => assert.equal(await page.getByText(/truncated/i).count(), 0, 'the mark goes once the hole is filled'));

    // The same with the page open: the hole is in the middle of the log now.
    await alice.context.setOffline(true);
    await waitStatus(page, 'offline');
    for (let i = 13; i <= 24; i++) {
      await sendMessage(bob.page, `news ${i}`);
      want.push(`news ${i}`);
    }
    await waitLog(bob.page, want);
    await alice.context.setOffline(false);
    await waitStatus(page, 'connected');
    await waitLog(page, [...want.slice(0, 12), ...want.slice(-5)]);
    await waitText(page.getByRole('log'), /truncated/i);
    await page.getByRole('button', { name: 'Load missed messages' }).click();
    await waitLog(page, want);
    assert.equal(await page.getByText(/truncated/i).count(), 0);
    assert.deepEqual(alice.errors, []);
  });
});
