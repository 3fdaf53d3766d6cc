// Who is signed in. The session cookie is HttpOnly, so the readable CSRF cookie tells us
// whether asking `GET /api/me` makes sense; anonymous visitors never trigger a 401
// (which the browser would log to the console).

import { api, hasSessionCookie, ApiError } from './api.js';

let current = null;
const listeners = new Set();

/** The signed-in User, or null. */
export function me() {
  return current;
}

/** Subscribes to sign-in / sign-out; returns an unsubscribe function. */
export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Sets the user after sign-up / log-in / log-out. */
export function setMe(user) {
  current = user;
  for (const fn of listeners) fn(current);
}

/** Loads the user from the server (at start-up). */
export async function loadMe() {
  if (!hasSessionCookie()) {
    setMe(null);
    return null;
  }
  try {
    setMe(await api.me());
  } catch (err) {
    // An expired session is not an error for the visitor: they are simply signed out.
    if (!(err instanceof ApiError) || err.status !== 401) console.warn('Could not load the session:', err.message);
    setMe(null);
  }
  return current;
}

export async function logout() {
  try {
    await api.logout();
  } finally {
    setMe(null);
  }
}
