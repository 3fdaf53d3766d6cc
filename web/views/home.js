// The home feed with its two tabs. The tab is in the query string (/?tab=following) so the
// back button and a reload keep it.

import { api } from '../api.js';
import { me } from '../session.js';
import { createFeed } from '../feed.js';
import { h } from '../ui.js';

export function homeView(root) {
  const tab = new URLSearchParams(location.search).get('tab') === 'following' ? 'following' : 'foryou';
  document.title = tab === 'following' ? 'Following · reelm' : 'For You · reelm';

  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Feeds' },
    h('a', { class: 'tab', href: '/?tab=following', 'aria-current': tab === 'following' ? 'page' : undefined }, 'Following'),
    h('a', { class: 'tab', href: '/', 'aria-current': tab === 'foryou' ? 'page' : undefined }, 'For You'));
  document.getElementById('topbar-center').replaceChildren(tabs);

  if (tab === 'following' && !me()) {
    root.append(h('main', { class: 'feed-placeholder' },
      h('div', { class: 'status-box' },
        h('h1', {}, 'Videos from people you follow'),
        h('p', {}, 'Log in to see the latest from the creators you follow.'),
        h('div', { class: 'row' },
          h('a', { class: 'btn', href: '/login?next=%2F%3Ftab%3Dfollowing' }, 'Log in'),
          h('a', { class: 'btn btn-primary', href: '/signup?next=%2F%3Ftab%3Dfollowing' }, 'Sign up')))));
    return undefined;
  }

  const feed = createFeed({
    label: tab === 'following' ? 'Following feed' : 'For You feed',
    load: (cursor) => api.feed(tab, cursor),
    empty: tab === 'following'
      ? () => h('div', {}, h('p', {}, 'Nothing here yet. Follow creators to see their videos in this tab.'),
        h('a', { class: 'btn btn-primary', href: '/' }, 'Find creators on For You'))
      : 'No videos yet. Be the first to upload one!',
  });
  root.append(feed.el);
  feed.focus();
  return feed.destroy;
}
