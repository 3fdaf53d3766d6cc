// Thin client for the reelm HTTP API (docs/API.md).
//
// Every request goes through `request()` so that the two rules of the API are applied in
// one place: state-changing requests carry the CSRF token from the `reelm_csrf` cookie, and
// failures are turned into an `ApiError` carrying the server's human message.

/** An API failure: `status` is the HTTP status (0 for network errors), `code` the machine name. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Reads a cookie by name; the CSRF cookie is deliberately readable by scripts. */
export function getCookie(name) {
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return '';
}

/** True when the browser holds a session; the session cookie itself is HttpOnly. */
export function hasSessionCookie() {
  return getCookie('reelm_csrf') !== '';
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

function csrfHeaders(method) {
  return SAFE_METHODS.has(method) ? {} : { 'X-CSRF-Token': getCookie('reelm_csrf') };
}

async function errorFrom(res) {
  let code = 'http_' + res.status;
  let message = `The server answered ${res.status} ${res.statusText}`.trim();
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // Not JSON (e.g. a proxy error page): keep the generic message.
  }
  return new ApiError(res.status, code, message);
}

/**
 * Performs one API call. `json` is sent as a JSON body; `keepalive` lets a view event
 * outlive the page (pagehide). Resolves to the parsed JSON body, or null for 204.
 */
export async function request(path, { method = 'GET', json, keepalive = false, signal } = {}) {
  const headers = { Accept: 'application/json', ...csrfHeaders(method) };
  const init = { method, headers, credentials: 'same-origin', keepalive, signal };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'Could not reach the server. Check your connection and try again.');
  }
  if (!res.ok) throw await errorFrom(res);
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  return type.includes('application/json') ? res.json() : null;
}

function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}

const enc = encodeURIComponent;

export const api = {
  health: () => request('/api/health'),
  regions: () => request('/api/regions'),
  placement: (country) => request('/api/regions/placement' + qs({ country })),

  signup: (body) => request('/api/auth/signup', { method: 'POST', json: body }),
  login: (handle, password) => request('/api/auth/login', { method: 'POST', json: { handle, password } }),
  logout: () => request('/api/auth/logout', { method: 'POST' }),
  me: () => request('/api/me'),
  dataLocation: () => request('/api/me/data-location'),

  // For You is personal unless the person turned personalization off (privacy center).
  feed: (kind, cursor, limit) => request(`/api/feed/${kind}` + qs({
    cursor, limit, mode: kind === 'foryou' && !personalized() ? 'trending' : undefined,
  })),
  video: (id) => request(`/api/videos/${enc(id)}`),
  like: (id, on) => request(`/api/videos/${enc(id)}/like`, { method: on ? 'POST' : 'DELETE' }),
  share: (id) => request(`/api/videos/${enc(id)}/share`, { method: 'POST' }),
  comments: (id, cursor) => request(`/api/videos/${enc(id)}/comments` + qs({ cursor })),
  addComment: (id, text) => request(`/api/videos/${enc(id)}/comments`, { method: 'POST', json: { text } }),
  view: (id, watchMs, completed, keepalive = false) =>
    request(`/api/videos/${enc(id)}/views`, {
      method: 'POST',
      json: { watch_ms: watchMs, completed },
      keepalive,
    }),
  notInterested: (id) => request(`/api/videos/${enc(id)}/not-interested`, { method: 'POST' }),

  user: (handle) => request(`/api/users/${enc(handle)}`),
  userVideos: (handle, cursor) => request(`/api/users/${enc(handle)}/videos` + qs({ cursor })),
  follow: (handle, on) => request(`/api/users/${enc(handle)}/follow`, { method: on ? 'POST' : 'DELETE' }),
};

/**
 * Uploads a video with XMLHttpRequest, because fetch() cannot report upload progress.
 * `onProgress(fraction)` receives 0..1. Resolves to the created Video.
 */
export function uploadVideo(formData, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/videos');
    xhr.withCredentials = true;
    xhr.responseType = 'text';
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('X-CSRF-Token', getCookie('reelm_csrf'));
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && body) {
        onProgress(1);
        resolve(body);
      } else if (body && body.error) {
        reject(new ApiError(xhr.status, body.error.code, body.error.message));
      } else if (xhr.status === 413) {
        reject(new ApiError(413, 'payload_too_large', 'The file is too large (50 MiB at most).'));
      } else {
        reject(new ApiError(xhr.status, 'http_' + xhr.status, `Upload failed (${xhr.status}).`));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'The upload was interrupted. Check your connection and try again.'));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'The upload was cancelled.'));
    xhr.send(formData);
  });
}

const PERSONALIZED_KEY = 'reelm.personalized';

/** Whether the For You feed may use this person's behavior (default: yes). */
export function personalized() {
  try { return localStorage.getItem(PERSONALIZED_KEY) !== 'off'; } catch { return true; }
}

export function setPersonalized(on) {
  try { localStorage.setItem(PERSONALIZED_KEY, on ? 'on' : 'off'); } catch { /* private mode */ }
}
