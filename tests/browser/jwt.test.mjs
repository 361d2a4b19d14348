// The www client with a gateway in jwt mode: the Token box appears, a token
// from the page URL or typed in signs the person in, the token's name wins,
// and a room outside the token's `rooms` claim is refused politely.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  Servers, eventually, launchBrowser, logMessages, newUser, sendMessage, waitLog, waitStatus, waitText,
} from './helpers.mjs';

const SECRET = 'browser-test-secret-0123456789abcdef';

function jwt(claims, secret = SECRET) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims })}`;
  return `${head}.${crypto.createHmac('sha256', secret).update(head).digest('base64url')}`;
}

describe('www client: jwt mode', { timeout: 120000 }, () => {
  let srv;
  let browser;
  const users = [];

  before(async () => {
    srv = await Servers.start({ name: 'jwt', common: ['auth=jwt', `jwt_secret=${SECRET}`] });
    browser = await launchBrowser();
  });
  after(async () => {
    for (const u of users) await u.context.close().catch(() => {});
    await browser?.close().catch(() => {});
    await srv?.stop();
  });

  async function person(query) {
    const u = await newUser(browser, srv.url, { query });
    users.push(u);
    return u;
  }

  it('signs in with a token from the URL or the Token box', async () => {
    const alice = await person(`?token=${jwt({ sub: 'alice-1', name: 'Alice' })}`);
    const a = alice.page;
    await waitStatus(a, 'connected');
    const tokenBox = a.getByRole('textbox', { name: 'Token' });
    await tokenBox.waitFor();
    // The token's name fills the Name box.
    await eventually(async () => assert.equal(await a.getByRole('textbox', { name: 'Name' }).inputValue(), 'Alice'));
    await a.getByRole('textbox', { name: 'Room' }).fill('team-red');
    await a.getByRole('button', { name: 'Enter' }).click();
    await waitText(a.getByRole('log'), /Alice entered/);

    const bob = await person('');
    const b = bob.page;
    await waitStatus(b, 'connected');
    await waitText(b.locator('#join-hint'), /token/i);
    await b.getByRole('textbox', { name: 'Token' }).fill(jwt({ sub: 'bob-1' }));
    await b.getByRole('textbox', { name: 'Name' }).fill('bob');
    await b.getByRole('textbox', { name: 'Room' }).fill('team-red');
    await b.getByRole('button', { name: 'Enter' }).click();
    await waitText(a.getByRole('log'), /bob entered/);
    await waitText(a.getByText(/\d+ online/), /2 online/);

    await sendMessage(b, 'signed in');
    await sendMessage(a, 'welcome');
    await waitLog(a, ['signed in', 'welcome']);
    await waitLog(b, ['signed in', 'welcome']);
    assert.deepEqual((await logMessages(b)).map((m) => m.name), ['bob', 'Alice']);

    // A reload keeps the person signed in (token from the URL or this tab).
    await b.reload();
    await waitStatus(b, 'connected');
    await waitLog(b, ['signed in', 'welcome']);
    await sendMessage(b, 'still me');
    await waitLog(a, ['signed in', 'welcome', 'still me']);
    assert.deepEqual(alice.errors, []);
    assert.deepEqual(bob.errors, []);
  });

  it('says so when a token is refused or a room is not allowed', async () => {
    const eve = await person(`?token=${jwt({ sub: 'eve-1', name: 'Eve' }, 'wrong-secret-wrong-secret-wrong!!')}`);
    const e = eve.page;
    await waitText(e.locator('#join-hint'), /not accepted/);
    await e.getByRole('textbox', { name: 'Token' }).fill(jwt({ sub: 'eve-1', name: 'Eve', rooms: ['team-*'] }));
    await e.getByRole('textbox', { name: 'Room' }).fill('secret');
    await e.getByRole('button', { name: 'Enter' }).click();
    await waitText(e.locator('#toasts'), /cannot enter secret/);
    assert.equal(await e.getByRole('button', { name: /^secret/ }).count(), 0, 'the refused room is not kept');
    await e.getByRole('textbox', { name: 'Room' }).fill('team-blue');
    await e.getByRole('button', { name: 'Enter' }).click();
    await waitText(e.getByRole('log'), /Eve entered/);
  });
});
