// The comment drawer: a bottom sheet on phones, a side panel on desktops (CSS decides).
// Built on <dialog> so focus stays inside it and Escape closes it.

import { api } from './api.js';
import { me } from './session.js';
import { h, icon, avatar, timeAgo, toast, toastError, formatCount } from './ui.js';

const MAX_LEN = 500;

/**
 * Opens the drawer for `video`. `onCountChange(delta)` lets the feed keep its comment count
 * in step (optimistically, with a rollback on error).
 */
export function openComments(video, { onCountChange = () => {} } = {}) {
  let cursor = null;
  let loading = false;

  const title = h('h2', { id: `comments-title-${video.id}` }, commentsTitle(video.comment_count));
  const list = h('ul', { class: 'comment-list', 'aria-live': 'polite' });
  const status = h('p', { class: 'comment-status muted' }, 'Loading comments…');
  const more = h('button', { class: 'btn btn-ghost comment-more', type: 'button', hidden: true }, 'Load more comments');
  const closeBtn = h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Close comments' }, icon('close'));

  let form;
  if (me()) {
    const input = h('input', {
      class: 'comment-input', type: 'text', name: 'text', maxlength: MAX_LEN, required: true,
      placeholder: 'Add a comment…', 'aria-label': 'Comment text', autocomplete: 'off',
    });
    const send = h('button', { class: 'btn btn-primary', type: 'submit', 'aria-label': 'Post comment' }, 'Post');
    form = h('form', { class: 'comment-form' }, avatar(me(), 'avatar avatar-sm'), input, send);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      if (text.length > MAX_LEN) return toast(`Comments are ${MAX_LEN} characters at most.`, { kind: 'error' });
      send.disabled = true;
      video.comment_count += 1; // optimistic
      title.textContent = commentsTitle(video.comment_count);
      onCountChange(+1);
      try {
        const comment = await api.addComment(video.id, text);
        input.value = '';
        status.hidden = true;
        list.prepend(commentItem(comment));
      } catch (err) {
        video.comment_count -= 1; // roll back
        title.textContent = commentsTitle(video.comment_count);
        onCountChange(-1);
        toastError(err);
      } finally {
        send.disabled = false;
        input.focus();
      }
    });
  } else {
    const next = encodeURIComponent(location.pathname + location.search);
    form = h('p', { class: 'comment-signin' },
      h('a', { class: 'btn btn-primary', href: `/login?next=${next}` }, 'Log in to comment'));
  }

  const dialog = h('dialog', { class: 'drawer', 'aria-labelledby': title.id },
    h('div', { class: 'drawer-head' }, title, closeBtn),
    h('div', { class: 'drawer-body' }, status, list, more),
    h('div', { class: 'drawer-foot' }, form),
  );

  async function loadPage() {
    if (loading) return;
    loading = true;
    more.disabled = true;
    try {
      const page = await api.comments(video.id, cursor);
      for (const c of page.items) list.append(commentItem(c));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      status.hidden = list.children.length > 0;
      status.textContent = 'No comments yet. Be the first!';
    } catch (err) {
      status.hidden = false;
      status.textContent = err.message;
    } finally {
      loading = false;
      more.disabled = false;
    }
  }

  more.addEventListener('click', loadPage);
  // Older comments load by themselves when the reader reaches the end of the list.
  const io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && !more.hidden) loadPage();
  }, { root: dialog.querySelector('.drawer-body') });
  io.observe(more);
  dialog.addEventListener('close', () => io.disconnect());
  closeBtn.addEventListener('click', () => dialog.close());
  dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close(); });
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  loadPage();
  return dialog;
}

function commentsTitle(n) {
  return n === 1 ? '1 comment' : `${formatCount(n)} comments`;
}

function commentItem(c) {
  const href = `/@${encodeURIComponent(c.author.handle)}`;
  return h('li', { class: 'comment' },
    h('a', { href, 'aria-label': `@${c.author.handle}'s profile`, tabindex: '-1' }, avatar(c.author, 'avatar avatar-sm')),
    h('div', { class: 'comment-main' },
      h('div', { class: 'comment-meta' },
        h('a', { class: 'comment-author', href }, c.author.display_name || '@' + c.author.handle),
        h('span', { class: 'muted' }, ' · ', timeAgo(c.created_at))),
      h('p', { class: 'comment-text' }, c.text)),
  );
}
