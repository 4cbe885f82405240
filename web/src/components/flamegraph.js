// A canvas flame graph (icicle: the root on top). No library.
//
// Data: the server's pre-order node list (node 0 = root, children largest first, each node
// with parent and depth). setData() turns it into typed arrays once: x offset and width in
// value units, and the end of each subtree, so that drawing and hit-testing skip whole
// subtrees that are off-screen or thinner than a fraction of a pixel. Only what is visible
// costs anything, which keeps a 50,000-node graph well under 100 ms per frame and lets zoom
// animate smoothly.
//
// All text from profiles is drawn on the canvas or put into the DOM with textContent.

import { el, clear, fmtValue, fmtPct, hashString, moduleOf } from '../util.js';

const ROW = 18;            // px per stack level
const FONT = '12px ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace';
const MIN_PX = 0.35;       // narrower nodes (and their subtrees) are not drawn
const ANIM_MS = 200;

// A calm palette (similar in spirit to Pyroscope/Cloud Profiler), picked by module hash.
const PALETTE = [
  '#f6a35c', '#f3c26b', '#e98a6c', '#d9a0c8', '#9fc2e7', '#8fd1b8', '#c5d97a', '#f2b880',
  '#b7a6e0', '#7fc8d6', '#e6b0a0', '#a8d58c', '#f0cf8c', '#d7b98a', '#93b9d8', '#e7a5b5',
];
const ROOT_COLOR = '#c7ccd4';
const DIM_COLOR = '#e3e6ea';
const MATCH_COLOR = '#d946ef';

let firstDrawMarked = false;
const colorCache = new Map();
export function moduleColor(name, file) {
  // One lookup per distinct file (or per name prefix for frames without a file).
  const key = file || (name.indexOf('.') > 0 ? name.slice(0, name.indexOf('.')) : name);
  let c = colorCache.get(key);
  if (c === undefined) {
    c = PALETTE[hashString(moduleOf(name, file)) % PALETTE.length];
    if (colorCache.size > 50000) colorCache.clear();
    colorCache.set(key, c);
  }
  return c;
}

