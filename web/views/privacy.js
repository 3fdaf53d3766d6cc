// Privacy center, first page: where my data lives — the region, its data center and
// jurisdiction, and every class of personal data held there with how many rows it has.

import { api, personalized, setPersonalized } from '../api.js';
import { me } from '../session.js';
import { regionLabel } from '../countries.js';
import { h, icon } from '../ui.js';

export async function privacyView(root, _params, { isCurrent }) {
  document.title = 'Privacy center · reelm';
  if (!me()) {
    root.append(h('main', { class: 'page narrow' },
      h('h1', {}, 'Privacy center'),
      h('p', {}, 'Log in to see where your data lives.'),
      h('a', { class: 'btn btn-primary', href: '/login?next=%2Fprivacy' }, 'Log in')));
    return undefined;
  }
  const page = h('main', { class: 'page privacy' },
    h('p', { class: 'eyebrow' }, icon('shield', 'icon icon-sm'), ' Privacy center'),
    h('h1', {}, 'Where your data lives'));
  const body = h('div', {}, h('div', { class: 'spinner', role: 'progressbar', 'aria-label': 'Loading' }));
  page.append(body);
  root.append(page);

  let loc;
  try {
    loc = await api.dataLocation();
  } catch (err) {
    if (isCurrent()) body.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, err.message));
    return undefined;
  }
  if (!isCurrent()) return undefined;

  const totalRows = loc.classes.reduce((n, c) => n + (Number(c.rows) || 0), 0);
  const allHome = loc.classes.every((c) => c.stays_in_region);
  body.replaceChildren(
    h('section', { class: 'card location-card', 'aria-label': 'Your home region' },
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, 'Region'), h('dd', { class: 'fact-region' }, regionLabel(loc.region))),
        h('div', {}, h('dt', {}, 'Data center'), h('dd', { class: 'fact-dc' }, loc.data_center)),
        h('div', {}, h('dt', {}, 'Jurisdiction'), h('dd', { class: 'fact-jurisdiction' }, loc.jurisdiction))),
      h('p', { class: 'muted' },
        `Your account was placed here because of the country you signed up from (${me().country}). `,
        allHome
          ? 'Every class of data below stays in this region.'
          : 'Classes marked “may leave the region” can be processed elsewhere, as described.')),
    h('h2', {}, 'What we hold about you'),
    h('p', { class: 'muted' }, `${totalRows} ${totalRows === 1 ? 'record' : 'records'} in ${loc.classes.length} classes of data.`),
    h('div', { class: 'table-wrap' },
      h('table', { class: 'classes' },
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Data'), h('th', { scope: 'col' }, 'Stays in region'),
          h('th', { scope: 'col', class: 'num' }, 'Records'), h('th', { scope: 'col' }, 'Stored in'))),
        h('tbody', {}, loc.classes.map((c) => h('tr', { dataset: { class: c.class } },
          h('td', {}, h('strong', {}, humanize(c.class)), h('div', { class: 'muted small' }, c.description)),
          h('td', {}, c.stays_in_region
            ? h('span', { class: 'badge badge-ok' }, 'Yes')
            : h('span', { class: 'badge badge-warn' }, 'May leave the region')),
          h('td', { class: 'num', dataset: { unit: c.rows === 1 ? 'record' : 'records' } }, String(c.rows)),
          h('td', {}, (c.tables || []).map((t) => h('code', {}, t)))))))),
    personalizationCard(),
  );
  return undefined;
}

// The non-personalized option: For You then ranks by what is popular and new in every region,
// with no use of this person's views or likes.
function personalizationCard() {
  const box = h('input', { type: 'checkbox', id: 'personalize', checked: personalized() || undefined });
  const status = h('p', { class: 'muted small', role: 'status' });
  const describe = () => {
    status.textContent = box.checked
      ? 'On: For You learns from your views and likes, in your home region only.'
      : 'Off: For You shows what is popular and new, the same for everyone. Your behavior is not used.';
  };
  box.addEventListener('change', () => { setPersonalized(box.checked); describe(); });
  describe();
  return h('section', { class: 'card personalization-card', 'aria-label': 'Personalization' },
    h('h2', {}, 'Personalized For You'),
    h('label', { class: 'switch-row', for: 'personalize' }, box, ' Use my activity to personalize my For You feed'),
    status);
}

function humanize(cls) {
  const s = String(cls).replace(/[_-]+/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}
