// The server's analysis, rendered: findings (GET /api/v1/analysis), one function's detail
// (the same endpoint with focus=FUNCTION) and the question box (POST /api/v1/ask). The browser
// computes nothing here: it shows what the API returns, so the console, `flamewatch analyze`
// and `flamewatch ask` can never disagree.

import { el, clear, fmtValue, fmtPct, fmtSignedPct, fmtTime } from '../util.js';
import { api } from '../api.js';
import { showSql } from './sqlview.js';

const ICON = { hot: '▲', warn: '●', info: 'ℹ', ok: '✓' };

/** findings: the API's list; onFocus(name) is called by "Show in flame graph". */
export function renderAnalysis(container, res, { onFocus } = {}) {
  clear(container);
  const items = (res.findings || []).map((f) => {
    const evidence = [];
    if (typeof f.share === 'number') evidence.push(`share ${fmtPct(f.share, 1)} · ${fmtValue(f.value, res.unit)}`);
    if (f.change) {
      const c = f.change;
      evidence.push(`${fmtPct(c.baseShare, 1)} → ${fmtPct(c.cmpShare, 1)} (${fmtSignedPct(c.delta, 1)}), z = ${c.z.toFixed(1)}, ${c.significant ? 'significant' : 'within noise'}${c.status !== 'changed' ? ', ' + c.status : ''}`);
    }
    if (f.frames && f.frames.length) evidence.push('frames: ' + f.frames.join(', '));
    return el('li', { class: 'finding ' + f.level, dataset: { id: f.id } },
      el('span', { class: 'finding-icon', 'aria-hidden': 'true' }, ICON[f.level] || '•'),
      el('div', {},
        el('div', { class: 'finding-title' }, f.title),
        f.detail ? el('div', { class: 'finding-detail' }, f.detail) : null,
        evidence.length ? el('div', { class: 'finding-evidence muted small' }, evidence.join(' · ')) : null,
        f.suggestion ? el('div', { class: 'finding-suggestion' }, el('strong', {}, 'Suggestion: '), f.suggestion) : null,
        f.focus && onFocus ? el('button', { type: 'button', class: 'btn btn-small finding-focus', onclick: () => onFocus(f.focus) }, `Show ${f.focus} in the flame graph`) : null));
  });
  container.append(el('ul', { class: 'findings' }, items));
  if (res.sql && res.sql.length) container.append(sqlButton(res.sql));
}

function sqlButton(sql) {
  return el('button', { type: 'button', class: 'btn btn-small', onclick: () => showSql(sql.map((s) => ({ title: s.title, sql: s.sql }))) }, 'SQL behind these numbers');
}

function rowsTable(rows, unit, cmp, trend) {
  if (!rows.length) return el('p', { class: 'muted small' }, 'None in this range.');
  const head = cmp ? ['', 'Baseline', 'Now', 'Change'] : ['', 'Value', 'Share'];
  return el('table', { class: 'detail-table' },
    el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))),
    el('tbody', {}, rows.map((r) => el('tr', {},
      el('td', { class: 'detail-label' }, trend ? fmtTime(Number(r.label)) : r.label),
      cmp && r.baseShare !== undefined
        ? [el('td', { class: 'num' }, `${fmtValue(r.baseValue, unit)} · ${fmtPct(r.baseShare, 1)}`),
          el('td', { class: 'num' }, `${fmtValue(r.value, unit)} · ${fmtPct(r.share, 1)}`),
          el('td', { class: 'num ' + (r.significant > 0 ? 'up' : r.significant < 0 ? 'down' : '') },
            `${fmtSignedPct(r.share - r.baseShare, 1)}${r.z ? ` (z = ${r.z.toFixed(1)})` : ''}`)]
        : [el('td', { class: 'num' }, fmtValue(r.value, unit)), el('td', { class: 'num' }, fmtPct(r.share, 1))]))));
}