// Diff colours: neutral → red (share grew) or blue (share shrank).
function mix(a, b, t) {
  const pa = [parseInt(a.slice(1, 3), 16), parseInt(a.slice(3, 5), 16), parseInt(a.slice(5, 7), 16)];
  const pb = [parseInt(b.slice(1, 3), 16), parseInt(b.slice(3, 5), 16), parseInt(b.slice(5, 7), 16)];
  const c = pa.map((x, i) => Math.round(x + (pb[i] - x) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}
export const DIFF_NEUTRAL = '#e9ecef';
export const DIFF_RED = '#e03131';
export const DIFF_BLUE = '#1c7ed6';
export function diffColor(rel) {
  // rel in [-1, 1]: relative change of the node's share.
  const t = Math.min(1, Math.abs(rel));
  const eased = 0.25 + 0.75 * Math.sqrt(t);
  return rel >= 0 ? mix(DIFF_NEUTRAL, DIFF_RED, eased) : mix(DIFF_NEUTRAL, DIFF_BLUE, eased);
}

export class FlameGraph {
  /**
   * opts.tooltip(node, i) → [[label, value], ...] rows for the tooltip
   * opts.color(node, i) → CSS colour; opts.hatch(node, i) → true to overlay the
   * "not significant" hatch; opts.width(node) → width in value units (default node.total)
   * opts.label(node) → text drawn in the box; opts.onFocus(i)
   */
  constructor(container, opts = {}) {
    this.opts = opts;
    this.root = el('div', { class: 'fg' });
    this.crumbs = el('div', { class: 'fg-crumbs' });
    this.searchInput = el('input', {
      type: 'search', class: 'fg-search', placeholder: 'Search functions…', 'aria-label': 'Search the flame graph',
      oninput: () => this.setSearch(this.searchInput.value, true),
    });
    this.searchInfo = el('span', { class: 'fg-search-info muted' });
    this.resetBtn = el('button', { class: 'btn btn-small', type: 'button', onclick: () => this.reset(), title: 'Show the whole graph' }, 'Reset zoom');
    this.toolbar = el('div', { class: 'fg-toolbar' }, this.crumbs, el('div', { class: 'fg-tools' }, this.searchInput, this.searchInfo, this.resetBtn));
    this.canvas = el('canvas', { class: 'fg-canvas', role: 'img', 'aria-label': 'Flame graph' });
    this.tip = el('div', { class: 'fg-tip', role: 'tooltip' });
    this.tip.hidden = true;
    this.stage = el('div', { class: 'fg-stage' }, this.canvas, this.tip);
    this.root.append(this.toolbar, this.stage);
    if (opts.hideSearch) { this.searchInput.hidden = true; this.searchInfo.hidden = true; }
    container.appendChild(this.root);
    this.ctx = this.canvas.getContext('2d');
    this.n = 0;
    this.focusIdx = 0;
    this.view = [0, 1];
    this.search = '';
    this.highlight = null;
    this.lastRenderMs = 0;
    this.hover = -1;
    this.canvas.addEventListener('mousemove', (e) => this.onMove(e));
    this.canvas.addEventListener('mouseleave', () => { this.tip.hidden = true; this.setHover(-1); });
    this.canvas.addEventListener('click', (e) => this.onClick(e));
    this.ro = new ResizeObserver(() => this.render());
    this.ro.observe(this.stage);
  }

  destroy() {
    this.ro.disconnect();
    cancelAnimationFrame(this.anim);
    this.root.remove();
  }

  /** nodes: the API's pre-order list. unit: the profile's unit. */
  setData(nodes, unit) {
    const tStart = performance.now();
    const n = nodes.length;
    this.nodes = nodes;
    this.unit = unit;
    this.n = n;
    const widthOf = this.opts.width || ((d) => d.total);
    const w = new Float64Array(n), x = new Float64Array(n), cursor = new Float64Array(n);
    const depth = new Int32Array(n), parent = new Int32Array(n), end = new Int32Array(n);
    const labels = new Array(n), colors = new Array(n), hatch = new Uint8Array(n);
    let maxDepth = 0;
    const labelOf = this.opts.label || ((d) => d.name);
    const colorOf = this.opts.color || ((d, i) => (i === 0 ? ROOT_COLOR : moduleColor(d.name, d.file)));
    for (let i = 0; i < n; i++) {
      const d = nodes[i];
      w[i] = Math.max(0, widthOf(d) || 0);
      parent[i] = i === 0 ? -1 : d.parent;
      depth[i] = i === 0 ? 0 : depth[d.parent] + 1;
      if (depth[i] > maxDepth) maxDepth = depth[i];
      if (i > 0) {
        const p = d.parent;
        x[i] = x[p] + cursor[p];
        cursor[p] += w[i];
      }
      labels[i] = labelOf(d, i);
      colors[i] = colorOf(d, i);
      if (this.opts.hatch && this.opts.hatch(d, i)) hatch[i] = 1;
    }
    // Subtree ends: in pre-order, i's subtree is [i, end[i]).
    const stack = [];
    for (let i = 0; i < n; i++) {
      while (stack.length && depth[stack[stack.length - 1]] >= depth[i]) end[stack.pop()] = i;
      stack.push(i);
    }
    while (stack.length) end[stack.pop()] = n;
    Object.assign(this, { w, x, depth, parent, end, labels, colors, hatch, maxDepth });
    this.focusIdx = 0;
    this.view = n ? [0, w[0] || 1] : [0, 1];
    this.matches = null;
    this.setSearch(this.search, false);
    this.updateCrumbs();
    this.lastLayoutMs = performance.now() - tStart;
    this.render();
  }

  // ---- search and highlight ----

  setSearch(q, fromInput) {
    this.search = q || '';
    if (!fromInput && this.searchInput.value !== this.search) this.searchInput.value = this.search;
    this.matches = null;
    if (this.search && this.n) {
      const needle = this.search.toLowerCase();
      this.matches = new Uint8Array(this.n);
      for (let i = 1; i < this.n; i++) if (this.nodes[i].name.toLowerCase().includes(needle)) this.matches[i] = 1;
    }
    this.updateSearchInfo();
    this.render();
    if (fromInput && this.opts.onSearch) this.opts.onSearch(this.search);
  }

  /** Highlights every node of one function (from a click in the table); null clears. */
  setHighlight(fn) {
    this.highlight = fn;
    this.hl = null;
    if (fn && this.n) {
      this.hl = new Uint8Array(this.n);
      for (let i = 1; i < this.n; i++) {
        const d = this.nodes[i];
        if (d.name === fn.name && (fn.file === undefined || d.file === fn.file)) this.hl[i] = 1;
      }
    }
    this.updateSearchInfo();
    this.render();
  }

  /** Share of the root under marked nodes, counting nested matches once. */
  markedShare(mark) {
    let sum = 0, count = 0;
    const { n, end, w } = this;
    for (let i = 1; i < n;) {
      if (mark[i]) { sum += w[i]; count++; for (let j = i + 1; j < end[i]; j++) if (mark[j]) count++; i = end[i]; }
      else i++;
    }
    return { count, share: w[0] > 0 ? sum / w[0] : 0, value: sum };
  }

  updateSearchInfo() {
    const mark = this.matches || this.hl;
    if (!mark) { this.searchInfo.textContent = ''; this.searchResult = null; return; }
    const r = this.markedShare(mark);
    this.searchResult = r;
    const what = this.matches ? `${r.count} match${r.count === 1 ? '' : 'es'}` : `“${this.highlight.name}”: ${r.count} node${r.count === 1 ? '' : 's'}`;
    this.searchInfo.textContent = `${what} · ${fmtPct(r.share)} of total`;
  }

  // ---- zoom ----

  focus(i, animate = true) {
    if (i < 0 || i >= this.n) return;
    this.focusIdx = i;
    const target = [this.x[i], this.x[i] + (this.w[i] || 1)];
    this.updateCrumbs();
    if (this.opts.onFocus) this.opts.onFocus(i);
    if (!animate) { this.view = target; this.render(); return; }
    const from = this.view.slice();
    const t0 = performance.now();
    cancelAnimationFrame(this.anim);
    const step = (t) => {
      const k = Math.min(1, (t - t0) / ANIM_MS);
      const e = 1 - Math.pow(1 - k, 3);
      this.view = [from[0] + (target[0] - from[0]) * e, from[1] + (target[1] - from[1]) * e];
      this.render();
      if (k < 1) this.anim = requestAnimationFrame(step);
    };
    this.anim = requestAnimationFrame(step);
  }

  reset() { this.focus(0); }

  updateCrumbs() {
    clear(this.crumbs);
    if (!this.n) return;
    const path = [];
    for (let i = this.focusIdx; i >= 0; i = this.parent[i]) path.unshift(i);
    path.forEach((i, k) => {
      if (k) this.crumbs.append(el('span', { class: 'sep', 'aria-hidden': 'true' }, '›'));
      const label = i === 0 ? 'all' : this.labels[i];
      if (k === path.length - 1) this.crumbs.append(el('span', { class: 'crumb current', title: label }, label));
      else this.crumbs.append(el('button', { class: 'crumb', type: 'button', title: label, onclick: () => this.focus(i) }, label));
    });
    this.resetBtn.disabled = this.focusIdx === 0;
  }

  // ---- drawing ----

  render() {
    const t0 = performance.now();
    const cssW = Math.max(100, this.stage.clientWidth || 800);
    const rows = this.n ? this.maxDepth + 1 : 1;
    const cssH = Math.min(32000, rows * ROW + 2);
    const dpr = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(cssW * dpr) || this.canvas.height !== Math.round(cssH * dpr)) {
      this.canvas.width = Math.round(cssW * dpr);
      this.canvas.height = Math.round(cssH * dpr);
      this.canvas.style.height = cssH + 'px';
    }
    this.cssW = cssW;
    const ctx = this.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    if (!this.n || !(this.w[0] > 0)) { this.lastRenderMs = performance.now() - t0; return; }
    ctx.font = FONT;
    ctx.textBaseline = 'middle';
    if (!this.charW) this.charW = ctx.measureText('abcdefghijklmnopqrstuvwxyz_.ABCDEF').width / 34;
    const [v0, v1] = this.view;
    const scale = cssW / (v1 - v0);
    const { n, x, w, depth, end, labels, colors, hatch } = this;
    const mark = this.matches || this.hl;
    const fdepth = this.depth[this.focusIdx];
    let drawn = 0;
    const texts = [];
    for (let i = 0; i < n;) {
      let px0 = (x[i] - v0) * scale;
      let px1 = px0 + w[i] * scale;
      if (px1 - px0 < MIN_PX || px1 < 0 || px0 > cssW) { i = end[i]; continue; }
      if (px0 < 0) px0 = 0;
      if (px1 > cssW) px1 = cssW;
      const y = depth[i] * ROW;
      const bw = px1 - px0;
      let fill = colors[i];
      if (mark && !mark[i]) fill = DIM_COLOR;
      else if (mark && mark[i] && this.matches) fill = MATCH_COLOR;
      if (depth[i] < fdepth && i !== this.focusIdx) fill = mark ? DIM_COLOR : fill; // ancestors of the focus
      ctx.fillStyle = fill;
      ctx.fillRect(px0, y, bw > 2 ? bw - 1 : bw, ROW - 1);
      if (hatch[i] && bw > 3) {
        if (!this.hatchPattern) this.hatchPattern = makeHatch(ctx);
        ctx.fillStyle = this.hatchPattern;
        ctx.fillRect(px0, y, bw - 1, ROW - 1);
      }
      if (i === this.hover) {
        ctx.strokeStyle = '#212529';
        ctx.lineWidth = 1;
        ctx.strokeRect(px0 + 0.5, y + 0.5, Math.max(1, bw - 2), ROW - 2);
      }
      if (bw > 28) texts.push(i, px0, bw, y, fill === MATCH_COLOR ? 1 : 0);
      drawn++;
      i++;
    }
    for (let k = 0; k < texts.length; k += 5) {
      const i = texts[k], px0 = texts[k + 1], bw = texts[k + 2], y = texts[k + 3];
      const max = Math.floor((bw - 8) / this.charW);
      if (max < 2) continue;
      let s = i === 0 ? 'all' : labels[i];
      if (s.length > max) s = s.slice(0, max - 1) + '…';
      ctx.fillStyle = texts[k + 4] ? '#ffffff' : '#1f2328';
      ctx.fillText(s, px0 + 4, y + ROW / 2);
    }
    this.lastDrawn = drawn;
    this.lastRenderMs = performance.now() - t0;
    if (!firstDrawMarked && drawn) {
      // Once per page: the first flame graph with boxes on the canvas (bench/console_load.mjs).
      firstDrawMarked = true;
      performance.mark('fw-flame-first-draw');
    }
  }

  // ---- interaction ----

  nodeAt(px, py) {
    if (!this.n) return -1;
    const row = Math.floor(py / ROW);
    const [v0, v1] = this.view;
    const v = v0 + (px / this.cssW) * (v1 - v0);
    let i = 0;
    if (!(v >= this.x[0] && v < this.x[0] + this.w[0])) return -1;
    while (this.depth[i] < row) {
      let found = -1;
      for (let j = i + 1; j < this.end[i]; j = this.end[j]) {
        if (v >= this.x[j] && v < this.x[j] + this.w[j]) { found = j; break; }
      }
      if (found < 0) return -1;
      i = found;
    }
    return this.depth[i] === row ? i : -1;
  }

  setHover(i) {
    if (i === this.hover) return;
    this.hover = i;
    this.render();
  }

  onMove(e) {
    const r = this.canvas.getBoundingClientRect();
    const i = this.nodeAt(e.clientX - r.left, e.clientY - r.top);
    this.setHover(i);
    if (i < 0) { this.tip.hidden = true; this.canvas.style.cursor = ''; return; }
    this.canvas.style.cursor = 'pointer';
    const d = this.nodes[i];
    const rows = this.opts.tooltip ? this.opts.tooltip(d, i) : this.defaultTooltip(d, i);
    clear(this.tip);
    this.tip.append(el('div', { class: 'fg-tip-title' }, i === 0 ? 'all (the whole profile)' : d.name));
    if (d.file) this.tip.append(el('div', { class: 'fg-tip-file' }, d.line ? `${d.file}:${d.line}` : d.file));
    const tbl = el('table', {}, rows.map(([k, v, cls]) => el('tr', {}, el('th', {}, k), el('td', { class: cls || '' }, v))));
    this.tip.append(tbl);
    this.tip.hidden = false;
    const sr = this.stage.getBoundingClientRect();
    let left = e.clientX - sr.left + 14, top = e.clientY - sr.top + 14;
    const tw = this.tip.offsetWidth, th = this.tip.offsetHeight;
    if (left + tw > sr.width) left = Math.max(0, e.clientX - sr.left - tw - 14);
    if (top + th > sr.height && top - th - 28 > 0) top = top - th - 28;
    this.tip.style.left = left + 'px';
    this.tip.style.top = top + 'px';
  }

  defaultTooltip(d) {
    const root = this.w[0] || 1;
    return [
      ['Self', `${fmtValue(d.self, this.unit)} (${fmtPct(d.self / root)})`],
      ['Total', `${fmtValue(d.total, this.unit)} (${fmtPct(d.total / root)})`],
      ['Samples', String(d.countTotal ?? '–')],
    ];
  }

  onClick(e) {
    const r = this.canvas.getBoundingClientRect();
    const i = this.nodeAt(e.clientX - r.left, e.clientY - r.top);
    if (i >= 0) this.focus(i === this.focusIdx ? Math.max(0, this.parent[i]) : i);
  }
}

function makeHatch(ctx) {
  const c = document.createElement('canvas');
  c.width = 6; c.height = 6;
  const g = c.getContext('2d');
  g.strokeStyle = 'rgba(73,80,87,0.45)';
  g.lineWidth = 1;
  g.beginPath();
  g.moveTo(0, 6); g.lineTo(6, 0);
  g.moveTo(-1, 1); g.lineTo(1, -1);
  g.moveTo(5, 7); g.lineTo(7, 5);
  g.stroke();
  return ctx.createPattern(c, 'repeat');
}
