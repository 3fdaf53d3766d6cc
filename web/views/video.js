// A video's own shareable page (/v/<id>): it plays that clip first, and scrolling on
// continues into For You like the home feed does.

import { api } from '../api.js';
import { createFeed } from '../feed.js';
import { h } from '../ui.js';

export async function videoView(root, [id], { isCurrent }) {
  document.title = 'Video · reelm';
  root.append(h('div', { class: 'feed-placeholder' }, h('div', { class: 'spinner', role: 'progressbar', 'aria-label': 'Loading video' })));
  let video;
  try {
    video = await api.video(id);
  } catch (err) {
    if (!isCurrent()) return undefined;
    root.replaceChildren(h('main', { class: 'page narrow' },
      h('h1', {}, err.status === 404 ? 'Video not found' : "Couldn't load this video"),
      h('p', {}, err.status === 404 ? 'It may have been removed, or the link is wrong.' : err.message),
      h('a', { class: 'btn btn-primary', href: '/' }, 'Go to the feed')));
    return undefined;
  }
  if (!isCurrent()) return undefined;
  document.title = `${video.caption || 'Video'} · @${video.creator.handle} · reelm`;
  const feed = createFeed({
    label: `Video by @${video.creator.handle}, then more videos`,
    initial: [{ video, reason: null }],
    load: (cursor) => api.feed('foryou', cursor),
  });
  root.replaceChildren(feed.el);
  feed.focus();
  return feed.destroy;
}
