// Quick filters: one drop-down per label key, listing the values seen in the range.
// Keys combine with AND (the API's label=k=v parameters).

import { el, clear } from '../util.js';

const ORDER = ['host_ip', 'hostname', 'thread_name', 'thread_group', 'pid'];
const NICE = { host_ip: 'Host IP', hostname: 'Host', thread_name: 'Thread', thread_group: 'Thread group', pid: 'PID' };

export class QuickFilters {
  constructor(container, { onChange }) {
    this.onChange = onChange;
    this.root = el('div', { class: 'filters', role: 'group', 'aria-label': 'Quick filters' });
    container.appendChild(this.root);
    this.labels = [];
    this.filters = {};
    this.loading = false;
  }

  set(labels, filters, { loading = false, error = '' } = {}) {
    this.labels = labels || [];
    this.filters = filters || {};
    clear(this.root);
    this.root.append(el('span', { class: 'filters-title' }, 'Filters'));
    if (error) { this.root.append(el('span', { class: 'inline-error' }, error)); return; }
    const keys = this.labels.map((l) => l.key).filter((k) => k !== 'app');
    for (const k of Object.keys(this.filters)) if (!keys.includes(k)) keys.push(k);
    keys.sort((a, b) => {
      const ia = ORDER.indexOf(a), ib = ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
    });
    if (!keys.length) {
      this.root.append(el('span', { class: 'muted' }, loading ? 'Loading labels…' : 'No labels in this range.'));
      return;
    }
    for (const key of keys) {
      const values = (this.labels.find((l) => l.key === key) || { values: [] }).values.slice();
      const cur = this.filters[key];
      if (cur !== undefined && !values.includes(cur)) values.unshift(cur);
      const sel = el('select', { class: 'filter-select' + (cur !== undefined ? ' active' : ''), 'aria-label': `Filter by ${key}`, dataset: { key },
        onchange: () => {
          const next = { ...this.filters };
          if (sel.value === '\u0000all') delete next[key];
          else next[key] = sel.value;
          this.onChange(next);
        } },
      el('option', { value: '\u0000all' }, 'all'),
      values.map((v) => el('option', { value: v }, v)));
      sel.value = cur !== undefined ? cur : '\u0000all';
      this.root.append(el('label', { class: 'filter' }, el('span', { class: 'filter-key', title: key }, NICE[key] || key), sel));
    }
    if (Object.keys(this.filters).length) {
      this.root.append(el('button', { type: 'button', class: 'btn btn-small btn-ghost', onclick: () => this.onChange({}) }, 'Clear filters'));
    }
  }
}
