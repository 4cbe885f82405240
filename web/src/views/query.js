// Query page: metadata, range, filters, trend, then the flame graph and/or table, View SQL,
// the server's analysis, a clicked function's detail analysis, and the question box.

import { el, clear, fmtValue, fmtPct, debounce } from '../util.js';
import { api, filtersToLabels } from '../api.js';
import { setState, sameFilters } from '../state.js';
import { Controls, card, segmented } from '../components/controls.js';
import { TrendChart } from '../components/trend.js';
import { FlameGraph } from '../components/flamegraph.js';
import { DataTable, fnCell } from '../components/table.js';
import { showSql } from '../components/sqlview.js';
import { renderAnalysis, renderDetail, questionBox } from '../components/analysis.js';
import { rangeLabel } from '../components/timerange.js';
import { downloadMenu } from '../components/download.js';

const MAX_NODES = 20000;

export function mountQuery(container) {
  const root = el('div', { class: 'page page-query' });
  container.append(root);
  let state = null;
  let data = {};
  let gen = 0;

  const controls = new Controls(root, { onReload: () => load(state) });

  const trendCard = card('Trend');
  const trend = new TrendChart(trendCard.body, { onZoom: (a, b) => setState({ from: String(a), to: String(b) }) });
  trendCard.head.querySelector('.card-tools').append(el('span', { class: 'muted small' }, 'Drag across the chart to zoom into a range'));

  const modeSeg = segmented([['flame', 'Flame graph'], ['table', 'Table'], ['both', 'Table + Flame graph']], 'both',
    (mode) => setState({ mode }, { replace: false }), 'Display mode');
  const granSeg = segmented([['function', 'Function'], ['line', 'Line']], 'function', (gran) => setState({ gran }), 'Granularity');
  const sqlBtn = el('button', { type: 'button', class: 'btn', onclick: () => openSql() }, 'View SQL');
  const analysisBtn = el('button', { type: 'button', class: 'btn', onclick: () => analysisCard.root.scrollIntoView({ behavior: 'smooth', block: 'start' }) }, 'Analysis');
  // What is on screen, for the Download menu: the same parameters as the flame graph request.
  const viewParams = () => (state && data.flame ? {
    app: state.app, type: state.type, from: state.from, to: state.to, label: filtersToLabels(state.filters),
    granularity: state.gran, maxNodes: MAX_NODES,
  } : null);
  const dlMenu = downloadMenu(viewParams, (msg) => resultCard.message('error', msg));
  const resultCard = card('Profile', granSeg, modeSeg, sqlBtn, dlMenu, analysisBtn);
  const summary = el('div', { class: 'summary muted' });
  const tableBox = el('div', { class: 'pane pane-table' });
  const flameBox = el('div', { class: 'pane pane-flame' });
  const panes = el('div', { class: 'panes mode-both' }, tableBox, flameBox);
  resultCard.body.append(summary, panes);

  const fg = new FlameGraph(flameBox, {
    label: (d) => labelFor(d, state && state.gran),
    onSearch: debounce((q) => setState({ search: q }, { replace: true }), 300),
    onFocus: (i) => showDetail(i > 0 && fg.nodes && fg.nodes[i] && !fg.nodes[i].other ? fg.nodes[i].name : null),
  });
  const table = new DataTable(tableBox, [
    { key: 'name', label: 'Function', value: (r) => r.name, text: fnCell, num: false },
    { key: 'self', label: 'Self', value: (r) => r.self, text: (r) => fmtValue(r.self, data.unit), num: true },
    { key: 'selfPct', label: 'Self %', value: (r) => r.self, text: (r) => fmtPct(r.self / (data.total || 1)), num: true },
    { key: 'total', label: 'Total', value: (r) => r.total, text: (r) => fmtValue(r.total, data.unit), num: true },
    { key: 'totalPct', label: 'Total %', value: (r) => r.total, text: (r) => fmtPct(r.total / (data.total || 1)), num: true },
  ], { sortKey: 'self', onRowClick: (r) => fg.setHighlight(r ? { name: r.name, file: r.file } : null) });

  const analysisCard = card('Analysis');
  analysisCard.head.querySelector('.card-tools').append(el('span', { class: 'muted small' }, 'Findings of the server\'s analysis (GET /api/v1/analysis)'));
  const detailCard = card('Function detail');
  detailCard.root.classList.add('detail-card');
  detailCard.root.hidden = true;
  const askCard = card('Ask a question');
  const qbox = questionBox(() => queryParams(state));
  askCard.body.append(qbox.root);

  const emptyBox = el('div', { class: 'empty-page', hidden: true });
  root.append(emptyBox, trendCard.root, resultCard.root, detailCard.root, askCard.root, analysisCard.root);

  function queryParams(s) {
    return { app: s.app, type: s.type, from: s.from, to: s.to, labels: filtersToLabels(s.filters).join(',') };
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
      const res = await api.analysis({ app: state.app, type: state.type, from: state.from, to: state.to, label: filtersToLabels(state.filters), focus: name });
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

  function openSql() {
    const src = [];
    if (data.flame) src.push({ title: 'Flame graph', sql: data.flame.sql });
    if (data.table) src.push({ title: 'Table', sql: data.table.sql });
    if (data.trend) src.push({ title: 'Trend', sql: data.trend.sql });
    if (controls.labelsSql) src.push({ title: 'Labels', sql: controls.labelsSql });
    if (!src.length) src.push({ title: 'SQL', sql: 'SELECT app, type FROM series' });
    showSql(src);
  }

  function applyMode(mode) {
    modeSeg.setValue(mode);
    panes.className = 'panes mode-' + mode;
    tableBox.hidden = mode === 'flame';
    flameBox.hidden = mode === 'table';
    if (mode !== 'table') requestAnimationFrame(() => fg.render());
  }

  function showEmpty(show, ...content) {
    emptyBox.hidden = !show;
    clear(emptyBox).append(...content);
    trendCard.root.hidden = show;
    resultCard.root.hidden = show;
    analysisCard.root.hidden = show;
    askCard.root.hidden = show;
    if (show) detailCard.root.hidden = true;
  }

  async function load(s) {
    if (!s || !s.app) return;
    const my = ++gen;
    const p = { app: s.app, type: s.type, from: s.from, to: s.to, label: filtersToLabels(s.filters) };
    for (const c of [trendCard, resultCard, analysisCard]) { c.loading(true); c.message('loading', 'Loading…'); }
    const settle = async (promise, onOk, c) => {
      try {
        const r = await promise;
        if (my !== gen) return null;
        onOk(r);
        c.message(null);
        return r;
      } catch (e) {
        if (my !== gen) return null;
        c.message('error', e.message);
        return null;
      } finally {
        if (my === gen) c.loading(false);
      }
    };
    const tP = settle(api.trend(p), (r) => {
      data.trend = r;
      trend.set([{ label: `${s.app} ${s.type}`, color: '#e8590c', fill: 'rgba(232,89,12,0.10)', points: r.points }], r.unit, r.step,
        { message: r.total ? '' : 'No samples in this range.' });
    }, trendCard);
    const fP = api.flamegraph({ ...p, maxNodes: MAX_NODES, granularity: s.gran });
    const tbP = api.table({ ...p, granularity: s.gran, sort: 'self', limit: 5000 });
    const aP = api.analysis(p);
    aP.catch(() => {}); // shown below
    const both = Promise.all([fP, tbP]);
    const r = await settle(both, ([f, t]) => {
      data.flame = f; data.table = t;
      data.unit = f.unit; data.total = f.total;
      fg.setData(f.nodes, f.unit);
      fg.setSearch(s.search, false);
      table.setRows(t.rows);
      summary.textContent = f.total
        ? `${rangeLabel(s.from, s.to)} · total ${fmtValue(f.total, f.unit)} · ${f.nodes.length.toLocaleString()} nodes${Object.keys(s.filters).length ? ' · filtered' : ''}`
        : '';
      panes.hidden = !f.total;
      if (!f.total) resultCard.message('empty', 'No samples match this application, type, range and filters. Widen the time range or clear the filters.');
    }, resultCard);
    if (!r && my === gen) { panes.hidden = true; summary.textContent = ''; }
    if (r && !r[0].total) resultCard.message('empty', 'No samples match this application, type, range and filters. Widen the time range or clear the filters.');
    await tP;
    if (my !== gen) return;
    try {
      const a = await aP;
      if (my !== gen) return;
      renderAnalysis(analysisCard.body, a, { onFocus: (name) => { setState({ search: name }); showDetail(name); } });
      analysisCard.message(null);
    } catch (e) {
      if (my !== gen) return;
      clear(analysisCard.body);
      analysisCard.message('error', e.message);
    } finally {
      if (my === gen) analysisCard.loading(false);
    }
  }

  let loaded = false;
  let pending = null;

  function update(s, prev) {
    if (!controls.ensureSelection(s)) return; // it replaced the state; we are called again
    showEmpty(false);
    state = s;
    controls.update(s, prev);
    applyMode(s.mode);
    granSeg.setValue(s.gran);
    const reload = !prev || prev.app !== s.app || prev.type !== s.type || prev.from !== s.from || prev.to !== s.to
      || prev.gran !== s.gran || !sameFilters(prev.filters, s.filters) || !data.flame;
    if (reload) load(s);
    else if (prev.search !== s.search) fg.setSearch(s.search, false);
  }

  (async () => {
    try {
      await controls.loadApps();
    } catch (e) {
      controls.bar.hidden = controls.filterBar.hidden = true;
      showEmpty(true, el('div', { class: 'error-box', role: 'alert' }, e.message));
      return;
    }
    loaded = true;
    if (!controls.apps.length) {
      controls.bar.hidden = controls.filterBar.hidden = true;
      showEmpty(true, noProfiles());
      return;
    }
    update(pending, null);
  })();

  return {
    update(s, prev) {
      pending = s;
      if (loaded && controls.apps.length) update(s, prev);
    },
    destroy() { controls.destroy(); trend.destroy(); fg.destroy(); root.remove(); },
    fg, table,
  };
}

export function noProfiles() {
  return el('div', { class: 'empty-state' }, el('h2', {}, 'No profiles yet'),
    el('p', {}, 'No application has sent profiles to this server yet. Profile a Python program with the agent and upload what it writes:'),
    el('pre', {}, `flamewatch run --app shop --output profiles -- python app.py
for f in profiles/*.pprof.gz; do
  curl -s --data-binary @"$f" '${location.origin}/ingest?name=shop&format=pprof'
done`),
    el('p', {}, 'Any Pyroscope-compatible client can send pprof or folded profiles to ', el('code', {}, 'POST /ingest'), ' too (see docs/API.md).'));
}

export function labelFor(d, gran) {
  if (gran === 'line' && d.line) return `${d.name}:${d.line}`;
  return d.name;
}
