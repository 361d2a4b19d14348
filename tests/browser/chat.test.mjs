// The www client against the real broker and gateway: two people chat,
// see each other's notices and counts, switch rooms, and nothing they type
// is ever run as HTML. Screenshots at phone and desktop sizes go to tests/out/.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  OUT, Servers, bot, enterRoom, eventually, launchBrowser, logMessages, logTexts, newUser, openPage,
  sendMessage, waitLog, waitStatus, waitText,
} from './helpers.mjs';

describe('www client: chatting', { timeout: 180000 }, () => {
  let srv;
  let browser;
  const users = [];

  before(async () => {
    srv = await Servers.start({ name: 'chat' });
    browser = await launchBrowser();
  });

  after(async () => {
    for (const u of users) await u.context.close().catch(() => {});
    await browser?.close().catch(() => {});
    await srv?.stop();
  });

  async function person(opts) {
    const u = await newUser(browser, srv.url, opts);
    users.push(u);
    return u;
  }

  function noErrors(...list) {
    for (const u of list) {
      assert.deepEqual(u.errors, [], 'no page or console errors');
      assert.deepEqual(u.dialogs, [], 'no dialogs');
    }
  }

  it('two people chat and see each other come and go', async () => {
    const alice = await person();
    const bob = await person();
    const a = alice.page;
    const b = bob.page;

    await waitStatus(a, 'connected');
    await enterRoom(a, 'alice', 'lobby');
    const aLog = a.getByRole('log');
    await waitText(aLog, /alice entered/);
    await waitText(a.getByText(/\d+ online/), /1 online/);
    await waitText(a.getByText(/\d+ members/), /1 members/);

    await enterRoom(b, 'bob', 'lobby');
    await waitText(aLog, /bob entered/);
    await waitText(a.getByText(/\d+ online/), /2 online/);
    await waitText(a.getByText(/\d+ members/), /2 members/);
    await waitText(b.getByText(/\d+ online/), /2 online/);

    await sendMessage(b, 'hi alice', { key: true });
    await sendMessage(a, 'hello bob');
    await sendMessage(b, 'how are you?\nsecond line');
    const want = ['hi alice', 'hello bob', 'how are you?\nsecond line'];
    await waitLog(a, want);
    await waitLog(b, want);

    const seen = await logMessages(a);
    assert.deepEqual(seen.map((m) => m.name), ['bob', 'alice', 'bob'], 'each message shows its sender');
    const own = await a.getByRole('log').locator('li.msg.own:not(.pending) .body').allTextContents();
    assert.deepEqual(own, ['hello bob'], "alice's own message is set apart");
    assert.equal(await a.getByRole('log').locator('li.msg time').count(), 3, 'each message shows its time');

    await b.close();
    await waitText(aLog, /bob went offline/);
    await waitText(a.getByText(/\d+ online/), /1 online/);
    await waitText(a.getByText(/\d+ members/), /2 members/);

    // Bob comes back in a new tab: the room is remembered, nothing to type.
    const b2 = await openPage(bob);
    await waitText(aLog, /bob entered[\s\S]*bob entered/);
    await waitLog(b2, want);
    await waitText(a.getByText(/\d+ online/), /2 online/);

    await b2.getByRole('button', { name: 'Leave lobby' }).click();
    await waitText(aLog, /bob left/);
    await waitText(a.getByText(/\d+ members/), /1 members/);
    await waitText(a.getByText(/\d+ online/), /1 online/);
    noErrors(alice, bob);
  });

  it('shows what people type as text and runs none of it', async () => {
    const mallory = await person();
    const victim = await person();
    const evil = '<img src=x onerror=alert(1)>';
    const evilName = '<b onmouseover=alert(2)>m</b>';
    await enterRoom(victim.page, 'victim', 'xss');
    await enterRoom(mallory.page, evilName, 'xss');
    await waitText(victim.page.getByRole('log'), /<b onmouseover=alert\(2\)>m<\/b> entered/);
    await sendMessage(mallory.page, evil);
    await sendMessage(mallory.page, '<script>alert(3)</script> and javascript:alert(4) http://example.invalid/"onmouseover="alert(5)');
    for (const page of [victim.page, mallory.page]) {
      await eventually(async () => {
        const msgs = await logMessages(page);
        assert.equal(msgs.length, 2);
        assert.equal(msgs[0].text, evil);
        assert.equal(msgs[0].name, evilName);
      });
      const log = page.getByRole('log');
      assert.equal(await log.locator('img').count(), 0, 'no img element in the log');
      assert.equal(await log.locator('script, b, iframe').count(), 0, 'no element made from message text');
      // Hover the name and the link text: an injected handler would fire now.
      await log.getByText(evilName).first().hover();
      for (const a of await log.locator('a').all()) {
        const href = await a.getAttribute('href');
        assert.match(href, /^https?:/, 'links are only ever http(s)');
      }
    }
    await victim.page.waitForTimeout(300);
    noErrors(mallory, victim);
  });

  it('keeps several rooms at once and switches between them', async () => {
    const carol = await person();
    const dave = await person();
    const c = carol.page;
    const d = dave.page;
    await enterRoom(c, 'carol', 'dev');
    await enterRoom(c, 'carol', 'random');
    await enterRoom(d, 'dave', 'dev');
    await waitText(c.getByRole('log'), /carol entered/);
    // carol looks at `random`; dave writes in `dev`.
    await sendMessage(d, 'build is green');
    const devTab = c.getByRole('button', { name: /^dev/ });
    await waitText(devTab, /1/);
    await sendMessage(c, 'anyone here?');
    await waitLog(c, ['anyone here?']);
    await devTab.click();
    await waitLog(c, ['build is green']);
    assert.equal((await devTab.textContent()).replace(/\s/g, ''), '#dev', 'unread badge cleared');
    await waitText(c.getByText(/\d+ online/), /2 online/);
    // Keyboard: Alt+ArrowDown goes to the next room.
    await c.getByRole('textbox', { name: 'Message' }).press('Alt+ArrowDown');
    await waitLog(c, ['anyone here?']);
    await waitText(c.getByText(/\d+ members/), /1 members/);
    noErrors(carol, dave);
  });

  it('looks right on a phone and on a desktop', async () => {
    const shots = [
      { file: 'chat-phone.png', viewport: { width: 390, height: 844 } },
      { file: 'chat-desktop.png', viewport: { width: 1280, height: 800 } },
      { file: 'chat-desktop-dark.png', viewport: { width: 1280, height: 800 }, colorScheme: 'dark' },
    ];
    const erin = await person({ viewport: shots[0].viewport });
    const frank = await person();
    await enterRoom(frank.page, 'frank', 'design');
    await enterRoom(erin.page, 'erin', 'design');
    await enterRoom(erin.page, 'erin', 'lunch');
    await erin.page.getByRole('button', { name: /^design/ }).click();
    await sendMessage(frank.page, 'Morning! The new mockups are up: https://example.com/mockups');
    await sendMessage(erin.page, 'Looks great — I like the darker header.');
    await sendMessage(frank.page, 'Thanks 🙂 shipping it after lunch.\nAny objections, shout.');
    const want = ['Morning! The new mockups are up: https://example.com/mockups',
      'Looks great — I like the darker header.', 'Thanks 🙂 shipping it after lunch.\nAny objections, shout.'];
    await waitLog(erin.page, want);
    await erin.page.screenshot({ path: path.join(OUT, shots[0].file) });

    for (const shot of shots.slice(1)) {
      const ctx = await browser.newContext({ viewport: shot.viewport, colorScheme: shot.colorScheme });
      // Same person (same storage) on another device size: copy erin's state.
      const state = await erin.context.storageState();
      await ctx.addInitScript((origins) => {
        for (const o of origins) if (o.origin === location.origin) for (const { name, value } of o.localStorage) localStorage.setItem(name, value);
      }, state.origins);
      const page = await ctx.newPage();
      await page.goto(srv.url);
      await waitStatus(page, 'connected');
      await page.getByRole('button', { name: /^design/ }).click();
      await waitLog(page, want);
      await page.screenshot({ path: path.join(OUT, shot.file) });
      // Nothing overflows sideways at this width.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `no horizontal overflow (${overflow}px)`);
      await ctx.close();
    }
    const overflow = await erin.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `no horizontal overflow on the phone (${overflow}px)`);
    noErrors(erin, frank);
  });

  it('shows recent history to a newcomer and loads older messages on scroll-up', async () => {
    const old = await bot(srv.url, { uid: 'old-timer', name: 'old timer', room: 'archive' });
    const all = Array.from({ length: 120 }, (_, i) => `m${i + 1}`);
    await old.say(...all);
    const hank = await person({ viewport: { width: 1280, height: 800 } });
    const h = hank.page;
    await enterRoom(h, 'hank', 'archive');
    await waitLog(h, all.slice(-50));
    const log = h.getByRole('log');
    await eventually(async () => {
      await log.evaluate((el) => { el.scrollTop = 0; });
      assert.deepEqual(await logTexts(h), all);
    }, { timeout: 15000, interval: 300 });
    // All loaded: nothing older to offer.
    await eventually(async () => assert.equal(await h.getByRole('button', { name: /Load older/ }).count(), 0));
    old.close();
    noErrors(hank);
  });

  it('explains a bad room or name instead of sending it', async () => {
    const gina = await person();
    const g = gina.page;
    await enterRoom(g, 'gina', 'no spaces please');
    await waitText(g.locator('#join-hint'), /Room names/);
    await g.getByRole('textbox', { name: 'Name' }).fill('');
    await g.getByRole('textbox', { name: 'Room' }).fill('ok');
    await g.getByRole('button', { name: 'Enter' }).click();
    await waitText(g.locator('#join-hint'), /name/);
    assert.deepEqual(await logTexts(g), []);
    noErrors(gina);
  });
});
