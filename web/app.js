// Entry point: the persistent top bar (logo, a slot for the feed tabs, upload and the
// account menu) and the routes. Every view lives in views/*.js.

import { route, startRouter, onNavigate, navigate } from './router.js';
import { loadMe, me, onSessionChange, logout } from './session.js';
import { h, icon, avatar, toast, toastError } from './ui.js';
import { homeView } from './views/home.js';
import { videoView } from './views/video.js';
import { profileView } from './views/profile.js';
import { uploadView } from './views/upload.js';
import { signupView } from './views/signup.js';
import { loginView } from './views/login.js';
import { privacyView } from './views/privacy.js';

// ---- top bar ----------------------------------------------------------------------------

const center = h('div', { class: 'topbar-center', id: 'topbar-center' });
const menuBtn = h('button', {
  class: 'icon-btn menu-btn', type: 'button', 'aria-haspopup': 'menu', 'aria-expanded': 'false',
  'aria-controls': 'account-menu', 'aria-label': 'Account menu',
});
const menu = h('div', { class: 'menu', id: 'account-menu', role: 'menu', hidden: true });
const uploadLink = h('a', { class: 'icon-btn upload-link', href: '/upload', 'aria-label': 'Upload a video' }, icon('upload'));

const topbar = h('header', { class: 'topbar' },
  h('a', { class: 'logo', href: '/', 'aria-label': 'reelm home' }, h('span', { class: 'logo-mark', 'aria-hidden': 'true' }), 'reelm'),
  center,
  h('div', { class: 'topbar-actions' }, uploadLink, h('div', { class: 'menu-wrap' }, menuBtn, menu)),
);

function menuItem(label, attrs) {
  return attrs.href
    ? h('a', { role: 'menuitem', class: 'menu-item', ...attrs }, label)
    : h('button', { role: 'menuitem', class: 'menu-item', type: 'button', ...attrs }, label);
}

function renderMenu() {
  const user = me();
  menuBtn.replaceChildren(user ? avatar(user, 'avatar avatar-sm') : icon('menu'));
  menuBtn.setAttribute('aria-label', user ? `Account menu (@${user.handle})` : 'Account menu');
  menu.replaceChildren(...(user
    ? [
      h('div', { class: 'menu-head' }, h('strong', {}, user.display_name || user.handle), h('span', { class: 'muted' }, '@' + user.handle)),
      menuItem('My profile', { href: `/@${encodeURIComponent(user.handle)}` }),
      menuItem('Upload a video', { href: '/upload' }),
      menuItem('Privacy center', { href: '/privacy' }),
      menuItem('Log out', { onClick: doLogout, class: 'menu-item menu-logout' }),
    ]
    : [
      menuItem('Log in', { href: '/login' }),
      menuItem('Sign up', { href: '/signup' }),
    ]));
}

function setMenu(open) {
  menu.hidden = !open;
  menuBtn.setAttribute('aria-expanded', String(open));
  if (open) {
    const first = menu.querySelector('[role=menuitem]');
    if (first) first.focus();
  }
}

async function doLogout() {
  setMenu(false);
  try {
    await logout();
    toast('You are logged out.');
    navigate('/');
  } catch (err) {
    toastError(err);
  }
}

menuBtn.addEventListener('click', (e) => {
  e.stopPropagation();
  setMenu(menu.hidden);
});
menu.addEventListener('click', () => setMenu(false));
document.addEventListener('click', (e) => { if (!menu.hidden && !e.target.closest('.menu-wrap')) setMenu(false); });
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !menu.hidden) {
    setMenu(false);
    menuBtn.focus();
  }
});

onSessionChange(renderMenu);
onNavigate((path) => {
  setMenu(false);
  center.replaceChildren(); // views put their own controls (the feed tabs) here
  document.body.classList.toggle('on-feed', path === '/' || path.startsWith('/v/'));
});

// ---- routes -----------------------------------------------------------------------------

function notFound(root) {
  document.title = 'Not found · reelm';
  root.append(h('main', { class: 'page narrow' },
    h('h1', {}, 'Page not found'),
    h('p', {}, "This page doesn't exist. "),
    h('a', { class: 'btn btn-primary', href: '/' }, 'Go to the feed')));
}

route(/^\/$/, homeView);
route(/^\/v\/([^/]+)\/?$/, videoView);
route(/^\/@([^/]+)\/?$/, profileView);
route(/^\/upload\/?$/, uploadView);
route(/^\/signup\/?$/, signupView);
route(/^\/login\/?$/, loginView);
route(/^\/privacy\/?$/, privacyView);

const main = h('div', { id: 'main' });
document.body.prepend(topbar, main);
renderMenu();
loadMe().finally(() => startRouter(main, notFound));
