// A sortable, filterable table of functions. Cells are text nodes only.

import { el, clear } from '../util.js';

const MAX_ROWS = 400;

export class DataTable {
  /**
   * columns: [{key, label, value(row) → sortable value, text(row) → string | Node, num: bool, title}]
   * opts: {sortKey, sortDesc, onRowClick(row), rowKey(row), filterText(row), placeholder}
   */
  constructor(container, columns, opts = {}) {
    this.columns = columns;
    this.opts = opts;
    this.sortKey = opts.sortKey || columns[1].key;
    this.sortDesc = opts.sortDesc !== false;
    this.rows = [];
    this.filter = '';
    this.selected = null;
    this.filterInput = el('input', {
      type: 'search', class: 'tbl-filter', placeholder: opts.placeholder || 'Filter functions…', 'aria-label': 'Filter the table',
      oninput: () => { this.filter = this.filterInput.value; this.renderBody(); },
    });
    this.info = el('span', { class: 'muted tbl-info' });
    this.thead = el('thead');
    this.tbody = el('tbody');
    this.table = el('table', { class: 'tbl' }, this.thead, this.tbody);
    this.more = el('div', { class: 'tbl-more muted' });
    this.root = el('div', { class: 'tbl-wrap' },
      el('div', { class: 'tbl-toolbar' }, this.filterInput, this.info),
      el('div', { class: 'tbl-scroll' }, this.table), this.more);
    container.appendChild(this.root);
    this.renderHead();
  }

  setRows(rows) {
    this.rows = rows;
    this.renderBody();
  }

  renderHead() {
    clear(this.thead);
    const tr = el('tr');
    for (const c of this.columns) {
      const active = c.key === this.sortKey;
      const th = el('th', {
        class: (c.num ? 'num ' : '') + (active ? 'sorted' : ''), scope: 'col', title: c.title || 'Sort by ' + c.label,
        'aria-sort': active ? (this.sortDesc ? 'descending' : 'ascending') : 'none',
      }, el('button', { type: 'button', class: 'th-btn', onclick: () => this.sortBy(c.key) }, c.label, active ? (this.sortDesc ? ' ▼' : ' ▲') : ''));
      tr.append(th);
    }
    this.thead.append(tr);
  }

  sortBy(key) {
    if (this.sortKey === key) this.sortDesc = !this.sortDesc;
    else { this.sortKey = key; this.sortDesc = this.columns.find((c) => c.key === key).num !== false && key !== 'name'; }
    this.renderHead();
    this.renderBody();
  }

  renderBody() {
    clear(this.tbody);
    const col = this.columns.find((c) => c.key === this.sortKey) || this.columns[0];
    const needle = this.filter.trim().toLowerCase();
    const textOf = this.opts.filterText || ((r) => `${r.name} ${r.file || ''}`);
    let rows = needle ? this.rows.filter((r) => textOf(r).toLowerCase().includes(needle)) : this.rows.slice();
    const dir = this.sortDesc ? -1 : 1;
    rows.sort((a, b) => {
      const va = col.value(a), vb = col.value(b);
      if (typeof va === 'string') return dir * va.localeCompare(vb);
      return dir * ((va > vb) - (va < vb));
    });
    const keyOf = this.opts.rowKey || ((r) => `${r.name}\u0000${r.file || ''}\u0000${r.line || 0}`);
    const shown = rows.slice(0, MAX_ROWS);
    for (const r of shown) {
      const k = keyOf(r);
      const tr = el('tr', {
        class: this.selected === k ? 'selected' : '', tabindex: this.opts.onRowClick ? '0' : undefined,
        onclick: () => this.select(r, k, tr),
        onkeydown: (e) => { if (e.key === 'Enter') this.select(r, k, tr); },
      });
      for (const c of this.columns) {
        const v = c.text(r);
        tr.append(el('td', { class: (c.num ? 'num ' : '') + (c.cls ? c.cls(r) : '') }, v));
      }
      this.tbody.append(tr);
    }
    if (!rows.length) {
      this.tbody.append(el('tr', {}, el('td', { colspan: String(this.columns.length), class: 'empty-cell' },
        this.rows.length ? 'No function matches the filter.' : 'No data.')));
    }
    this.info.textContent = needle ? `${rows.length} of ${this.rows.length} rows` : `${this.rows.length} rows`;
    this.more.textContent = rows.length > MAX_ROWS ? `Showing the first ${MAX_ROWS} of ${rows.length} rows; refine the filter to see others.` : '';
  }

  select(r, k, tr) {
    if (!this.opts.onRowClick) return;
    const same = this.selected === k;
    this.selected = same ? null : k;
    for (const x of this.tbody.querySelectorAll('tr.selected')) x.classList.remove('selected');
    if (!same) tr.classList.add('selected');
    this.opts.onRowClick(same ? null : r);
  }
}

/** A function cell: the name and, below it, file:line in grey. */
export function fnCell(r) {
  const frag = document.createDocumentFragment();
  frag.append(el('span', { class: 'fn-name' }, r.name));
  if (r.file) frag.append(el('span', { class: 'fn-file' }, r.line ? `${r.file}:${r.line}` : r.file));
  return frag;
}
