// The www client's pictures and files (binary messages) against the real
// broker and gateway: a picture attached in one browser shows in another
// as an image named after its file, with the sender's name; other files
// (SVG included) are download links with their size; catch-up after a
// reload and history for a newcomer show them too; a file over
// max_binary_bytes is refused in the page and nothing is sent.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Servers, enterRoom, eventually, launchBrowser, newUser, openPage, sendMessage, waitLog, waitStatus, waitText,
} from './helpers.mjs';

// A 2x2 red PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==', 'base64');
const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>window.__pwned = 1</script><rect width="9" height="9"/></svg>');

describe('www client: pictures and files', { timeout: 180000 }, () => {
  let srv;
  let browser;
  const users = [];

  before(async () => {
    srv = await Servers.start({ name: 'files', gateway: ['max_binary_bytes=65536'] });
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

  /** The picture in the visible log named `name`, once it has loaded. */
  async function picture(page, name) {
    const img = page.getByRole('log').getByRole('img', { name });
    await eventually(async () => {
      assert.equal(await img.count(), 1, `one picture named ${name}`);
      const w = await img.evaluate((i) => (i.complete ? i.naturalWidth : 0));
      assert.equal(w, 2, 'the picture decoded (2 px wide)');
    });
    return img;
  }

  it('a picture sent from one page is shown in another, with the sender; files are links', async () => {
    const alice = await person();
    const bob = await person();
    const a = alice.page;
    const b = bob.page;
    await waitStatus(a, 'connected');
    await enterRoom(a, 'alice', 'gallery');
    await enterRoom(b, 'bob', 'gallery');
    await waitText(a.getByRole('log'), /bob entered/);

    // Through the file chooser the Attach button opens.
    const chooser = a.waitForEvent('filechooser');
    await a.getByRole('button', { name: 'Attach' }).click();
    await (await chooser).setFiles({ name: 'red dot.png', mimeType: 'image/png', buffer: PNG });
    const img = await picture(b, 'red dot.png');
    const author = await img.evaluate((i) => i.closest('li').querySelector('.author').textContent);
    assert.equal(author, 'alice', 'the picture shows its sender');
    await picture(a, 'red dot.png');

    // Any other file, SVG included: a download link named after the file.
    await a.getByLabel('Attach').setInputFiles([
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello, file') },
      { name: 'drawing.svg', mimeType: 'image/svg+xml', buffer: SVG },
    ]);
    for (const name of ['notes.txt', 'drawing.svg']) {
      const link = b.getByRole('log').getByRole('link', { name });
      await eventually(async () => assert.equal(await link.count(), 1, `a link named ${name}`));
      assert.equal(await link.getAttribute('download'), name);
      assert.match(await link.getAttribute('href'), /^blob:/);
    }
    assert.equal(await b.getByRole('log').getByRole('img').count(), 1, 'the SVG is not shown as a picture');
    await waitText(b.getByRole('log').locator('li', { hasText: 'notes.txt' }), /11 B/);
    const dl = b.waitForEvent('download');
    await b.getByRole('link', { name: 'notes.txt' }).click();
    const download = await dl;
    assert.equal(download.suggestedFilename(), 'notes.txt');
    const stream = await download.createReadStream();
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(Buffer.concat(chunks).toString(), 'hello, file', 'the link downloads the file byte for byte');
    assert.equal(await b.evaluate(() => window.__pwned), undefined, 'the SVG never ran');

    // Text still flows in between.
    await sendMessage(b, 'nice');
    await waitText(a.getByRole('log'), /nice/);

    // Catch-up after a reload, and history for a newcomer.
    await b.close();
    await waitText(a.getByRole('log'), /bob went offline/);
    await a.getByLabel('Attach').setInputFiles({ name: 'later.png', mimeType: 'image/png', buffer: PNG });
    await picture(a, 'later.png');
    const b2 = await openPage(bob);
    await picture(b2, 'later.png');
    await picture(b2, 'red dot.png');
    const carol = await person();
    await enterRoom(carol.page, 'carol', 'gallery');
    await picture(carol.page, 'red dot.png');
    await picture(carol.page, 'later.png');
    await eventually(async () => assert.equal(await carol.page.getByRole('log').getByRole('link', { name: 'notes.txt' }).count(), 1));

    for (const u of [alice, bob, carol]) {
      assert.deepEqual(u.errors, [], 'no page or console errors');
    }
  });

  it('a file over max_binary_bytes is refused in the page, nothing sent', async () => {
    const dan = await person();
    const eve = await person();
    await enterRoom(dan.page, 'dan', 'big');
    await enterRoom(eve.page, 'eve', 'big');
    await waitText(dan.page.getByRole('log'), /eve entered/);
    await dan.page.getByLabel('Attach').setInputFiles({ name: 'huge.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(70000, 1) });
    await waitText(dan.page.locator('body'), /huge\.bin is too large/);
    await sendMessage(dan.page, 'after the big one');
    await waitLog(eve.page, ['after the big one']);
    await waitLog(dan.page, ['after the big one']);
    assert.equal(await eve.page.getByRole('link', { name: 'huge.bin' }).count(), 0, 'nothing was sent');
    assert.equal(await dan.page.getByRole('log').locator('li.pending').count(), 0, 'nothing waits to be sent');

    // Dropping a file on the conversation, and pasting one into the
    // message box, send it too.
    await dan.page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['dropped bytes'], 'dropped.txt', { type: 'text/plain' }));
      document.getElementById('log').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      const pt = new DataTransfer();
      pt.items.add(new File(['pasted'], 'pasted.txt', { type: 'text/plain' }));
      document.getElementById('message').dispatchEvent(new ClipboardEvent('paste', { clipboardData: pt, bubbles: true, cancelable: true }));
    });
    for (const name of ['dropped.txt', 'pasted.txt']) {
      await eventually(async () => assert.equal(await eve.page.getByRole('log').getByRole('link', { name }).count(), 1, `${name} arrived`));
    }
  });
});
