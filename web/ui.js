// Small DOM helpers shared by every view: element builder, icons, toasts, count formatting.
//
// Views build their DOM with `h()` rather than innerHTML so that user-provided text
// (captions, comments, handles) can never be interpreted as markup.

import { setMe } from './session.js';

/**
 * Creates an element. `attrs` keys: `class`, `style` (string), `dataset` (object),
 * `on<Event>` (listener), boolean `true` for boolean attributes, anything else as attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === 'html') el.innerHTML = value; // only ever used with our own constant SVG strings
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces all children of `el`. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// Inline SVG icons (no icon font: the app must work offline). `currentColor` follows the CSS.
const svg = (body, extra = '') =>
  `<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false" ${extra}>${body}</svg>`;
export const icons = {
  heart: svg('<path fill="currentColor" d="M12 21.35 10.55 20C5.4 15.36 2 12.28 2 8.5 2 5.42 4.42 3 7.5 3c1.74 0 3.41.81 4.5 2.09C13.09 3.81 14.76 3 16.5 3 19.58 3 22 5.42 22 8.5c0 3.78-3.4 6.86-8.55 11.54z"/>'),
  comment: svg('<path fill="currentColor" d="M12 3C6.5 3 2 6.58 2 11c0 2.13 1.05 4.06 2.75 5.5-.12 1.35-.63 2.93-1.75 4.5 2.3-.2 4.2-1.02 5.55-2.05 1.1.35 2.26.55 3.45.55 5.5 0 10-3.58 10-8s-4.5-8-10-8z"/>'),
  share: svg('<path fill="currentColor" d="M14 4v4C7 9 4 14 3 20c2.5-3.5 6-5.1 11-5.1V19l7-7.5z"/>'),
  notInterested: svg('<path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" d="M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM5.6 5.6l12.8 12.8"/>'),
  plus: svg('<path fill="none" stroke="currentColor" stroke-width="3" stroke-linecap="round" d="M12 6v12M6 12h12"/>'),
  check: svg('<path fill="none" stroke="currentColor" stroke-width="3" stroke-linecap="round" stroke-linejoin="round" d="m6 12.5 4 4 8-9"/>'),
  mutedOn: svg('<path fill="currentColor" d="M3 9v6h4l5 5V4L7 9zm13.6 3 2.7-2.7-1.4-1.4-2.7 2.7-2.7-2.7-1.4 1.4 2.7 2.7-2.7 2.7 1.4 1.4 2.7-2.7 2.7 2.7 1.4-1.4z"/>'),
  mutedOff: svg('<path fill="currentColor" d="M3 9v6h4l5 5V4L7 9zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.47 4.47 0 0 0 2.5-4zM14 3.23v2.06a7 7 0 0 1 0 13.42v2.06A9 9 0 0 0 14 3.23z"/>'),
  play: svg('<path fill="currentColor" d="M8 5v14l11-7z"/>'),
  info: svg('<path fill="currentColor" d="M11 7h2v2h-2zm0 4h2v6h-2zm1-9a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16z"/>'),
  close: svg('<path fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" d="M6 6l12 12M18 6 6 18"/>'),
  upload: svg('<path fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" d="M12 16V4m0 0-5 5m5-5 5 5M4 16v3a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-3"/>'),
  menu: svg('<path fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" d="M4 7h16M4 12h16M4 17h16"/>'),
  shield: svg('<path fill="currentColor" d="M12 2 4 5v6c0 5 3.4 9.7 8 11 4.6-1.3 8-6 8-11V5zm0 2.2 6 2.25V11c0 3.9-2.55 7.6-6 8.9-3.45-1.3-6-5-6-8.9V6.45z"/>'),
  up: svg('<path fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round" d="m6 15 6-6 6 6"/>'),
  down: svg('<path fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round" d="m6 9 6 6 6-6"/>'),
  eye: svg('<path fill="currentColor" d="M12 5C6.5 5 2.7 9.1 1.5 12c1.2 2.9 5 7 10.5 7s9.3-4.1 10.5-7C21.3 9.1 17.5 5 12 5zm0 11.5a4.5 4.5 0 1 1 0-9 4.5 4.5 0 0 1 0 9zm0-2.3a2.2 2.2 0 1 0 0-4.4 2.2 2.2 0 0 0 0 4.4z"/>'),
};

/** An inline icon element. */
export function icon(name, cls = 'icon') {
  return h('span', { class: cls, html: icons[name] });
}

