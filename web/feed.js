// The vertical video feed: one full-height clip at a time.
//
// Scrolling is native (CSS scroll-snap on `.feed`), so touch swipes feel like the platform.
// Wheel and arrow keys are translated into "one clip up/down" so a trackpad flick never
// skips clips. An IntersectionObserver (>= 60 % visible) decides which clip is active: it
// plays, the next two preload, and the one that was left reports its watch time.

import { api } from './api.js';
import { me } from './session.js';
import { WatchTracker } from './watch.js';
import { openComments } from './comments.js';
import { h, icon, avatar, formatCount, toast, toastError, promptSignIn, richText } from './ui.js';

const VISIBLE = 0.6;
const PRELOAD_AHEAD = 2; // the next two clips get preload="auto" so the swap is instant
const KEEP_SRC = 6; // clips farther than this release their media element
const LOAD_MORE_AHEAD = 3; // fetch the next page when this close to the end
const DOUBLE_TAP_MS = 300;
const SOUND_KEY = 'reelm.sound';

// Sound preference, remembered across visits. The browser may still refuse sound before the
// first interaction; `soundBlocked` tracks that without forgetting the preference.
let soundOn = readPref(SOUND_KEY) === 'on';
let soundBlocked = false;

// Storage can be disabled (private modes, strict settings): the feed must work without it.
function readPref(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}
function writePref(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Not remembered this time; the choice still applies to this page.
  }
}

// Follow state per creator handle, shared by every feed on the page (the Video object does
// not say whether I follow its creator, so it is learned from profiles and my own actions).
const following = new Map();
const followLookups = new Map();

/**
 * Creates a feed. `load(cursor)` returns a page `{items, next_cursor}` of feed items
 * (`{video, reason}`); `initial` are items shown before the first page (e.g. the video of
 * a /v/<id> page). Returns `{el, destroy}`; `destroy()` reports the clip being watched.
 */
