// History API router. The server answers every non-/api, non-/static path with index.html,
// so deep links (/v/123, /@ana) work on reload; here we map the path to a view.
//
// A view is `async mount(root, params) -> cleanup?`. The cleanup runs before the next view
// mounts: that is where a feed flushes watch time for the clip being left.

const routes = [];
let root;
let cleanup = null;
let renderToken = 0;
const afterNavigate = new Set();

/** Registers a route: `pattern` is a RegExp on the pathname; groups become params. */
export function route(pattern, view) {
  routes.push({ pattern, view });
}

/** Called after each navigation (the header uses it to highlight the current place). */
export function onNavigate(fn) {
  afterNavigate.add(fn);
}

/** Navigates inside the app. */
export function navigate(path, { replace = false } = {}) {
  const url = new URL(path, location.origin);
  const target = url.pathname + url.search + url.hash;
  if (target === location.pathname + location.search + location.hash && !replace) return;
  if (replace) history.replaceState(null, '', target);
  else history.pushState(null, '', target);
  render();
}

/** Returns the `next` query parameter if it is a safe same-origin path. */
export function nextParam(fallback = '/') {
  const next = new URLSearchParams(location.search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : fallback;
}

async function render() {
  const token = ++renderToken;
  if (cleanup) {
    const fn = cleanup;
    cleanup = null;
    try {
      fn();
    } catch (err) {
      console.warn('view cleanup failed', err);
    }
  }
  const path = decodeURIComponent(location.pathname);
  let match = null;
  let view = null;
  for (const r of routes) {
    match = path.match(r.pattern);
    if (match) {
      view = r.view;
      break;
    }
  }
  const container = document.createElement('div');
  container.className = 'view';
  root.replaceChildren(container);
  for (const fn of afterNavigate) fn(location.pathname);
  const result = await view(container, match ? match.slice(1) : [], { isCurrent: () => token === renderToken });
  // If the visitor navigated away while the view was loading, clean it up at once.
  if (token !== renderToken) {
    if (typeof result === 'function') result();
  } else if (typeof result === 'function') {
    cleanup = result;
  }
}

/** Starts routing: intercepts same-origin link clicks and back/forward. */
export function startRouter(rootEl, notFound) {
  root = rootEl;
  routes.push({ pattern: /.*/, view: notFound });
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest && e.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/static/')) return;
    e.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
  window.addEventListener('popstate', () => render());
  render();
}
