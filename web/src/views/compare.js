// Comparison page: the current range against the same range N hours earlier. Trend of both,
// flame graphs side by side (Simple) or one diff flame graph (Blended), a diff table,
// View SQL, the server's analysis of the difference, a clicked function's detail (its change,
// callers, callees and the label values it comes from) and the question box.

import { el, clear, fmtValue, fmtPct, fmtSignedPct } from '../util.js';
import { api, filtersToLabels } from '../api.js';
import { setState, sameFilters } from '../state.js';
import { Controls, card, segmented } from '../components/controls.js';
import { TrendChart } from '../components/trend.js';
import { FlameGraph, diffColor, DIFF_NEUTRAL, DIFF_RED, DIFF_BLUE } from '../components/flamegraph.js';
import { DataTable, fnCell } from '../components/table.js';
import { showSql } from '../components/sqlview.js';
import { renderAnalysis, renderDetail, questionBox } from '../components/analysis.js';
import { resolveTime } from '../components/timerange.js';
import { noProfiles, labelFor } from './query.js';

const MAX_NODES = 20000;

// Same step for both ranges, so point k of the baseline lines up with point k of now.
function pickStep(span) {
  for (const st of [10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]) if (span / st <= 240) return st;
  return 86400;
}

export function mountCompare(container) {
  const root = el('div', { class: 'page page-compare' });
  container.append(root);
  let state = null, data = {}, gen = 0;

  const hoursIn = el('input', { type: 'number', min: '1', max: '168', step: '1', class: 'hours-input', 'aria-label': 'Past hours',
    onchange: () => commitHours() });
  const hoursErr = el('span', { class: 'inline-error', role: 'alert' });
  const commitHours = () => {
    const n = Number(hoursIn.value);
    if (!Number.isInteger(n) || n < 1 || n > 168) { hoursErr.textContent = 'N must be a whole number of hours from 1 to 168 (7 days).'; return; }
    hoursErr.textContent = '';
    setState({ hours: String(n) });
  };
  const hoursBox = el('label', { class: 'hours' }, 'vs. the same range', hoursIn, 'hours earlier', hoursErr);
  const controls = new Controls(root, { onReload: () => load(state), extra: hoursBox });

  const trendCard = card('Trend: current vs. baseline');
  const trend = new TrendChart(trendCard.body, { onZoom: (a, b) => setState({ from: String(a), to: String(b) }) });

  const modeSeg = segmented([['simple', 'Simple'], ['blended', 'Blended']], 'blended', (cmode) => setState({ cmode }), 'Comparison mode');
  const sqlBtn = el('button', { type: 'button', class: 'btn', onclick: () => openSql() }, 'View SQL');
  const flameCard = card('Flame graphs', modeSeg, sqlBtn);
  const legend = el('div', { class: 'diff-legend' },
    el('span', { class: 'legend-item' }, el('i', { class: 'swatch', style: { background: DIFF_BLUE } }), 'smaller share now'),
    el('span', { class: 'legend-grad', style: { background: `linear-gradient(90deg, ${DIFF_BLUE}, ${DIFF_NEUTRAL}, ${DIFF_RED})` } }),
    el('span', { class: 'legend-item' }, el('i', { class: 'swatch', style: { background: DIFF_RED } }), 'larger share now'),
    el('span', { class: 'legend-item' }, el('i', { class: 'swatch hatch' }), 'change within sampling noise (not significant)'),
    el('span', { class: 'muted small' }, 'Width: average share of both ranges.'));
  const simpleBox = el('div', { class: 'side-by-side' });
  const baseBox = el('div', { class: 'pane' }), cmpBox = el('div', { class: 'pane' });
  const baseTitle = el('h3', { class: 'pane-title' }), cmpTitle = el('h3', { class: 'pane-title' });
  simpleBox.append(el('div', {}, baseTitle, baseBox), el('div', {}, cmpTitle, cmpBox));
  const blendedBox = el('div', { class: 'blended' }, legend);
  flameCard.body.append(simpleBox, blendedBox);
  const fgBase = new FlameGraph(baseBox, { label: (d) => labelFor(d, state && state.gran) });
  const fgCmp = new FlameGraph(cmpBox, { label: (d) => labelFor(d, state && state.gran) });
  const fgDiff = new FlameGraph(blendedBox, {
    label: (d) => labelFor(d, state && state.gran),
    width: (d) => (d.baseShare + d.cmpShare) / 2,
    onFocus: (i) => showDetail(i > 0 && fgDiff.nodes && fgDiff.nodes[i] && !fgDiff.nodes[i].other ? fgDiff.nodes[i].name : null),
    color: (d, i) => (i === 0 ? '#c7ccd4' : d.significant ? diffColor(relChange(d)) : (Math.abs(relChange(d)) < 0.02 ? DIFF_NEUTRAL : diffColor(relChange(d) * 0.35))),
    hatch: (d, i) => i > 0 && !d.significant && Math.abs(relChange(d)) >= 0.02,
    tooltip: (d) => [
      ['Baseline', `${fmtValue(d.baseTotal, data.unit)} (${fmtPct(d.baseShare)})`],
      ['Now', `${fmtValue(d.cmpTotal, data.unit)} (${fmtPct(d.cmpShare)})`],
      ['Change', fmtSignedPct(d.cmpShare - d.baseShare), d.cmpShare > d.baseShare ? 'up' : d.cmpShare < d.baseShare ? 'down' : ''],
      ['Self', `${fmtValue(d.baseSelf, data.unit)} → ${fmtValue(d.cmpSelf, data.unit)}`],
      ['Significance', d.significant ? `significant (z = ${(d.z || 0).toFixed(1)})` : `within noise (z = ${(d.z || 0).toFixed(1)})`],
    ],
  });

  const tableCard = card('Diff table');
  const table = new DataTable(tableCard.body, [
    { key: 'name', label: 'Function', value: (r) => r.name, text: fnCell, num: false },
    { key: 'bs', label: 'Baseline self', value: (r) => r.bs, text: (r) => `${fmtValue(r.bv, data.unit)} · ${fmtPct(r.bs)}`, num: true },
    { key: 'cs', label: 'Comparison self', value: (r) => r.cs, text: (r) => `${fmtValue(r.cv, data.unit)} · ${fmtPct(r.cs)}`, num: true },
    { key: 'd', label: 'Difference', value: (r) => r.d, text: (r) => fmtSignedPct(r.d), num: true, cls: (r) => (r.d > 0.0005 ? 'up' : r.d < -0.0005 ? 'down' : '') },
    { key: 'bt', label: 'Baseline total', value: (r) => r.bt, text: (r) => fmtPct(r.bt), num: true },
    { key: 'ct', label: 'Comparison total', value: (r) => r.ct, text: (r) => fmtPct(r.ct), num: true },
  ], { sortKey: 'd', onRowClick: (r) => { const f = r ? { name: r.name, file: r.file } : null; fgDiff.setHighlight(f); fgBase.setHighlight(f); fgCmp.setHighlight(f); } });

  const analysisCard = card('Analysis of the difference');
  const detailCard = card('Function detail');
  detailCard.root.classList.add('detail-card');
  detailCard.root.hidden = true;
  const askCard = card('Ask a question');
  const qbox = questionBox(() => ({ ...rangeParams(state), labels: filtersToLabels(state.filters).join(','), baselineHours: Number(state.hours) || 24 }),
    { placeholder: 'Ask: what grew? where does the growth of checkout come from? which host uses the most CPU?' });
  askCard.body.append(qbox.root);
  const emptyBox = el('div', { class: 'empty-page', hidden: true });
  root.append(emptyBox, trendCard.root, flameCard.root, detailCard.root, askCard.root, tableCard.root, analysisCard.root);

  // The comparison's current range in seconds (the baseline is it, N hours earlier).
  function rangeParams(s) {
    return { app: s.app, type: s.type, from: resolveTime(s.from), to: resolveTime(s.to) };
  }

  let detailGen = 0;
  async function showDetail(name) {
    const my = ++detailGen;
    if (!name || !state) { detailCard.root.hidden = true; return; }
    detailCard.root.hidden = false;
    detailCard.head.querySelector('h2').textContent = `Function detail: ${name}`;
    detailCard.loading(true);
    detailCard.message('loading', 'Analysing…');
    try {
      const res = await api.analysis({ ...rangeParams(state), label: filtersToLabels(state.filters), baselineHours: Number(state.hours) || 24, focus: name });
      if (my !== detailGen) return;
      renderDetail(detailCard.body, res);
      detailCard.message(null);
    } catch (e) {
      if (my !== detailGen) return;
      clear(detailCard.body);
      detailCard.message('error', e.message);
    } finally {
      if (my === detailGen) detailCard.loading(false);
    }
  }

  function relChange(d) {
    const m = Math.max(d.baseShare, d.cmpShare);
    return m > 0 ? (d.cmpShare - d.baseShare) / m : 0;
  }

  function openSql() {
    const src = [];
    if (data.diff) src.push({ title: 'Diff', sql: data.diff.sql });
    if (data.cmpTable) src.push({ title: 'Comparison table', sql: data.cmpTable.sql });
    if (data.baseTable) src.push({ title: 'Baseline table', sql: data.baseTable.sql });
    if (data.cmpTrend) src.push({ title: 'Trend', sql: data.cmpTrend.sql });
    if (!src.length) src.push({ title: 'SQL', sql: 'SELECT app, type FROM series' });
    showSql(src);
  }

  function applyMode(m) {
    modeSeg.setValue(m);
    simpleBox.hidden = m !== 'simple';
    blendedBox.hidden = m !== 'blended';
    requestAnimationFrame(() => { fgBase.render(); fgCmp.render(); fgDiff.render(); });
  }

  async function load(s) {
    if (!s || !s.app) return;
    const my = ++gen;
    const hours = Number(s.hours) || 24;
    const from = resolveTime(s.from), to = resolveTime(s.to);
    const shift = hours * 3600;
    const labels = filtersToLabels(s.filters);
    const cur = { app: s.app, type: s.type, from, to, label: labels };
    const base = { app: s.app, type: s.type, from: from - shift, to: to - shift, label: labels };
    baseTitle.textContent = `Baseline: ${hours} h earlier`;
    cmpTitle.textContent = 'Comparison: the selected range';
    const cards = [trendCard, flameCard, tableCard, analysisCard];
    for (const c of cards) { c.loading(true); c.message('loading', 'Loading…'); }
    try {
      const step = pickStep(to - from);
      const [ct, bt, diff, cTab, bTab, cF, bF, an] = await Promise.all([
        api.trend({ ...cur, step }), api.trend({ ...base, step }),
        api.diff({ ...cur, baseFrom: base.from, baseTo: base.to, maxNodes: MAX_NODES, granularity: s.gran }),
        api.table({ ...cur, granularity: s.gran, limit: 5000 }), api.table({ ...base, granularity: s.gran, limit: 5000 }),
        api.flamegraph({ ...cur, granularity: s.gran, maxNodes: MAX_NODES }), api.flamegraph({ ...base, granularity: s.gran, maxNodes: MAX_NODES }),
        api.analysis({ ...cur, baselineHours: hours }),
      ]);
      if (my !== gen) return;
      data = { cmpTrend: ct, baseTrend: bt, diff, cmpTable: cTab, baseTable: bTab, unit: diff.unit || cTab.unit };
      for (const c of cards) { c.loading(false); c.message(null); }
      // Trend: the baseline drawn on the current time axis.
      trend.set([
        { label: 'Now', color: '#e8590c', fill: 'rgba(232,89,12,0.08)', points: ct.points },
        { label: `${hours} h earlier`, color: '#5c7cfa', dash: [5, 4], points: ct.points.map((p, k) => ({ t: p.t, value: k < bt.points.length ? bt.points[k].value : null })) },
      ], ct.unit, ct.step || step, { message: ct.total || bt.total ? '' : 'No samples in either range.' });
      fgBase.setData(bF.nodes, bF.unit);
      fgCmp.setData(cF.nodes, cF.unit);
      fgDiff.setData(diff.nodes, diff.unit);
      const bTot = bTab.total || 0, cTot = cTab.total || 0;
      const key = (r) => `${r.name}\u0000${r.file || ''}\u0000${r.line || 0}`;
      const m = new Map();
      for (const r of bTab.rows) m.set(key(r), { name: r.name, file: r.file, line: r.line, bv: r.self, bs: bTot ? r.self / bTot : 0, bt: bTot ? r.total / bTot : 0, cv: 0, cs: 0, ct: 0 });
      for (const r of cTab.rows) {
        const k = key(r);
        const x = m.get(k) || { name: r.name, file: r.file, line: r.line, bv: 0, bs: 0, bt: 0 };
        Object.assign(x, { cv: r.self, cs: cTot ? r.self / cTot : 0, ct: cTot ? r.total / cTot : 0 });
        m.set(k, x);
      }
      const rows = [...m.values()];
      for (const r of rows) r.d = r.cs - r.bs;
      table.setRows(rows);
      if (!bTot && !cTot) flameCard.message('empty', 'Neither range has samples for this application, type and filters.');
      else if (!bTot) flameCard.message('empty', `No baseline: nothing was recorded ${hours} h before this range. Try a smaller N.`);
      renderAnalysis(analysisCard.body, an, { onFocus: (name) => { const f = { name }; fgDiff.setHighlight(f); fgBase.setHighlight(f); fgCmp.setHighlight(f); showDetail(name); } });
    } catch (e) {
      if (my !== gen) return;
      for (const c of cards) { c.loading(false); c.message('error', e.message); }
    }
  }

  let loaded = false, pending = null;
  function update(s, prev) {
    if (!controls.ensureSelection(s)) return;
    emptyBox.hidden = true;
    state = s;
    controls.update(s, prev);
    if (document.activeElement !== hoursIn) hoursIn.value = s.hours;
    applyMode(s.cmode);
    const reload = !prev || prev.app !== s.app || prev.type !== s.type || prev.from !== s.from || prev.to !== s.to
      || prev.gran !== s.gran || prev.hours !== s.hours || !sameFilters(prev.filters, s.filters) || !data.diff;
    if (reload) load(s);
  }

  (async () => {
    try {
      await controls.loadApps();
    } catch (e) {
      controls.bar.hidden = controls.filterBar.hidden = true;
      emptyBox.hidden = false;
      clear(emptyBox).append(el('div', { class: 'error-box', role: 'alert' }, e.message));
      for (const c of [trendCard, flameCard, tableCard, analysisCard, askCard, detailCard]) c.root.hidden = true;
      return;
    }
    loaded = true;
    if (!controls.apps.length) {
      controls.bar.hidden = controls.filterBar.hidden = true;
      emptyBox.hidden = false;
      clear(emptyBox).append(noProfiles());
      for (const c of [trendCard, flameCard, tableCard, analysisCard, askCard, detailCard]) c.root.hidden = true;
      return;
    }
    update(pending, null);
  })();

  return {
    update(s, prev) { pending = s; if (loaded && controls.apps.length) update(s, prev); },
    destroy() { controls.destroy(); trend.destroy(); fgBase.destroy(); fgCmp.destroy(); fgDiff.destroy(); root.remove(); },
  };
}
