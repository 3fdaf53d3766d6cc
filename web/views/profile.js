// A creator's profile (/@handle): header with counts and a follow button, then a grid of
// their videos, newest first, loaded page by page as the grid scrolls.

import { api } from '../api.js';
import { me } from '../session.js';
import { h, avatar, icon, formatCount, toast, toastError, promptSignIn } from '../ui.js';

export async function profileView(root, [rawHandle], { isCurrent }) {
  const handle = rawHandle;
  document.title = `@${handle} · reelm`;
  root.append(h('main', { class: 'page' }, h('div', { class: 'spinner', role: 'progressbar', 'aria-label': 'Loading profile' })));

  let profile;
  try {
    profile = await api.user(handle);
  } catch (err) {
    if (!isCurrent()) return undefined;
    root.replaceChildren(h('main', { class: 'page narrow' },
      h('h1', {}, err.status === 404 ? "This account doesn't exist" : "Couldn't load this profile"),
      h('p', {}, err.status === 404 ? `There is no one called @${handle} on reelm.` : err.message),
      h('a', { class: 'btn btn-primary', href: '/' }, 'Go to the feed')));
    return undefined;
  }
  if (!isCurrent()) return undefined;
  document.title = `${profile.display_name || profile.handle} (@${profile.handle}) · reelm`;

  const isMe = me() && me().id === profile.id;
  const followers = h('strong', {}, formatCount(profile.follower_count));
  const stat = (value, label) => h('li', { class: 'stat' }, value, h('span', {}, label));

  let actions;
  if (isMe) {
    actions = h('div', { class: 'row' },
      h('a', { class: 'btn btn-primary', href: '/upload' }, 'Upload a video'),
      h('a', { class: 'btn', href: '/privacy' }, 'Privacy center'));
  } else {
    const followBtn = h('button', { class: 'btn follow-profile-btn', type: 'button' });
    const render = () => {
      followBtn.textContent = profile.followed_by_me ? 'Following' : 'Follow';
      followBtn.classList.toggle('btn-primary', !profile.followed_by_me);
      followBtn.setAttribute('aria-pressed', String(profile.followed_by_me));
      followBtn.setAttribute('aria-label', `${profile.followed_by_me ? 'Unfollow' : 'Follow'} @${profile.handle}`);
      followers.textContent = formatCount(profile.follower_count);
    };
    followBtn.addEventListener('click', async () => {
      if (!me()) return promptSignIn('to follow creators');
      const before = { on: profile.followed_by_me, n: profile.follower_count };
      profile.followed_by_me = !before.on; // optimistic
      profile.follower_count = Math.max(0, before.n + (before.on ? -1 : 1));
      render();
      followBtn.disabled = true;
      try {
        const r = await api.follow(profile.handle, !before.on);
        profile.followed_by_me = r.following;
        profile.follower_count = r.follower_count;
        toast(r.following ? `You follow @${profile.handle}` : `You unfollowed @${profile.handle}`);
      } catch (err) {
        profile.followed_by_me = before.on;
        profile.follower_count = before.n;
        toastError(err);
      } finally {
        followBtn.disabled = false;
        render();
      }
    });
    render();
    actions = h('div', { class: 'row' }, followBtn);
  }

  const grid = h('ul', { class: 'grid', 'aria-label': `Videos by @${profile.handle}` });
  const more = h('div', { class: 'grid-more' });
  const header = h('section', { class: 'profile-head' },
    avatar(profile, 'avatar avatar-xl'),
    h('div', { class: 'profile-id' },
      h('h1', {}, profile.display_name || profile.handle),
      h('p', { class: 'muted' }, '@' + profile.handle),
      profile.bio ? h('p', { class: 'bio' }, profile.bio) : null,
      h('ul', { class: 'stats' },
        stat(h('strong', {}, formatCount(profile.following_count)), 'Following'),
        stat(followers, 'Followers'),
        stat(h('strong', {}, formatCount(profile.like_count)), 'Likes'),
        stat(h('strong', {}, formatCount(profile.video_count)), 'Videos')),
      actions));
  root.replaceChildren(h('main', { class: 'page profile' }, header, h('h2', { class: 'sr-only' }, 'Videos'), grid, more));

  let cursor = null;
  let loading = false;
  let done = false;
  async function loadPage() {
    if (loading || done) return;
    loading = true;
    more.replaceChildren(h('div', { class: 'spinner', role: 'progressbar', 'aria-label': 'Loading videos' }));
    try {
      const page = await api.userVideos(profile.handle, cursor);
      for (const v of page.items) grid.append(tile(v));
      cursor = page.next_cursor;
      done = !cursor;
      more.replaceChildren();
      if (done && grid.children.length === 0) {
        more.append(h('p', { class: 'muted empty' }, isMe ? "You haven't posted any videos yet." : 'No videos yet.'));
      }
    } catch (err) {
      more.replaceChildren(h('p', {}, err.message), h('button', { class: 'btn', type: 'button', onClick: loadPage }, 'Try again'));
    } finally {
      loading = false;
    }
    // Keep filling while the sentinel is still on screen (tall desktop windows).
    if (!done && more.getBoundingClientRect().top < innerHeight + 200) loadPage();
  }
  const io = new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) loadPage(); }, { rootMargin: '200px' });
  io.observe(more);
  loadPage();
  return () => io.disconnect();
}

/** One grid cell: the poster if there is one, else the first frame of the video itself. */
function tile(v) {
  const thumb = v.poster_url
    ? h('img', { src: v.poster_url, alt: '', loading: 'lazy', decoding: 'async' })
    : h('video', { src: `${v.media_url}#t=0.1`, preload: 'metadata', muted: true, playsinline: true, 'aria-hidden': 'true', tabindex: '-1' });
  return h('li', { class: 'tile' },
    h('a', { href: `/v/${encodeURIComponent(v.id)}`, 'aria-label': v.caption ? `Video: ${v.caption}` : 'Video', dataset: { videoId: v.id } },
      thumb,
      h('span', { class: 'tile-views' }, icon('play', 'icon icon-sm'), formatCount(v.view_count)),
      v.caption ? h('span', { class: 'tile-caption' }, v.caption) : null));
}
