// Entry point: the top bar, page routing (the page is part of the URL state), and the API
// token dialog for servers started with --tokens.

import { el } from './util.js';
import { getState, setState, subscribe } from './state.js';
import { getToken, setToken } from './api.js';
import { mountQuery } from './views/query.js';
import { mountCompare } from './views/compare.js';
import { mountSettings } from './views/settings.js';

const VIEWS = { query: mountQuery, compare: mountCompare, settings: mountSettings };
const TITLES = { query: 'Query', compare: 'Comparison', settings: 'Settings' };
const app = document.getElementById('app');
let page = null, view = null;

function route(s, prev) {
  if (s.page !== page) {
    if (view) view.destroy();
    page = s.page;
    view = VIEWS[page](app);
    view.update(s, null);
    for (const a of document.querySelectorAll('.tabs a')) {
      if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  } else {
    view.update(s, prev);
  }
  document.title = `${TITLES[page]}${s.app && page !== 'settings' ? ' · ' + s.app : ''} · flamewatch`;
}

for (const a of document.querySelectorAll('a[data-page]')) {
  a.addEventListener('click', (e) => {
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    setState({ page: a.dataset.page });
  });
}

function tokenButton() {
  const btn = el('button', { type: 'button', class: 'btn btn-ghost token-btn', title: 'API token (for servers started with --tokens)' });
  const label = () => { btn.textContent = getToken() ? 'API token (set)' : 'API token'; };
  label();
  btn.addEventListener('click', () => {
    const input = el('input', { type: 'password', value: getToken(), class: 'token-input', 'aria-label': 'API token', autocomplete: 'off' });
    const d = el('dialog', { class: 'modal token-modal' },
      el('form', { method: 'dialog' },
        el('h3', {}, 'API token'),
        el('p', { class: 'muted small' }, 'Servers started with --tokens need a token with the read role (admin to change settings). It is kept in this browser only.'),
        input,
        el('div', { class: 'form-actions' },
          el('button', { class: 'btn btn-primary', value: 'save' }, 'Save'),
          el('button', { class: 'btn', value: 'clear' }, 'Clear'),
          el('button', { class: 'btn btn-ghost', value: 'cancel' }, 'Cancel'))));
    d.addEventListener('close', () => {
      if (d.returnValue === 'save') setToken(input.value.trim());
      if (d.returnValue === 'clear') setToken('');
      d.remove();
      label();
      if (d.returnValue === 'save' || d.returnValue === 'clear') window.location.reload();
    });
    document.body.append(d);
    d.showModal();
  });
  return btn;
}
document.querySelector('.topbar-right').append(tokenButton());

subscribe(route);
route(getState(), null);
