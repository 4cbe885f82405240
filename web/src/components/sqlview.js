// "View SQL": the SQL behind each view, editable, runnable through POST /api/v1/sql,
// with the result as a table.

import { el, clear } from '../util.js';
import { api } from '../api.js';

let dialog = null;

/** sources: [{title, sql}] */
export function showSql(sources) {
  if (dialog) dialog.remove();
  const area = el('textarea', { class: 'sql-text', spellcheck: 'false', 'aria-label': 'SQL query', rows: '10' });
  const result = el('div', { class: 'sql-result' });
  const status = el('span', { class: 'muted sql-status' });
  const tabs = el('div', { class: 'seg', role: 'tablist' });
  let active = 0;
  const pick = (k) => {
    active = k;
    area.value = sources[k].sql || '';
    clear(result);
    status.textContent = '';
    for (const [j, b] of [...tabs.children].entries()) b.setAttribute('aria-selected', String(j === k));
  };
  sources.forEach((s, k) => tabs.append(el('button', { type: 'button', role: 'tab', class: 'seg-btn', onclick: () => pick(k) }, s.title)));
  const run = async () => {
    const q = area.value.trim();
    if (!q) { status.textContent = 'Nothing to run.'; return; }
    runBtn.disabled = true;
    status.textContent = 'Running…';
    clear(result);
    const t0 = performance.now();
    try {
      const r = await api.sql(q, 1000);
      const ms = Math.round(performance.now() - t0);
      status.textContent = `${r.rows.length} row${r.rows.length === 1 ? '' : 's'}${r.truncated ? ' (truncated to 1000)' : ''} in ${ms} ms`;
      result.append(resultTable(r));
    } catch (e) {
      status.textContent = '';
      result.append(el('div', { class: 'error-box', role: 'alert' }, e.message));
    } finally {
      runBtn.disabled = false;
    }
  };
  const runBtn = el('button', { type: 'button', class: 'btn btn-primary', onclick: run }, '▶ Run query');
  const copyBtn = el('button', { type: 'button', class: 'btn', onclick: async () => {
    try { await navigator.clipboard.writeText(area.value); status.textContent = 'Copied.'; } catch { area.select(); status.textContent = 'Press Ctrl+C to copy.'; }
  } }, 'Copy');
  area.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) run(); });
  dialog = el('dialog', { class: 'modal sql-modal', 'aria-label': 'SQL' },
    el('div', { class: 'modal-head' }, el('h3', {}, 'SQL behind this view'),
      el('button', { type: 'button', class: 'btn btn-ghost modal-close', 'aria-label': 'Close', onclick: () => dialog.close() }, '✕')),
    el('p', { class: 'muted small' }, 'The store runs this read-only SQL (values inlined). Edit it and run it here, or with ',
      el('code', {}, 'sqlite3 DATA/flamewatch.db'), '. Ctrl+Enter runs.'),
    sources.length > 1 ? tabs : null,
    area,
    el('div', { class: 'sql-actions' }, runBtn, copyBtn, status),
    result);
  dialog.addEventListener('close', () => { dialog.remove(); dialog = null; });
  document.body.append(dialog);
  pick(0);
  dialog.showModal();
}

function resultTable(r) {
  const cell = (v) => {
    if (v === null) return el('span', { class: 'muted' }, 'NULL');
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  };
  return el('div', { class: 'tbl-scroll sql-scroll' }, el('table', { class: 'tbl sql-table' },
    el('thead', {}, el('tr', {}, r.columns.map((c) => el('th', { scope: 'col' }, c)))),
    el('tbody', {}, r.rows.length ? r.rows.map((row) => el('tr', {}, row.map((v) => el('td', { class: typeof v === 'number' ? 'num' : '' }, cell(v)))))
      : el('tr', {}, el('td', { colspan: String(r.columns.length || 1), class: 'empty-cell' }, 'No rows.')))));
}