/** 1234 -> "1.2K", as people expect to read counts on a feed. */
export function formatCount(n) {
  n = Number(n) || 0;
  if (n < 1000) return String(n);
  if (n < 1e6) return (n / 1e3).toFixed(n < 1e4 ? 1 : 0).replace(/\.0$/, '') + 'K';
  return (n / 1e6).toFixed(n < 1e7 ? 1 : 0).replace(/\.0$/, '') + 'M';
}

/** "3 minutes ago"-style relative time, falling back to a date. */
export function timeAgo(iso) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  const s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  if (s < 7 * 86400) return `${Math.floor(s / 86400)}d ago`;
  return new Date(t).toLocaleDateString();
}

/** The first letter of a name, used as an avatar (there are no avatar images yet). */
export function avatar(user, cls = 'avatar') {
  const name = (user && (user.display_name || user.handle)) || '?';
  const letter = Array.from(name.trim())[0] || '?';
  // A stable hue per handle so that people are recognisable at a glance.
  let hash = 0;
  for (const ch of (user && user.handle) || name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return h('span', { class: cls, style: `--hue:${hash % 360}`, 'aria-hidden': 'true' }, letter.toUpperCase());
}

let toastRegion;
/** Shows a short message; errors stay a little longer. Announced to screen readers. */
export function toast(message, { kind = 'info', ms } = {}) {
  if (!toastRegion) {
    toastRegion = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastRegion);
  }
  const el = h('div', { class: `toast toast-${kind}` }, message);
  toastRegion.append(el);
  setTimeout(() => {
    el.classList.add('toast-out');
    setTimeout(() => el.remove(), 300);
  }, ms ?? (kind === 'error' ? 4500 : 2500));
}

/** Server messages are short phrases ("wrong handle or password"): show them as sentences. */
export function sentence(text) {
  const t = String(text || '').trim();
  if (!t) return t;
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?…)]$/.test(first) ? first : first + '.';
}

/**
 * Shows an error object (ApiError or other) as a toast. A 401 means the session ended
 * (expired or logged out elsewhere): then the visitor is asked to sign in again instead.
 */
export function toastError(err) {
  if (err && err.status === 401) {
    setMe(null);
    promptSignIn('again: your session has ended');
    return;
  }
  toast(sentence((err && err.message) || 'Something went wrong'), { kind: 'error' });
}

/** A modal dialog built on <dialog>; resolves when closed. */
export function modal(title, body, { actions = [] } = {}) {
  const dialog = h('dialog', { class: 'modal', 'aria-label': title });
  const close = () => dialog.close();
  dialog.append(
    h('div', { class: 'modal-head' },
      h('h2', {}, title),
      h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Close', onClick: close }, icon('close'))),
    h('div', { class: 'modal-body' }, body),
    actions.length ? h('div', { class: 'modal-actions' }, actions.map((a) => {
      const el = a.href
        ? h('a', { class: `btn ${a.primary ? 'btn-primary' : ''}`, href: a.href }, a.label)
        : h('button', { class: `btn ${a.primary ? 'btn-primary' : ''}`, type: 'button' }, a.label);
      el.addEventListener('click', () => { if (a.onClick) a.onClick(); close(); });
      return el;
    })) : null,
  );
  // Clicking the backdrop closes, as people expect from a sheet.
  dialog.addEventListener('click', (e) => { if (e.target === dialog) close(); });
  document.body.append(dialog);
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => { dialog.remove(); resolve(); }));
}

/** Asks an anonymous visitor to sign in before an action ("to like videos", ...). */
export function promptSignIn(why) {
  const next = encodeURIComponent(location.pathname + location.search);
  return modal('Sign in to reelm', h('p', {}, `Sign in ${why}. It takes a few seconds.`), {
    actions: [
      { label: 'Log in', href: `/login?next=${next}` },
      { label: 'Sign up', href: `/signup?next=${next}`, primary: true },
    ],
  });
}

/** Text with #hashtags and @mentions turned into styled spans and profile links. */
export function richText(text) {
  const out = [];
  const re = /([#@])([\p{L}\p{N}_.]+)/gu;
  let last = 0;
  for (const m of text.matchAll(re)) {
    // Only at the start or after whitespace, so e-mail addresses stay plain text.
    if (m.index > 0 && !/\s/.test(text[m.index - 1])) continue;
    out.push(text.slice(last, m.index));
    const word = m[2].replace(/\.+$/, '');
    if (m[1] === '@') out.push(h('a', { class: 'mention', href: `/@${encodeURIComponent(word)}` }, '@' + word));
    else out.push(h('span', { class: 'hashtag' }, '#' + word));
    out.push(m[2].slice(word.length));
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}