/** The focus=FUNCTION answer: the function's numbers and its sections. */
export function renderDetail(container, res) {
  clear(container);
  const f = res.focus;
  if (!f) return;
  if (!f.found) {
    container.append(el('p', { class: 'muted' }, `No function named ${f.function} in this range.`));
    return;
  }
  const cmp = res.mode === 'comparison';
  const head = cmp
    ? `${f.function}: self ${fmtPct(f.baseSelfShare, 1)} → ${fmtPct(f.selfShare, 1)}, total ${fmtPct(f.baseTotalShare, 1)} → ${fmtPct(f.totalShare, 1)}`
    : `${f.function}: self ${fmtValue(f.self, res.unit)} (${fmtPct(f.selfShare, 1)}), total ${fmtValue(f.total, res.unit)} (${fmtPct(f.totalShare, 1)})`;
  container.append(el('div', { class: 'detail-head' }, el('strong', {}, head), f.file ? el('span', { class: 'muted small' }, ' ' + f.file) : null));
  const grid = el('div', { class: 'detail-grid' });
  for (const s of f.sections) {
    grid.append(el('section', { class: 'detail-section', dataset: { section: s.id } },
      el('h4', {}, s.title), rowsTable(s.rows, res.unit, cmp && s.id !== 'lines' && s.id !== 'trend', s.id === 'trend')));
  }
  container.append(grid);
  // Findings about this function (e.g. its change and where it comes from) come with it.
  const mine = (res.findings || []).filter((x) => x.focus === f.function && x.id !== 'hotpath');
  if (mine.length) {
    const box = el('div', {});
    renderAnalysis(box, { ...res, findings: mine, sql: [] });
    container.append(box);
  }
  if (res.sql && res.sql.length) container.append(sqlButton(res.sql));
}

/**
 * The question box. params() gives {app, type, from, to, labels, baselineHours}; the answer
 * is shown under the box with its numbers, a link to the view, and the SQL.
 */
export function questionBox(params, { placeholder } = {}) {
  const input = el('input', { type: 'text', class: 'ask-input', 'aria-label': 'Question', placeholder: placeholder || 'Ask: what uses the most CPU? what grew since yesterday? who calls checkout?' });
  const out = el('div', { class: 'ask-answer', 'aria-live': 'polite' });
  const ask = async () => {
    const q = input.value.trim();
    if (!q) return;
    clear(out).append(el('p', { class: 'muted' }, 'Thinking…'));
    try {
      const a = await api.ask({ question: q, ...params() });
      renderAnswer(out, a, (text) => { input.value = text; ask(); });
    } catch (e) {
      clear(out).append(el('div', { class: 'error-box', role: 'alert' }, e.message));
    }
  };
  const form = el('form', { class: 'ask-form', onsubmit: (e) => { e.preventDefault(); ask(); } },
    input, el('button', { type: 'submit', class: 'btn btn-primary' }, 'Ask'));
  return { root: el('div', { class: 'ask' }, form, out), input, ask };
}

function renderAnswer(out, a, reask) {
  clear(out);
  out.append(el('p', { class: 'ask-text' + (a.understood ? '' : ' muted') }, a.answer));
  if (!a.understood) {
    out.append(el('ul', { class: 'ask-help' }, (a.help || []).map((h) => el('li', {},
      el('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: () => reask(h.replace(/ \(.*\)$/, '')) }, h)))));
    return;
  }
  if (a.numbers && a.numbers.length) {
    const cmp = a.numbers.some((r) => r.baseShare !== undefined);
    out.append(rowsTable(a.numbers, a.unit, cmp, a.intent === 'trend'));
  }
  const tools = el('div', { class: 'ask-tools' });
  if (a.link) tools.append(el('a', { class: 'btn btn-small', href: a.link }, 'Open the view'));
  if (a.sql && a.sql.length) tools.append(sqlButton(a.sql));
  out.append(tools);
}
