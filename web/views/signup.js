// Sign-up. As soon as a country is chosen, the form says where the account will be stored
// (GET /api/regions/placement), before anything is created: people decide with that in mind.

import { api } from '../api.js';
import { setMe } from '../session.js';
import { navigate, nextParam } from '../router.js';
import { countries, regionLabel } from '../countries.js';
import { h, icon, toast, sentence } from '../ui.js';

export function signupView(root) {
  document.title = 'Sign up · reelm';
  const field = (id, label, input, help) => h('div', { class: 'field' },
    h('label', { for: id }, label), input, help ? h('p', { class: 'help', id: `${id}-help` }, help) : null);

  const handle = h('input', { id: 'su-handle', name: 'handle', required: true, autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', minlength: 3, maxlength: 24, pattern: '@?[A-Za-z0-9][A-Za-z0-9_.]*', 'aria-describedby': 'su-handle-help' });
  const displayName = h('input', { id: 'su-name', name: 'display_name', autocomplete: 'name', maxlength: 50 });
  const email = h('input', { id: 'su-email', name: 'email', type: 'email', required: true, autocomplete: 'email' });
  const password = h('input', { id: 'su-password', name: 'password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password', 'aria-describedby': 'su-password-help' });
  const today = new Date().toISOString().slice(0, 10);
  const birth = h('input', { id: 'su-birth', name: 'birth_date', type: 'date', required: true, max: today, min: '1900-01-01', 'aria-describedby': 'su-birth-help' });
  const country = h('select', { id: 'su-country', name: 'country', required: true, 'aria-describedby': 'su-placement' },
    h('option', { value: '' }, 'Choose your country…'),
    countries().map((c) => h('option', { value: c.code }, c.name)));
  const placement = h('p', { class: 'placement', id: 'su-placement', 'aria-live': 'polite', hidden: true });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, 'Create account');

  let placementSeq = 0;
  country.addEventListener('change', async () => {
    const code = country.value;
    const seq = ++placementSeq;
    if (!code) {
      placement.hidden = true;
      return;
    }
    placement.hidden = false;
    placement.classList.remove('is-ready');
    placement.replaceChildren('Finding where your data will be stored…');
    try {
      const p = await api.placement(code);
      if (seq !== placementSeq) return; // the visitor picked another country meanwhile
      placement.classList.add('is-ready');
      placement.replaceChildren(icon('shield', 'icon icon-sm'),
        ` Your account and personal data will be stored in the ${regionLabel(p.region)} region (${p.data_center}).`);
      placement.dataset.region = p.region;
      // On a phone the note appears below the fold: bring it into view, it matters.
      placement.scrollIntoView({ block: 'nearest' });
    } catch (err) {
      if (seq !== placementSeq) return;
      placement.replaceChildren(`We couldn't tell where your data would be stored: ${err.message}`);
    }
  });

  const form = h('form', { class: 'form', novalidate: true },
    field('su-handle', 'Username', handle, '3 to 24 letters, digits, _ or . — people will find you as @username.'),
    field('su-name', 'Display name (optional)', displayName),
    field('su-email', 'Email', email),
    field('su-password', 'Password', password, 'At least 8 characters.'),
    field('su-birth', 'Birth date', birth, 'You need to be 13 or older to have an account.'),
    field('su-country', 'Country', country),
    placement, error, submit,
    h('p', { class: 'muted center' }, 'Already have an account? ', h('a', { href: `/login${location.search}` }, 'Log in')));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    // Let the browser point at the first invalid field, with its own localized message.
    if (!form.reportValidity()) return;
    submit.disabled = true;
    submit.textContent = 'Creating your account…';
    const body = {
      handle: handle.value.trim().replace(/^@/, ''),
      email: email.value.trim(),
      password: password.value,
      birth_date: birth.value,
      country: country.value,
    };
    if (displayName.value.trim()) body.display_name = displayName.value.trim();
    try {
      const user = await api.signup(body);
      setMe(user);
      toast(`Welcome to reelm, @${user.handle}!`);
      navigate(nextParam('/'), { replace: true });
    } catch (err) {
      error.textContent = sentence(err.message);
      error.hidden = false;
    } finally {
      submit.disabled = false;
      submit.textContent = 'Create account';
    }
  });

  root.append(h('main', { class: 'page narrow auth' },
    h('h1', {}, 'Create your reelm account'),
    h('p', { class: 'muted' }, 'Watch, like, comment, follow and share your own videos.'),
    form));
}
