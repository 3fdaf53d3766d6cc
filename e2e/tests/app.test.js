// End-to-end: a newcomer at phone and desktop size signs up, watches, likes, comments,
// follows, uploads and opens the privacy center, against a real `reelm demo` server.
// Each step checks the result through the API as well as the page, fails on any console
// error, and saves a screenshot to e2e/artifacts/.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, uniqueHandle, demoClip, eventually, assertControlsNamed, BASE_URL } from './helpers.js';

const PASSWORD = 'correct-horse-battery-9';

for (const size of ['phone', 'desktop']) {
  describe(`web app at ${size} size`, () => {
    let browser;
    let t;
    let page;
    const handle = uniqueHandle(size === 'phone' ? 'ph' : 'dk');
    let placement;
    const viewEvents = []; // POST /api/videos/<id>/views as the server answered them

    before(async () => {
      browser = await launch();
      t = await openPage(browser, size);
      page = t.page;
      page.on('response', async (res) => {
        const m = /\/api\/videos\/([^/]+)\/views$/.exec(new URL(res.url()).pathname);
        if (m && res.request().method() === 'POST') {
          viewEvents.push({ id: m[1], status: res.status(), body: res.request().postDataJSON(), url: page.url() });
        }
      });
    });

    after(async () => {
      if (process.env.E2E_DEBUG) console.log(JSON.stringify(viewEvents));
      if (browser) await browser.close();
    });

    /** A test step that also fails on console errors raised during it. */
    const step = (name, fn) => test(name, async () => {
      t.errors.length = 0;
      await fn();
      t.assertNoConsoleErrors();
    });
    /** Chromium logs every 4xx answer as a console error; a step that provokes one on purpose drops it. */
    const expectHttpError = (status) => {
      const i = t.errors.findIndex((e) => e.includes(`status of ${status}`));
      assert.ok(i >= 0, `expected the browser to log the ${status} answer; got ${JSON.stringify(t.errors)}`);
      t.errors.splice(i, 1);
    };

    const activeSlide = () => page.locator('.slide.is-active');
    const activeId = () => activeSlide().getAttribute('data-video-id');
    async function waitPlaying(minSeconds) {
      await page.waitForFunction((s) => {
        const v = document.querySelector('.slide.is-active video');
        return v && !v.paused && v.currentTime >= s;
      }, minSeconds, { timeout: 20_000 });
    }
    async function waitActiveChange(fromId) {
      await page.waitForFunction((prev) => {
        const s = document.querySelector('.slide.is-active');
        return s && s.dataset.videoId !== prev;
      }, fromId, { timeout: 10_000 });
    }
    /** Moves to the next clip the way a person would at this size. */
    async function nextClip(how) {
      if (how === 'swipe') {
        // A real finger swipe (touch events, not our key handler): exercises CSS scroll-snap.
        const cdp = await page.context().newCDPSession(page);
        const x = 195;
        // More than half the screen, so the snap lands on the next clip whatever the fling speed.
        await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x, y: 720 }] });
        for (let i = 1; i <= 15; i += 1) {
          await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x, y: 720 - i * 40 }] });
          await new Promise((r) => setTimeout(r, 16));
        }
        await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
        await cdp.detach();
      } else if (how === 'button') {
        await page.getByRole('button', { name: 'Next video' }).click();
      } else if (how === 'wheel') {
        await page.mouse.move(720, 450);
        await page.mouse.wheel(0, 120);
      } else {
        await page.keyboard.press('ArrowDown');
      }
    }

    step('an anonymous visitor can watch; liking asks to sign in; no view events are sent', async () => {
      await page.goto('/');
      await activeSlide().waitFor();
      await waitPlaying(0.5);
      const first = await activeId();
      await activeSlide().getByRole('button', { name: /^Like/ }).click();
      const dialog = page.getByRole('dialog', { name: 'Sign in to reelm' });
      await dialog.waitFor();
      await t.shot('anonymous-like-prompt');
      await dialog.getByRole('button', { name: 'Close' }).click();
      await dialog.waitFor({ state: 'detached' });
      await page.keyboard.press('ArrowDown');
      await waitActiveChange(first);
      await page.waitForTimeout(500);
      assert.equal(viewEvents.length, 0, 'anonymous viewers must not send view events');
    });

    step('sign up: the placement is shown before the account is created', async () => {
      placement = await t.apiGet('/api/regions/placement?country=DE');
      await page.goto('/signup');
      await page.getByLabel('Username', { exact: true }).fill(handle);
      await page.getByLabel('Email', { exact: true }).fill(`${handle}@example.org`);
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByLabel('Birth date', { exact: true }).fill('2000-04-02');
      await page.getByLabel('Country', { exact: true }).selectOption('DE');
      const note = page.locator('#su-placement');
      await page.waitForFunction((dc) => {
        const el = document.querySelector('#su-placement');
        return el && el.classList.contains('is-ready') && el.textContent.includes(dc);
      }, placement.data_center);
      const text = await note.textContent();
      assert.match(text, /Your account and personal data will be stored in/);
      assert.ok(text.includes(placement.data_center), text);
      const cookies = await page.context().cookies();
      assert.ok(!cookies.some((c) => c.name === 'reelm_session'), 'no account may exist before submitting');
      await t.shot('signup-placement');
      await assertControlsNamed(page);

      await page.getByRole('button', { name: 'Create account' }).click();
      await page.waitForURL(`${BASE_URL}/`);
      const me = await t.apiGet('/api/me');
      assert.equal(me.handle, handle);
      assert.equal(me.country, 'DE');
      assert.equal(me.region, placement.region);
      await page.getByRole('button', { name: `Account menu (@${handle})` }).waitFor();
      await t.shot('signed-up-feed');
    });

    const watched = [];
    step('watch three clips: the server receives three view events with plausible watch times', async () => {
      if (!page.url().endsWith('/')) await page.goto('/');
      viewEvents.length = 0;
      const before = {};
      const moves = size === 'phone' ? ['swipe', 'swipe', 'key'] : ['wheel', 'button', 'key'];
      for (let i = 0; i < 3; i += 1) {
        await activeSlide().waitFor();
        const id = await activeId();
        assert.ok(!watched.includes(id), `clip ${id} shown twice in a row`);
        watched.push(id);
        before[id] = (await t.apiGet(`/api/videos/${id}`)).view_count;
        // The next two clips are preloaded, the rest are not.
        const preload = await page.evaluate(() => {
          const slides = [...document.querySelectorAll('.slide[data-video-id]')];
          const i = slides.findIndex((s) => s.classList.contains('is-active'));
          return slides.slice(i, i + 4).map((s) => s.querySelector('video').getAttribute('preload'));
        });
        assert.deepEqual(preload.slice(0, 3), ['auto', 'auto', 'auto'].slice(0, preload.length));
        if (preload.length === 4) assert.equal(preload[3], 'none');
        await waitPlaying(2);
        await t.shot(`watch-clip-${i + 1}`);
        await assertControlsNamed(page);
        await nextClip(moves[i]);
        await waitActiveChange(id);
      }
      await eventually(() => viewEvents.length >= 3);
      assert.deepEqual(viewEvents.slice(0, 3).map((e) => e.id), watched);
      for (const e of viewEvents.slice(0, 3)) {
        assert.equal(e.status, 202, `view event for ${e.id} answered ${e.status}`);
        assert.ok(e.body.watch_ms >= 1500 && e.body.watch_ms <= 15_000, `implausible watch_ms ${e.body.watch_ms} for ${e.id}`);
        assert.equal(typeof e.body.completed, 'boolean');
      }
      for (const id of watched) {
        await eventually(async () => (await t.apiGet(`/api/videos/${id}`)).view_count > before[id], { ms: 15_000 });
      }
    });

    let current; // the clip used for like, comment and follow
    step('like by double tap and with the button; counts update and persist', async () => {
      await activeSlide().waitFor();
      await waitPlaying(0.3);
      const id = await activeId();
      current = await t.apiGet(`/api/videos/${id}`);
      assert.equal(current.liked_by_me, false);
      const stage = await activeSlide().locator('.stage').boundingBox();
      const x = stage.x + stage.width / 2;
      const y = stage.y + stage.height / 2;
      if (size === 'phone') {
        await page.touchscreen.tap(x, y);
        await page.touchscreen.tap(x, y);
      } else {
        await page.mouse.dblclick(x, y);
      }
      await page.locator('.heart-burst').first().waitFor({ state: 'attached', timeout: 2000 });
      const likeBtn = activeSlide().locator('.like-btn');
      await page.waitForFunction(() => document.querySelector('.slide.is-active .like-btn').getAttribute('aria-pressed') === 'true');
      await t.shot('liked-double-tap');
      await eventually(async () => {
        const v = await t.apiGet(`/api/videos/${id}`);
        return v.liked_by_me && v.like_count === current.like_count + 1;
      });
      assert.equal(await likeBtn.locator('.rail-count').textContent(), String(current.like_count + 1));

      await likeBtn.click(); // unlike
      await eventually(async () => !(await t.apiGet(`/api/videos/${id}`)).liked_by_me);
      assert.equal(await likeBtn.getAttribute('aria-pressed'), 'false');
      await likeBtn.click(); // and like again
      await eventually(async () => (await t.apiGet(`/api/videos/${id}`)).liked_by_me);
      // A single tap paused the video? It must not: a double tap is a like only.
      assert.equal(await page.evaluate(() => document.querySelector('.slide.is-active video').paused), false);
    });

    step('comment: the drawer lists comments and posts a new one', async () => {
      const id = current.id;
      const text = `Lovely clip! Greetings from ${handle}`;
      await activeSlide().getByRole('button', { name: /^Comments/ }).click();
      const drawer = page.locator('dialog.drawer[open]');
      await drawer.waitFor();
      await drawer.getByRole('textbox', { name: 'Comment text' }).fill(text);
      await drawer.getByRole('button', { name: 'Post comment' }).click();
      await drawer.locator('.comment-text', { hasText: text }).waitFor();
      await t.shot('comment-posted');
      await assertControlsNamed(page);
      const page1 = await t.apiGet(`/api/videos/${id}/comments`);
      assert.equal(page1.items[0].text, text);
      assert.equal(page1.items[0].author.handle, handle);
      const v = await t.apiGet(`/api/videos/${id}`);
      assert.equal(v.comment_count, current.comment_count + 1);
      await drawer.getByRole('button', { name: 'Close comments' }).click();
      await drawer.waitFor({ state: 'detached' });
      assert.equal(await activeSlide().locator('.comment-btn').getAttribute('aria-label'), `Comments (${current.comment_count + 1})`);
    });

    step('follow the creator from the rail; their videos appear under Following', async () => {
      const creator = current.creator.handle;
      await activeSlide().getByRole('button', { name: `Follow @${creator}` }).click();
      await activeSlide().getByRole('button', { name: `Unfollow @${creator}` }).waitFor();
      await eventually(async () => (await t.apiGet(`/api/users/${creator}`)).followed_by_me);
      await t.shot('followed');
      await page.getByRole('link', { name: 'Following', exact: true }).click();
      await page.waitForURL(/tab=following/);
      await page.locator('.slide .meta-handle', { hasText: `@${creator}` }).first().waitFor();
      await t.shot('following-tab');
    });

    step('share copies the link and "not interested" skips to the next clip', async () => {
      await page.getByRole('link', { name: 'For You', exact: true }).click();
      await activeSlide().waitFor();
      await waitPlaying(0.3);
      const id = await activeId();
      if (size === 'desktop') await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE_URL });
      await activeSlide().getByRole('button', { name: 'Share (copy link)' }).click();
      await page.locator('.toast', { hasText: /Link copied|Copy this link/ }).waitFor();
      if (size === 'desktop') {
        assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `${BASE_URL}/v/${id}`);
      }
      await activeSlide().getByRole('button', { name: 'Not interested' }).click();
      await waitActiveChange(id);
      await page.waitForTimeout(700); // let the smooth scroll settle for the screenshot
      await t.shot('not-interested');
    });

    step('sound: tap to unmute, and the choice is remembered after a reload', async () => {
      const mute = () => activeSlide().locator('.mute-btn');
      assert.equal(await mute().getAttribute('aria-label'), 'Unmute');
      await mute().click();
      assert.equal(await mute().getAttribute('aria-label'), 'Mute');
      assert.equal(await page.evaluate(() => document.querySelector('.slide.is-active video').muted), false);
      await page.reload();
      await activeSlide().waitFor();
      await waitPlaying(0.3);
      assert.equal(await page.evaluate(() => localStorage.getItem('reelm.sound')), 'on');
      // The browser may refuse sound before an interaction; then one tap brings it back.
      if ((await mute().getAttribute('aria-label')) === 'Unmute') await mute().click();
      assert.equal(await page.evaluate(() => document.querySelector('.slide.is-active video').muted), false);
      await mute().click(); // back to silence for the rest of the run
      assert.equal(await page.evaluate(() => localStorage.getItem('reelm.sound')), 'off');
      await t.shot('sound-remembered');
    });

    let uploaded;
    step('upload: wrong files are refused clearly; a clip uploads with progress and shows on the profile', async () => {
      await page.getByRole('link', { name: 'Upload a video' }).click();
      await page.waitForURL(`${BASE_URL}/upload`);
      const file = page.getByLabel('Video', { exact: true });
      await file.setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a video') });
      await page.getByRole('alert').filter({ hasText: 'not an MP4 video' }).waitFor();
      await t.shot('upload-wrong-type');
      const tooBig = await page.evaluate(async () => {
        const { checkFile } = await import('/static/views/upload.js');
        return checkFile({ name: 'huge.mp4', type: 'video/mp4', size: 60 * 1024 * 1024 });
      });
      assert.match(tooBig, /50 MiB at most/);

      // A file that passes the client-side checks but is no real MP4: the server's message is shown.
      await file.setInputFiles({ name: 'broken.mp4', mimeType: 'video/mp4', buffer: Buffer.alloc(4096, 7) });
      const refused = page.waitForResponse((r) => r.url().endsWith('/api/videos') && r.request().method() === 'POST');
      await page.getByRole('button', { name: 'Post' }).click();
      const answer = await refused;
      assert.ok(answer.status() >= 400 && answer.status() < 500, `a broken MP4 was answered ${answer.status()}`);
      const serverMessage = (await answer.json()).error.message;
      await page.getByRole('alert').filter({ hasText: serverMessage }).waitFor();
      await t.shot('upload-server-refusal');
      expectHttpError(answer.status());

      await file.setInputFiles(demoClip());
      assert.equal(await page.getByRole('alert').isHidden(), true);
      const caption = `My first reelm from ${handle} #e2e`;
      await page.getByLabel('Caption', { exact: true }).fill(caption);
      await page.getByLabel('Hashtags', { exact: true }).fill('#e2e, test');
      await page.getByLabel('Language', { exact: true }).selectOption('en');
      // Record every value the progress bar shows.
      await page.evaluate(() => {
        window.__progress = [];
        const bar = document.querySelector('progress.upload-progress');
        new MutationObserver(() => window.__progress.push(Number(bar.value))).observe(bar, { attributes: true });
      });
      await t.shot('upload-form');
      await assertControlsNamed(page);
      await page.getByRole('button', { name: 'Post' }).click();
      await page.waitForURL(/\/v\/[^/]+$/, { timeout: 60_000 });
      const progress = await page.evaluate(() => window.__progress);
      assert.equal(Math.max(...progress), 100, `progress values: ${progress}`);
      const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
      uploaded = await t.apiGet(`/api/videos/${id}`);
      assert.equal(uploaded.creator.handle, handle);
      assert.equal(uploaded.caption, caption);
      await page.locator(`.slide.is-active[data-video-id="${id}"]`).waitFor();
      await waitPlaying(0.3);
      await t.shot('uploaded-video-page');

      await page.goto(`/@${handle}`);
      await page.locator(`.tile a[data-video-id="${id}"]`).waitFor();
      const counts = await page.locator('.stats').textContent();
      assert.match(counts, /1\s*Videos/);
      assert.match(counts, /1\s*Following/);
      await t.shot('profile-with-upload');
    });

    step('profile of another creator shows counts and a follow button', async () => {
      const creator = current.creator.handle;
      await page.goto(`/@${creator}`);
      await page.getByRole('button', { name: `Unfollow @${creator}` }).waitFor();
      await page.locator('.tile').first().waitFor();
      const profile = await t.apiGet(`/api/users/${creator}`);
      assert.equal(await page.locator('.tile').count() > 0, true);
      assert.ok(profile.follower_count >= 1);
      await t.shot('creator-profile');
      await assertControlsNamed(page);
    });

    step('privacy center: where my data lives, from the API', async () => {
      await page.getByRole('button', { name: `Account menu (@${handle})` }).click();
      await page.getByRole('menuitem', { name: 'Privacy center' }).click();
      await page.waitForURL(`${BASE_URL}/privacy`);
      const loc = await t.apiGet('/api/me/data-location');
      await page.locator('.fact-dc').waitFor();
      assert.equal(await page.locator('.fact-dc').textContent(), loc.data_center);
      assert.equal(await page.locator('.fact-jurisdiction').textContent(), loc.jurisdiction);
      assert.equal(loc.region, placement.region);
      assert.equal(await page.locator('table.classes tbody tr').count(), loc.classes.length);
      for (const c of loc.classes) {
        const rows = await page.locator(`tr[data-class="${c.class}"] td.num`).textContent();
        assert.equal(rows, String(c.rows));
      }
      await t.shot('privacy-center');
      await assertControlsNamed(page);
    });

    step('log out and log in again from the menu', async () => {
      await page.getByRole('button', { name: `Account menu (@${handle})` }).click();
      await page.getByRole('menuitem', { name: 'Log out' }).click();
      await page.getByRole('button', { name: 'Account menu', exact: true }).waitFor();
      await page.getByRole('button', { name: 'Account menu', exact: true }).click();
      await page.getByRole('menuitem', { name: 'Log in' }).click();
      await page.getByLabel('Username', { exact: true }).fill(handle);
      await page.getByLabel('Password', { exact: true }).fill('not-the-password');
      const refused = page.waitForResponse((r) => r.url().endsWith('/api/auth/login'));
      await page.getByRole('button', { name: 'Log in' }).click();
      const answer = await refused;
      assert.equal(answer.status(), 401);
      await page.getByRole('alert').filter({ hasText: (await answer.json()).error.message }).waitFor();
      await t.shot('login-refused');
      expectHttpError(401);
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await t.shot('login');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('button', { name: `Account menu (@${handle})` }).waitFor();
      assert.equal((await t.apiGet('/api/me')).handle, handle);
    });
  });
}
