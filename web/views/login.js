// Log-in with handle and password; returns to where the visitor was (?next=).

import { api } from '../api.js';
import { setMe } from '../session.js';
import { navigate, nextParam } from '../router.js';
import { h, toast, sentence } from '../ui.js';

export function loginView(root) {
  document.title = 'Log in · reelm';
  const handle = h('input', { id: 'li-handle', name: 'handle', required: true, autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { id: 'li-password', name: 'password', type: 'password', required: true, autocomplete: 'current-password' });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, 'Log in');

  const form = h('form', { class: 'form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'li-handle' }, 'Username'), handle),
    h('div', { class: 'field' }, h('label', { for: 'li-password' }, 'Password'), password),
    error, submit,
    h('p', { class: 'muted center' }, 'New to reelm? ', h('a', { href: `/signup${location.search}` }, 'Sign up')));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    if (!form.reportValidity()) return;
    submit.disabled = true;
    try {
      const user = await api.login(handle.value.trim().replace(/^@/, ''), password.value);
      setMe(user);
      toast(`Welcome back, @${user.handle}!`);
      navigate(nextParam('/'), { replace: true });
    } catch (err) {
      error.textContent = sentence(err.message);
      error.hidden = false;
      password.select();
    } finally {
      submit.disabled = false;
    }
  });

  root.append(h('main', { class: 'page narrow auth' }, h('h1', {}, 'Log in to reelm'), form));
}