export function createFeed({ load, initial = [], empty = 'No videos yet.', label = 'Videos' }) {
  const el = h('div', { class: 'feed', role: 'feed', 'aria-label': label, 'aria-busy': 'true', tabindex: '-1' });
  const status = h('div', { class: 'slide slide-status' });
  const slides = [];
  const seen = new Set();
  let cursor = null;
  let exhausted = false;
  let loading = false;
  let active = -1;
  let destroyed = false;

  const io = new IntersectionObserver(onIntersect, { root: el, threshold: [0, VISIBLE, 1] });

  function onIntersect(entries) {
    for (const entry of entries) {
      const s = slides.find((x) => x.el === entry.target);
      if (!s) continue;
      // Chromium reports the crossing ratio as 0.5999…; allow for rounding.
      const visible = entry.isIntersecting && entry.intersectionRatio >= VISIBLE - 0.01;
      s.tracker.setOnScreen(visible);
      if (visible) activate(slides.indexOf(s));
      else if (slides.indexOf(s) === active) deactivate();
    }
  }

  // ---- activation -------------------------------------------------------------------

  function activate(i) {
    if (i === active) return;
    deactivate();
    active = i;
    const s = slides[i];
    s.el.classList.add('is-active');
    updateMedia();
    play(s);
    lookupFollow(s.video.creator.handle);
    if (i >= slides.length - LOAD_MORE_AHEAD) loadMore();
  }

  function deactivate() {
    const s = slides[active];
    active = -1;
    if (!s) return;
    s.el.classList.remove('is-active', 'is-paused');
    s.userPaused = false;
    s.videoEl.pause();
    s.tracker.flush();
  }

  /** Preload the current and next two clips; let far-away clips release their media. */
  function updateMedia() {
    slides.forEach((s, j) => {
      const d = j - active;
      if (Math.abs(d) > KEEP_SRC) {
        if (s.videoEl.hasAttribute('src')) {
          s.videoEl.removeAttribute('src');
          s.videoEl.load();
        }
        return;
      }
      const want = d >= 0 && d <= PRELOAD_AHEAD ? 'auto' : 'none';
      if (s.videoEl.getAttribute('preload') !== want) s.videoEl.setAttribute('preload', want);
      if (!s.videoEl.hasAttribute('src')) s.videoEl.setAttribute('src', s.video.media_url);
    });
  }

  async function play(s) {
    const v = s.videoEl;
    if (s.el.classList.contains('is-dismissed')) return; // "not interested": stays still
    v.muted = !soundOn || soundBlocked;
    syncMuteButtons();
    try {
      await v.play();
    } catch (err) {
      if (err.name === 'NotAllowedError' && !v.muted) {
        // Sound needs a first interaction: play muted and show the unmute control.
        soundBlocked = true;
        v.muted = true;
        syncMuteButtons();
        try {
          await v.play();
        } catch {
          s.el.classList.add('is-paused');
        }
      } else if (err.name === 'NotAllowedError') {
        s.el.classList.add('is-paused'); // even muted autoplay refused: wait for a tap
      }
      // AbortError: the play was interrupted by a pause (the clip was left) — nothing to do.
    }
    if (slides[active] !== s) v.pause();
  }

  function go(delta) {
    const from = active >= 0 ? active : nearestIndex();
    const last = slides.length - 1 + (status.hidden ? 0 : 1); // the status slide is a stop too
    const target = Math.max(0, Math.min(last, from + delta));
    const node = target < slides.length ? slides[target].el : status;
    el.scrollTo({ top: node.offsetTop, behavior: 'smooth' });
  }

  function nearestIndex() {
    const h0 = el.clientHeight || 1;
    return Math.round(el.scrollTop / h0);
  }

  // ---- sound -------------------------------------------------------------------------

  function setSound(on) {
    soundOn = on;
    soundBlocked = false; // this call comes from a click, so the browser allows sound now
    writePref(SOUND_KEY, on ? 'on' : 'off');
    for (const s of slides) s.videoEl.muted = !on;
    syncMuteButtons();
  }

  function syncMuteButtons() {
    const muted = !soundOn || soundBlocked;
    for (const s of slides) {
      // Until the visitor has chosen once, spell out that a tap brings the sound.
      const hint = muted && readPref(SOUND_KEY) === null;
      s.muteBtn.replaceChildren(icon(muted ? 'mutedOn' : 'mutedOff'));
      if (hint) s.muteBtn.append(h('span', { class: 'mute-hint' }, 'Tap to unmute'));
      s.muteBtn.setAttribute('aria-label', muted ? 'Unmute' : 'Mute');
      s.muteBtn.setAttribute('aria-pressed', String(!muted));
      s.muteBtn.classList.toggle('is-muted', muted);
    }
  }

  // ---- actions -----------------------------------------------------------------------

  async function toggleLike(s, { onlyLike = false } = {}) {
    if (!me()) return promptSignIn('to like videos');
    const v = s.video;
    const want = onlyLike ? true : !v.liked_by_me;
    if (want === v.liked_by_me) return;
    const before = { liked: v.liked_by_me, count: v.like_count };
    const seq = ++s.likeSeq;
    v.liked_by_me = want;
    v.like_count = Math.max(0, v.like_count + (want ? 1 : -1));
    renderLike(s);
    try {
      const r = await api.like(v.id, want);
      if (seq !== s.likeSeq) return; // a newer click decides
      v.liked_by_me = r.liked;
      v.like_count = r.like_count;
    } catch (err) {
      if (seq !== s.likeSeq) return;
      v.liked_by_me = before.liked;
      v.like_count = before.count;
      toastError(err);
    }
    renderLike(s);
  }

  function renderLike(s) {
    const v = s.video;
    s.likeBtn.classList.toggle('is-on', v.liked_by_me);
    s.likeBtn.setAttribute('aria-pressed', String(v.liked_by_me));
    s.likeBtn.setAttribute('aria-label', `${v.liked_by_me ? 'Unlike' : 'Like'} (${v.like_count} likes)`);
    s.likeCount.textContent = formatCount(v.like_count);
  }

  function renderComments(s) {
    s.commentCount.textContent = formatCount(s.video.comment_count);
    s.commentBtn.setAttribute('aria-label', `Comments (${s.video.comment_count})`);
  }

  async function toggleFollow(handle) {
    if (!me()) return promptSignIn('to follow creators');
    const was = following.get(handle) === true;
    setFollowing(handle, !was);
    try {
      const r = await api.follow(handle, !was);
      setFollowing(handle, r.following);
      toast(r.following ? `You follow @${handle}` : `You unfollowed @${handle}`);
    } catch (err) {
      setFollowing(handle, was);
      toastError(err);
    }
  }

  function setFollowing(handle, on) {
    following.set(handle, on);
    for (const s of slides) if (s.video.creator.handle === handle) renderFollow(s);
  }

  function renderFollow(s) {
    const c = s.video.creator;
    const mine = me() && me().id === c.id;
    const on = following.get(c.handle) === true;
    s.followBtn.hidden = !!mine;
    s.niBtn.hidden = !!mine; // "not interested" in one's own clip makes no sense
    s.followBtn.classList.toggle('is-on', on);
    s.followBtn.setAttribute('aria-label', `${on ? 'Unfollow' : 'Follow'} @${c.handle}`);
    s.followBtn.setAttribute('aria-pressed', String(on));
    s.followBtn.replaceChildren(icon(on ? 'check' : 'plus'));
  }

  /** Learns whether I follow a creator (once per handle per page load). */
  function lookupFollow(handle) {
    if (!me() || me().handle === handle || following.has(handle) || followLookups.has(handle)) return;
    followLookups.set(handle, api.user(handle).then(
      (p) => { if (!following.has(handle)) setFollowing(handle, p.followed_by_me === true); },
      () => followLookups.delete(handle),
    ));
  }

  async function notInterested(s) {
    if (!me()) return promptSignIn('to tune your feed');
    s.niBtn.disabled = true;
    try {
      await api.notInterested(s.video.id);
      s.el.classList.add('is-dismissed');
      s.videoEl.pause();
      s.dismissNote.hidden = false;
      toast("Got it — you'll see fewer videos like this.");
      go(+1);
    } catch (err) {
      s.niBtn.disabled = false;
      toastError(err);
    }
  }

  async function share(s) {
    const url = `${location.origin}/v/${encodeURIComponent(s.video.id)}`;
    if (await copyText(url)) toast('Link copied to clipboard');
    else toast(`Copy this link: ${url}`, { ms: 6000 });
    // A share is a strong signal for my feed (kept in my home region); never block on it.
    if (me()) api.share(s.video.id).catch(() => {});
  }

  // ---- one slide ---------------------------------------------------------------------

  function buildSlide(item) {
    const v = item.video;
    const reason = item.reason;
    const c = v.creator;
    const profile = `/@${encodeURIComponent(c.handle)}`;
    const landscape = v.width && v.height && v.width > v.height;

    const videoEl = h('video', {
      class: landscape ? 'player fit-contain' : 'player',
      playsinline: true, muted: true, preload: 'none',
      poster: v.poster_url || undefined,
      'aria-label': `Video by @${c.handle}${v.caption ? ': ' + v.caption : ''}`,
      disableremoteplayback: true,
    });
    videoEl.muted = true; // the attribute alone does not set the property in every engine

    const s = { video: v, videoEl, likeSeq: 0, userPaused: false };
    s.tracker = new WatchTracker(v.id, videoEl);

    s.muteBtn = h('button', { class: 'mute-btn', type: 'button', onClick: (e) => {
      e.stopPropagation();
      setSound(!(soundOn && !soundBlocked));
    } });
    s.likeCount = h('span', { class: 'rail-count' });
    s.likeBtn = h('button', { class: 'rail-btn like-btn', type: 'button', onClick: () => toggleLike(s) }, icon('heart'), s.likeCount);
    s.commentCount = h('span', { class: 'rail-count' });
    s.commentBtn = h('button', { class: 'rail-btn comment-btn', type: 'button', onClick: () => {
      openComments(v, { onCountChange: () => renderComments(s) });
    } }, icon('comment'), s.commentCount);
    const shareBtn = h('button', { class: 'rail-btn share-btn', type: 'button', 'aria-label': 'Share (copy link)', onClick: () => share(s) },
      icon('share'), h('span', { class: 'rail-count' }, 'Share'));
    s.niBtn = h('button', { class: 'rail-btn ni-btn', type: 'button', 'aria-label': 'Not interested', onClick: () => notInterested(s) },
      icon('notInterested'), h('span', { class: 'rail-count' }, 'Skip'));
    s.followBtn = h('button', { class: 'follow-btn', type: 'button', onClick: () => toggleFollow(c.handle) });

    const progress = h('div', { class: 'progress-bar' });
    videoEl.addEventListener('timeupdate', () => {
      const f = videoEl.duration ? videoEl.currentTime / videoEl.duration : 0;
      progress.style.transform = `scaleX(${f})`;
    });
    // Loop by hand rather than with `loop`, which suppresses the `ended` event that marks
    // a view as completed.
    videoEl.addEventListener('ended', () => {
      if (slides[active] !== s) return;
      videoEl.currentTime = 0;
      play(s);
    });
    videoEl.addEventListener('error', () => {
      if (videoEl.hasAttribute('src')) s.el.classList.add('has-error');
    });

    const why = reason && reason.detail ? whyButton(reason) : null;
    s.dismissNote = h('div', { class: 'dismiss-note', hidden: true }, "You'll see fewer videos like this.");

    const stage = h('div', { class: 'stage' },
      videoEl,
      h('div', { class: 'tap-layer', 'aria-hidden': 'true' }),
      h('div', { class: 'paused-icon', 'aria-hidden': 'true' }, icon('play', 'icon icon-xl')),
      h('div', { class: 'error-note' }, "This video can't be played right now."),
      s.dismissNote,
      s.muteBtn,
      h('div', { class: 'meta' },
        h('a', { class: 'meta-handle', href: profile }, '@' + c.handle),
        captionEl(v),
        why),
      h('div', { class: 'progress', 'aria-hidden': 'true' }, progress),
    );
    const rail = h('div', { class: 'rail' },
      h('div', { class: 'rail-creator' },
        h('a', { href: profile, 'aria-label': `@${c.handle}'s profile` }, avatar(c, 'avatar avatar-rail')),
        s.followBtn),
      s.likeBtn, s.commentBtn, shareBtn, s.niBtn);

    s.el = h('article', { class: 'slide', 'aria-label': `Video by @${c.handle}`, dataset: { videoId: v.id } }, stage, rail);
    setupTaps(s, stage);
    renderLike(s);
    renderComments(s);
    if (typeof c.followed_by_me === 'boolean' && !following.has(c.handle)) following.set(c.handle, c.followed_by_me);
    if (reason && reason.source === 'following' && !following.has(c.handle)) following.set(c.handle, true);
    renderFollow(s);
    return s;
  }

  /** Single tap pauses/resumes; double tap likes with a heart where the finger was. */
  function setupTaps(s, stage) {
    let lastTap = 0;
    let timer = null;
    stage.addEventListener('click', (e) => {
      if (e.target.closest('button, a, .why-pop')) return;
      const now = performance.now();
      if (now - lastTap < DOUBLE_TAP_MS) {
        clearTimeout(timer);
        lastTap = 0;
        heartBurst(stage, e);
        toggleLike(s, { onlyLike: true });
        return;
      }
      lastTap = now;
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (slides[active] !== s) return;
        if (s.videoEl.paused) {
          s.userPaused = false;
          s.el.classList.remove('is-paused');
          play(s);
        } else {
          s.userPaused = true;
          s.el.classList.add('is-paused');
          s.videoEl.pause();
        }
      }, DOUBLE_TAP_MS);
    });
  }

  // ---- pages -------------------------------------------------------------------------

  function append(items) {
    for (const item of items) {
      if (!item || !item.video || seen.has(item.video.id)) continue;
      seen.add(item.video.id);
      const s = buildSlide(item);
      slides.push(s);
      el.insertBefore(s.el, status);
      io.observe(s.el);
    }
    syncMuteButtons();
    if (active >= 0) updateMedia();
  }

  async function loadMore() {
    if (loading || exhausted || destroyed) return;
    loading = true;
    el.setAttribute('aria-busy', 'true');
    setStatus(h('div', { class: 'spinner', role: 'progressbar', 'aria-label': 'Loading videos' }));
    try {
      const page = await load(cursor);
      if (destroyed) return;
      append(page.items || []);
      cursor = page.next_cursor || null;
      exhausted = !cursor;
    } catch (err) {
      if (destroyed) return;
      setStatus(h('div', { class: 'status-box' },
        h('p', {}, err.message),
        h('button', { class: 'btn', type: 'button', onClick: () => loadMore() }, 'Try again')));
      return;
    } finally {
      loading = false;
      el.setAttribute('aria-busy', 'false');
    }
    if (exhausted) {
      setStatus(slides.length
        ? h('div', { class: 'status-box' }, h('p', {}, "You're all caught up."),
          h('button', { class: 'btn', type: 'button', onClick: () => el.scrollTo({ top: 0, behavior: 'smooth' }) }, 'Back to the top'))
        : h('div', { class: 'status-box' }, typeof empty === 'function' ? empty() : h('p', {}, empty)));
    } else {
      setStatus(null);
      if (active >= slides.length - LOAD_MORE_AHEAD) loadMore();
    }
  }

  function setStatus(content) {
    status.replaceChildren();
    if (content) status.append(content);
    status.hidden = !content;
  }

  // ---- input -------------------------------------------------------------------------

  // One wheel gesture moves one clip: a trackpad flick keeps sending inertial events for
  // about a second, so events closer than 200 ms apart belong to the same gesture.
  let wheelAcc = 0;
  let lastWheel = 0;
  let navAt = 0;
  let gestureUsed = false;
  function onWheel(e) {
    if (e.ctrlKey) return; // pinch-zoom
    e.preventDefault();
    const now = performance.now();
    if (now - lastWheel > 200) {
      wheelAcc = 0;
      gestureUsed = false;
    }
    lastWheel = now;
    // A long, steady wheel spin may still move on, one clip per 800 ms.
    if (gestureUsed && now - navAt < 800) return;
    wheelAcc += e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
    if (Math.abs(wheelAcc) >= 40) {
      go(wheelAcc > 0 ? 1 : -1);
      navAt = now;
      gestureUsed = true;
      wheelAcc = 0;
    }
  }

  function onKey(e) {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
    if (document.querySelector('dialog[open]')) return;
    const t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if (e.key === 'ArrowDown' || e.key === 'PageDown' || e.key === 'j') {
      e.preventDefault();
      go(1);
    } else if (e.key === 'ArrowUp' || e.key === 'PageUp' || e.key === 'k') {
      e.preventDefault();
      go(-1);
    } else if (e.key === 'm') {
      setSound(!(soundOn && !soundBlocked));
    }
  }

  function onVisibility() {
    const s = slides[active];
    if (!s) return;
    if (document.visibilityState === 'hidden') {
      s.videoEl.pause();
      s.tracker.flush({ keepalive: true }); // leaving the page may be the last chance
    } else if (!s.userPaused) {
      play(s);
    }
  }

  function onPageHide() {
    const s = slides[active];
    if (s) s.tracker.flush({ keepalive: true });
  }

  el.addEventListener('wheel', onWheel, { passive: false });
  document.addEventListener('keydown', onKey);
  document.addEventListener('visibilitychange', onVisibility);
  window.addEventListener('pagehide', onPageHide);

  // Desktop only (CSS): explicit previous/next buttons for people without a wheel.
  const nav = h('div', { class: 'feed-nav' },
    h('button', { class: 'icon-btn feed-nav-btn', type: 'button', 'aria-label': 'Previous video', onClick: () => go(-1) }, icon('up')),
    h('button', { class: 'icon-btn feed-nav-btn', type: 'button', 'aria-label': 'Next video', onClick: () => go(1) }, icon('down')));

  el.append(status);
  append(initial);
  loadMore();

  function destroy() {
    destroyed = true;
    deactivate(); // reports the clip being watched
    io.disconnect();
    el.removeEventListener('wheel', onWheel);
    document.removeEventListener('keydown', onKey);
    document.removeEventListener('visibilitychange', onVisibility);
    window.removeEventListener('pagehide', onPageHide);
    for (const s of slides) {
      s.tracker.destroy();
      s.videoEl.pause();
      // Stop downloads of clips that were preloading.
      s.videoEl.removeAttribute('src');
      s.videoEl.load();
    }
  }

  return { el: h('div', { class: 'feed-wrap' }, el, nav), destroy, focus: () => el.focus({ preventScroll: true }) };
}

