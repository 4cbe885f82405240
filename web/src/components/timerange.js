// Time range picker: presets, a custom absolute range, and auto-refresh.
// The range is kept as the API understands it: `now-15m`..`now`, or Unix seconds.

import { el, clear, fmtTime } from '../util.js';

export const PRESETS = [
  ['now-5m', 'Last 5 minutes'], ['now-15m', 'Last 15 minutes'], ['now-30m', 'Last 30 minutes'],
  ['now-1h', 'Last 1 hour'], ['now-3h', 'Last 3 hours'], ['now-6h', 'Last 6 hours'],
  ['now-12h', 'Last 12 hours'], ['now-24h', 'Last 24 hours'], ['now-2d', 'Last 2 days'], ['now-7d', 'Last 7 days'],
];
const REFRESH = [['', 'Off'], ['10', '10 s'], ['30', '30 s'], ['60', '1 min'], ['300', '5 min'], ['900', '15 min']];
const UNIT_S = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** 'now', 'now-15m', '1735689600' → Unix seconds (relative to `now`). NaN if unparseable. */
export function resolveTime(v, now = Date.now() / 1000) {
  if (v === 'now' || v === '' || v === undefined) return Math.floor(now);
  const m = /^now-(\d+)([smhdw])$/.exec(v);
  if (m) return Math.floor(now - Number(m[1]) * UNIT_S[m[2]]);
  if (/^\d+$/.test(v)) { const n = Number(v); return n >= 1e12 ? Math.floor(n / 1000) : n; }
  const t = Date.parse(v);
  return Number.isNaN(t) ? NaN : Math.floor(t / 1000);
}

export function rangeLabel(from, to) {
  if (to === 'now') {
    const p = PRESETS.find(([f]) => f === from);
    if (p) return p[1];
    if (/^now-/.test(from)) return `Last ${from.slice(4)}`;
  }
  const a = resolveTime(from), b = resolveTime(to);
  if (Number.isNaN(a) || Number.isNaN(b)) return `${from} → ${to}`;
  return `${fmtTime(a)} → ${fmtTime(b)}`;
}

function toLocalInput(sec) {
  const d = new Date(sec * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function clockIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', '14'); svg.setAttribute('height', '14'); svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('aria-hidden', 'true'); svg.setAttribute('class', 'tr-icon');
  const c = document.createElementNS(ns, 'circle');
  c.setAttribute('cx', '8'); c.setAttribute('cy', '8'); c.setAttribute('r', '6.5'); c.setAttribute('fill', 'none'); c.setAttribute('stroke', 'currentColor'); c.setAttribute('stroke-width', '1.5');
  const h = document.createElementNS(ns, 'path');
  h.setAttribute('d', 'M8 4.5V8l2.5 1.5'); h.setAttribute('fill', 'none'); h.setAttribute('stroke', 'currentColor'); h.setAttribute('stroke-width', '1.5'); h.setAttribute('stroke-linecap', 'round');
  svg.append(c, h);
  return svg;
}

export class TimeRange {
  /** onChange({from, to}) / onRefreshChange(seconds string) */
  constructor(container, { onChange, onRefreshChange, onRefreshNow }) {
    this.onChange = onChange;
    this.button = el('button', { type: 'button', class: 'btn tr-button', 'aria-haspopup': 'true', onclick: () => this.toggle() });
    this.panel = el('div', { class: 'tr-panel', role: 'dialog', 'aria-label': 'Time range' });
    this.panel.hidden = true;
    this.refreshSel = el('select', { class: 'tr-refresh', 'aria-label': 'Auto-refresh', title: 'Auto-refresh',
      onchange: () => onRefreshChange(this.refreshSel.value) },
    REFRESH.map(([v, l]) => el('option', { value: v }, v ? `↻ ${l}` : '↻ Off')));
    this.refreshBtn = el('button', { type: 'button', class: 'btn', title: 'Refresh now', 'aria-label': 'Refresh now', onclick: () => onRefreshNow() }, '↻');
    this.root = el('div', { class: 'tr' }, el('div', { class: 'tr-anchor' }, this.button, this.panel), this.refreshBtn, this.refreshSel);
    container.appendChild(this.root);
    document.addEventListener('mousedown', (e) => { if (!this.root.contains(e.target)) this.panel.hidden = true; });
  }

  set(from, to, refresh) {
    this.from = from; this.to = to;
    clear(this.button).append(clockIcon(), rangeLabel(from, to), el('span', { class: 'caret' }, ' ▾'));
    this.refreshSel.value = refresh || '';
  }

  toggle() {
    if (!this.panel.hidden) { this.panel.hidden = true; return; }
    this.buildPanel();
    this.panel.hidden = false;
  }

  buildPanel() {
    clear(this.panel);
    const a = resolveTime(this.from), b = resolveTime(this.to);
    const fromIn = el('input', { type: 'datetime-local', value: toLocalInput(a), 'aria-label': 'From' });
    const toIn = el('input', { type: 'datetime-local', value: toLocalInput(b), 'aria-label': 'To' });
    const err = el('div', { class: 'form-error', role: 'alert' });
    const apply = el('button', { type: 'button', class: 'btn btn-primary', onclick: () => {
      const f = Math.floor(new Date(fromIn.value).getTime() / 1000), t = Math.floor(new Date(toIn.value).getTime() / 1000);
      if (!Number.isFinite(f) || !Number.isFinite(t)) { err.textContent = 'Enter both dates.'; return; }
      if (f >= t) { err.textContent = '“From” must be before “To”.'; return; }
      this.panel.hidden = true;
      this.onChange({ from: String(f), to: String(t) });
    } }, 'Apply range');
    this.panel.append(
      el('div', { class: 'tr-cols' },
        el('div', { class: 'tr-custom' }, el('h4', {}, 'Custom range'),
          el('label', {}, 'From', fromIn), el('label', {}, 'To', toIn), err, apply),
        el('div', { class: 'tr-presets' }, el('h4', {}, 'Quick ranges'),
          PRESETS.map(([f, l]) => el('button', { type: 'button', class: 'link' + (f === this.from && this.to === 'now' ? ' active' : ''),
            onclick: () => { this.panel.hidden = true; this.onChange({ from: f, to: 'now' }); } }, l)))));
  }
}
