// The controls shared by the Query and Comparison pages: the metadata picker, the time range
// with auto-refresh, and the quick filters (whose values are loaded for the range).

import { el, clear } from '../util.js';
import { api } from '../api.js';
import { setState, sameFilters } from '../state.js';
import { MetadataPicker, defaultType } from './picker.js';
import { TimeRange } from './timerange.js';
import { QuickFilters } from './filters.js';

export class Controls {
  /** onReload(): the user asked for fresh data (refresh button or auto-refresh tick). */
  constructor(container, { onReload, extra }) {
    this.onReload = onReload;
    this.apps = [];
    const left = el('div', { class: 'controls-left' });
    const right = el('div', { class: 'controls-right' });
    this.bar = el('div', { class: 'controls' }, left, right);
    this.filterBar = el('div', { class: 'filter-bar' });
    container.append(this.bar, this.filterBar);
    this.picker = new MetadataPicker(left, {
      // A metadata change clears the filters: label values belong to one application.
      onPick: (app, type) => setState({ app, type, filters: {}, search: '' }),
    });
    if (extra) left.append(extra);
    this.range = new TimeRange(right, {
      onChange: ({ from, to }) => setState({ from, to }),
      onRefreshChange: (refresh) => setState({ refresh }, { replace: true }),
      onRefreshNow: () => this.reload(),
    });
    this.filters = new QuickFilters(this.filterBar, { onChange: (filters) => setState({ filters }) });
    this.timer = 0;
  }

  destroy() { clearInterval(this.timer); }

  async loadApps() {
    const r = await api.apps();
    this.apps = r.apps || [];
    this.picker.setApps(this.apps);
    return this.apps;
  }

  /** Fills in app/type when missing or unknown. Returns false when it changed the state. */
  ensureSelection(s) {
    if (!this.apps.length) return true;
    let { app, type } = s;
    if (!app || !this.apps.some((a) => a.name === app)) { app = this.apps[0].name; type = ''; }
    const a = this.apps.find((x) => x.name === app);
    if (!type || !a.types.some((t) => t.type === type)) type = defaultType(this.apps, app);
    if (app !== s.app || type !== s.type) {
      setState({ app, type, filters: s.app && s.app !== app ? {} : s.filters }, { replace: true });
      return false;
    }
    return true;
  }

  update(s, prev) {
    this.picker.set(s.app, s.type);
    this.range.set(s.from, s.to, s.refresh);
    if (!prev || prev.refresh !== s.refresh) {
      clearInterval(this.timer);
      const sec = Number(s.refresh);
      if (sec > 0) this.timer = setInterval(() => this.reload(), sec * 1000);
    }
    const labelsChanged = !prev || prev.app !== s.app || prev.type !== s.type || prev.from !== s.from || prev.to !== s.to;
    if (labelsChanged) this.loadLabels(s);
    else if (!sameFilters(prev.filters, s.filters)) this.filters.set(this.labels, s.filters);
  }

  reload() {
    this.loadLabels(this.state);
    this.onReload();
  }

  async loadLabels(s) {
    this.state = s;
    if (!s.app) { this.filters.set([], {}); return; }
    const gen = (this.labelGen = (this.labelGen || 0) + 1);
    this.filters.set(this.labels || [], s.filters, { loading: true });
    try {
      const r = await api.labels({ app: s.app, type: s.type, from: s.from, to: s.to });
      if (gen !== this.labelGen) return;
      this.labels = r.labels || [];
      this.labelsSql = r.sql;
      this.filters.set(this.labels, s.filters);
    } catch (e) {
      if (gen !== this.labelGen) return;
      this.filters.set([], s.filters, { error: e.message });
    }
  }
}

/** A card with a title row, a body and a status line for loading/empty/error. */
export function card(title, ...tools) {
  const status = el('div', { class: 'card-status', hidden: true });
  const body = el('div', { class: 'card-body' });
  const head = el('div', { class: 'card-head' }, el('h2', {}, title), el('div', { class: 'card-tools' }, tools));
  const root = el('section', { class: 'card' }, head, status, body);
  return {
    root, body, head,
    loading(on) { root.classList.toggle('is-loading', !!on); },
    message(kind, text) {
      clear(status);
      if (!kind) { status.hidden = true; root.classList.remove('has-error'); return; }
      status.hidden = false;
      status.className = 'card-status ' + kind;
      status.append(text);
      root.classList.toggle('has-error', kind === 'error');
      if (kind === 'error') status.setAttribute('role', 'alert'); else status.removeAttribute('role');
    },
  };
}

export function segmented(options, value, onPick, label) {
  const root = el('div', { class: 'seg', role: 'radiogroup', 'aria-label': label });
  for (const [v, text] of options) {
    root.append(el('button', { type: 'button', role: 'radio', class: 'seg-btn', 'aria-checked': String(v === value), dataset: { value: v }, onclick: () => onPick(v) }, text));
  }
  root.setValue = (val) => { for (const b of root.children) b.setAttribute('aria-checked', String(b.dataset.value === val)); };
  return root;
}

export function renderFindings(container, findings) {
  clear(container);
  const icon = { hot: '▲', warn: '●', info: 'ℹ', ok: '✓' };
  container.append(el('ul', { class: 'findings' }, findings.map((f) => el('li', { class: 'finding ' + f.level },
    el('span', { class: 'finding-icon', 'aria-hidden': 'true' }, icon[f.level] || '•'),
    el('div', {}, el('div', { class: 'finding-title' }, f.title),
      f.detail ? el('div', { class: 'finding-detail' }, f.detail) : null,
      f.suggestion ? el('div', { class: 'finding-suggestion' }, el('strong', {}, 'Suggestion: '), f.suggestion) : null)))));
}