function captionEl(v) {
  const text = v.caption || '';
  const inCaption = new Set([...text.matchAll(/#([\p{L}\p{N}_]+)/gu)].map((m) => m[1].toLowerCase()));
  const extra = (v.hashtags || []).filter((t) => !inCaption.has(String(t).toLowerCase()));
  return h('p', { class: 'caption' },
    richText(text),
    extra.map((t) => [' ', h('span', { class: 'hashtag' }, '#' + t)]));
}

function whyButton(reason) {
  const pop = h('div', { class: 'why-pop', role: 'note', hidden: true }, reason.detail);
  const btn = h('button', { class: 'why-btn', type: 'button', 'aria-expanded': 'false', 'aria-label': 'Why this video?' },
    icon('info', 'icon icon-sm'), ' Why this video?');
  btn.addEventListener('click', (e) => {
    e.stopPropagation();
    pop.hidden = !pop.hidden;
    btn.setAttribute('aria-expanded', String(!pop.hidden));
  });
  return h('div', { class: 'why' }, btn, pop);
}

function heartBurst(stage, e) {
  const rect = stage.getBoundingClientRect();
  const heart = h('div', { class: 'heart-burst', 'aria-hidden': 'true', style: `left:${e.clientX - rect.left}px;top:${e.clientY - rect.top}px` }, icon('heart', 'icon icon-xxl'));
  heart.addEventListener('animationend', () => heart.remove());
  stage.append(heart);
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (permissions, insecure context): fall back to a selection.
    const ta = h('textarea', { class: 'sr-only', readonly: true });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    ta.remove();
    return ok;
  }
}
