// Shared set-up for the browser tests: Debian's Chromium driven by playwright-core, one
// browser context per viewport, console errors collected, screenshots written to artifacts/.

import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const ARTIFACTS = path.resolve(here, '..', 'artifacts');
export const BASE_URL = (process.env.REELM_E2E_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');

export const VIEWPORTS = {
  phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 },
  desktop: { viewport: { width: 1440, height: 900 }, isMobile: false, hasTouch: false, deviceScaleFactor: 1 },
};

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/**
 * Opens a context and page for one viewport. Returns helpers bound to it:
 * `shot(step)` saves a screenshot, `errors` lists console errors and uncaught exceptions,
 * `apiGet(path)` reads the API with the page's cookies.
 */
export async function openPage(browser, name) {
  const context = await browser.newContext({ ...VIEWPORTS[name], baseURL: BASE_URL, locale: 'en-US' });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console.error: ${msg.text()} (${msg.location().url || 'no url'})`);
  });
  page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));
  mkdirSync(ARTIFACTS, { recursive: true });
  let n = 0;
  return {
    context,
    page,
    errors,
    async shot(step) {
      n += 1;
      const file = path.join(ARTIFACTS, `${name}-${String(n).padStart(2, '0')}-${step}.png`);
      await page.screenshot({ path: file });
      return file;
    },
    async apiGet(p) {
      const res = await context.request.get(p);
      const body = await res.json().catch(() => null);
      assert.ok(res.ok(), `GET ${p} answered ${res.status()}: ${JSON.stringify(body)}`);
      return body;
    },
    assertNoConsoleErrors() {
      assert.deepEqual(errors, [], `console errors on ${name}:\n${errors.join('\n')}`);
    },
  };
}

/** A handle unique to this run, valid for the API (letters, digits, underscore). */
export function uniqueHandle(prefix) {
  return `${prefix}_${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`.slice(0, 24);
}

/** One of the demo clips, for the upload test. */
export function demoClip() {
  const dir = path.join(ROOT, 'assets', 'demo');
  const clips = readdirSync(dir).filter((f) => f.endsWith('.mp4')).sort();
  assert.ok(clips.length > 0, `no demo clips in ${dir}`);
  return path.join(dir, clips[0]);
}

/** Polls `fn` until it returns a truthy value (or throws the last assertion after `ms`). */
export async function eventually(fn, { ms = 10_000, every = 250 } = {}) {
  const until = Date.now() + ms;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      lastErr = new Error('condition still false');
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > until) throw lastErr;
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Every visible button and link has an accessible name (aria-label, aria-labelledby or text). */
export async function assertControlsNamed(page) {
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('button, a[href], [role="menuitem"]')]
    .filter((el) => el.getClientRects().length > 0)
    .filter((el) => {
      const by = el.getAttribute('aria-labelledby');
      const name = el.getAttribute('aria-label') || (by && document.getElementById(by)?.textContent) || el.textContent;
      return !name || !name.trim();
    })
    .map((el) => el.outerHTML.slice(0, 120)));
  assert.deepEqual(unnamed, [], `controls without an accessible name:\n${unnamed.join('\n')}`);
}
