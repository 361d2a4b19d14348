// Deleting in the www client: each of the user's own messages has a button
// `Delete` (nobody else's does); a deleted message shows `message deleted`
// instead of its text for everyone, live, after a reload and in history;
// a picture too; a message deleted through the server API too.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Servers, bot, enterRoom, eventually, launchBrowser, newUser, openPage, sendMessage, waitLog, waitStatus,
} from './helpers.mjs';

const KEY = 'browser-test-api-key';
// A 2x2 red PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==', 'base64');

describe('www client: deleting', { timeout: 180000 }, () => {
  let srv;
  let browser;
  const users = [];

  before(async () => {
    srv = await Servers.start({ name: 'delete', gateway: [`api_key=${KEY}`] });
    browser = await launchBrowser();
  });

  after(async () => {
    for (const u of users) await u.context.close().catch(() => {});
    await browser?.close().catch(() => {});
    await srv?.stop();
  });

  async function person() {
    const u = await newUser(browser, srv.url);
    users.push(u);
    return u;
  }

  const msg = (page, text) => page.getByRole('log').locator('li.msg:not(.pending)').filter({ hasText: text });

  it('the author deletes a message; everyone sees "message deleted", live and after a reload', async () => {
    const alice = await person();
    const bob = await person();
    const a = alice.page;
    const b = bob.page;
    await waitStatus(a, 'connected');
    await enterRoom(a, 'alice', 'lobby');
    await enterRoom(b, 'bob', 'lobby');
    await sendMessage(a, 'my secret oops');
    await sendMessage(b, 'hello alice');
    await waitLog(a, ['my secret oops', 'hello alice']);
    await waitLog(b, ['my secret oops', 'hello alice']);

    // Only one's own messages can be deleted.
    assert.equal(await msg(a, 'my secret oops').getByRole('button', { name: 'Delete' }).count(), 1);
    assert.equal(await msg(a, 'hello alice').getByRole('button', { name: 'Delete' }).count(), 0);
    assert.equal(await msg(b, 'my secret oops').getByRole('button', { name: 'Delete' }).count(), 0);

    await msg(a, 'my secret oops').getByRole('button', { name: 'Delete' }).click();
    await waitLog(a, ['message deleted', 'hello alice']);
    await waitLog(b, ['message deleted', 'hello alice']);
    const body = await a.getByRole('log').textContent();
    assert.ok(!body.includes('my secret oops'), 'the text is gone from the page');
    assert.equal(await a.getByRole('log').getByRole('button', { name: 'Delete' }).count(), 0, 'no Delete on a deleted message');

    // After a reload (catch-up from localStorage) and on a fresh page
    // (history), the placeholder stays.
    await a.reload();
    await waitStatus(a, 'connected');
    await waitLog(a, ['message deleted', 'hello alice']);
    const carol = await person();
    await enterRoom(carol.page, 'carol', 'lobby');
    await waitLog(carol.page, ['message deleted', 'hello alice']);
    for (const u of [alice, bob, carol]) {
      assert.deepEqual(u.errors, [], 'no page or console errors');
      assert.deepEqual(u.dialogs, [], 'no dialogs');
    }
  });

  it('a picture deleted by its sender shows "message deleted" instead of the image, also after a reload', async () => {
    const erin = await person();
    const fred = await person();
    const e = erin.page;
    const f = fred.page;
    await enterRoom(e, 'erin', 'pics');
    await enterRoom(f, 'fred', 'pics');
    await e.getByLabel('Attach').setInputFiles({ name: 'red.png', mimeType: 'image/png', buffer: PNG });
    for (const p of [e, f]) {
      await eventually(async () => assert.equal(await p.getByRole('log').getByRole('img', { name: 'red.png' }).count(), 1));
    }
    await e.getByRole('log').locator('li.msg').filter({ has: e.getByRole('img', { name: 'red.png' }) })
      .getByRole('button', { name: 'Delete' }).click();
    for (const p of [e, f]) {
      await waitLog(p, ['message deleted']);
      assert.equal(await p.getByRole('log').getByRole('img').count(), 0, 'the picture is gone');
    }
    await f.reload();
    await waitLog(f, ['message deleted']);
    assert.equal(await f.getByRole('log').getByRole('img').count(), 0);
    assert.deepEqual(erin.errors, []);
    assert.deepEqual(fred.errors, []);
  });

  it('a message deleted through the server API shows "message deleted" at once', async () => {
    const dave = await person();
    const d = dave.page;
    await enterRoom(d, 'dave', 'news');
    const b = await bot(srv.url, { uid: 'newsbot', name: 'newsbot', room: 'news' });
    const stored = await b.say('breaking: wrong', 'breaking: right');
    await waitLog(d, ['breaking: wrong', 'breaking: right']);
    const res = await fetch(`${srv.url}api/v1/rooms/news/messages/${stored.seq - 1}`, {
      method: 'DELETE', headers: { Authorization: `Bearer ${KEY}` },
    });
    assert.equal(res.status, 200, await res.text());
    await waitLog(d, ['message deleted', 'breaking: right']);
    b.close();
    const again = await openPage(dave);
    await eventually(async () => {
      const texts = await again.getByRole('log').locator('li.msg:not(.pending)').evaluateAll((els) => els
        .filter((li) => li.offsetParent !== null).map((li) => li.querySelector('.body').textContent));
      assert.deepEqual(texts, ['message deleted', 'breaking: right']);
    }, { timeout: 15000 });
    assert.deepEqual(dave.errors, []);
  });
});
