// Browser tests of comparison, analysis, the question box, untrusted text, display modes and
// URLs, settings, empty and error states, downloads and the 50,000-node render benchmark. Each is
// [name, fn, opts], run by run.mjs after tests_views.mjs's.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { OUT, log, check, openQuery, url, shot, idle, TOL_SHARE, truthPct, drawn, hoverBox, hoverTrend, withSamples, search, spread, near, rowsOf } from './lib.mjs';

export const TESTS = [
  ['comparison of version 2 with version 1: the regression in red and significant, the improvement in blue, diff table, analysis, simple mode', async (page, { base, truth }) => {
    const trends = [];
    page.on('response', (r) => { if (r.url().includes('/api/v1/trend')) trends.push(r.json()); });
    await page.goto(`${base}/?page=compare&app=shop&type=cpu&hours=1`);
    await page.waitForSelector('.page-compare .findings', { timeout: 20000 });
    await idle(page);
    // The trend of both ranges: each adds up to the CPU of its version.
    const [cur, past] = (await Promise.all(trends)).sort((a, b) => b.from - a.from);
    const [now, before] = (await hoverTrend(page, '.page-compare', cur.points, withSamples(cur.points, past.points))).map((c) => c * cur.step);
    spread.push(`compare trend now ${now.toFixed(2)}/${truth.v2.cpu_total.toFixed(2)} s, 1 h earlier ${before.toFixed(2)}/${truth.v1.cpu_total.toFixed(2)} s`);
    for (const [what, got, want] of [['now', now, truth.v2.cpu_total], ['1 h earlier', before, truth.v1.cpu_total]]) {
      check(Math.abs(got - want) <= 0.1 * want + 3 * 0.005 * cur.step, `trend ${what}: the chart shows ${got.toFixed(2)} s, the workload used ${want.toFixed(2)} s`);
    }
    check(await page.locator('.diff-legend').isVisible(), 'no legend');
    check(/sampling noise/.test(await page.locator('.diff-legend').innerText()), 'legend lacks the not-significant marker');
    // The diff table, sorted by the difference: Cart.total first, by about what was measured.
    const first = (await rowsOf(page, '.page-compare .tbl'))[0];
    check(/^Cart\.total/.test(first[0]), 'diff table first row: ' + first);
    const want = truthPct(truth.v2, 'Cart.total') - truthPct(truth.v1, 'Cart.total');
    const dm = /([+−±])([\d.]+) pp/.exec(first[3]);
    check(dm && dm[1] === '+', 'difference: ' + first[3]);
    near('Cart.total difference (diff table)', Number(dm[2]), want, TOL_SHARE);
    const analysis = await page.locator('.page-compare .findings').innerText();
    check(/Cart\.total got worse[^\n]*\n[^\n]*significant \(z =/.test(analysis), 'analysis: ' + analysis.slice(0, 400));
    check(/(JSONEncoder\.iterencode|render_json|dumps|JSONEncoder\.encode) improved/.test(analysis), 'analysis misses the improvement: ' + analysis.slice(0, 400));
    // Each finding names one function: the same name in two files (re's two _compile) is told apart.
    const named = [...analysis.matchAll(/^(.+) (?:got worse|improved): /gm)].map((m) => m[1]);
    check(new Set(named).size === named.length, 'two findings with the same function label: ' + named);
    // Blended: a click on the table row highlights Cart.total; its boxes are red, and the tooltip
    // says the growth is significant.
    await page.click('.page-compare .tbl tbody tr:has-text("Cart.total")');
    await page.mouse.move(0, 0);
    const red = await drawn(page, '.blended canvas', 'lit');
    check(red.boxes.length >= 1 && red.boxes.every(({ rgb: [r, , b] }) => r - b > 80), 'Cart.total should be red: ' + JSON.stringify(red.boxes.slice(0, 3)));
    await hoverBox(page, '.blended canvas', red.boxes[0]);
    await page.waitForSelector('.blended .fg-tip:not([hidden])');
    const tip = await page.locator('.blended .fg-tip').innerText();
    check(/^Cart\.total/.test(tip) && /Change\s+\+/.test(tip) && /significant \(z = \d/.test(tip), 'diff tooltip: ' + tip);
    await shot(page, 'compare-blended.png');
    // render_json (smaller responses in version 2) is blue.
    await page.click('.page-compare .tbl tbody tr:has-text("render_json")');
    await page.mouse.move(0, 0);
    const blue = await drawn(page, '.blended canvas', 'lit');
    check(blue.boxes.length >= 1 && blue.boxes.every(({ rgb: [r, , b] }) => b - r > 80), 'render_json should be blue: ' + JSON.stringify(blue.boxes.slice(0, 3)));
    // Simple: two flame graphs side by side, Cart.total at its width in each version.
    await page.click('.seg-btn[data-value="simple"]');
    await page.waitForFunction(() => !document.querySelector('.side-by-side').hidden);
    check(url(page).searchParams.get('cmode') === 'simple', 'cmode not in URL');
    check(await page.locator('.side-by-side canvas').count() === 2, 'simple mode should show two flame graphs');
    await page.click('.page-compare .tbl tbody tr:has-text("Cart.total")');
    await page.mouse.move(0, 0);
    const base1 = await drawn(page, '.side-by-side canvas', 'lit', 0);
    const cmp2 = await drawn(page, '.side-by-side canvas', 'lit', 1);
    near('Cart.total width, baseline (v1)', base1.share, truthPct(truth.v1, 'Cart.total'), TOL_SHARE);
    near('Cart.total width, comparison (v2)', cmp2.share, truthPct(truth.v2, 'Cart.total'), TOL_SHARE);
    await shot(page, 'compare-simple.png');
    await page.click('button:has-text("View SQL")');
    await page.waitForSelector('dialog.sql-modal[open]');
    await page.click('button:has-text("Run query")');
    await page.waitForSelector('.sql-table tbody tr');
    await page.keyboard.press('Escape');
    // N is validated
    await page.fill('.hours-input', '0');
    await page.dispatchEvent('.hours-input', 'change');
    check(/1 to 168/.test(await page.locator('.hours .inline-error').innerText()), 'invalid N accepted');
  }],

  // The analysis is the server's (GET /api/v1/analysis, POST /api/v1/ask): the console shows what
  // the API returns, and a click on a node asks for that function's detail. (Same-named functions
  // of two files told apart: tests/analysis/test_compare.py, on the server.)
  ['analysis: findings from the API, a clicked node\'s detail analysis (callers, lines, trend)', async (page, { base, truth }) => {
    await openQuery(page, base);
    await idle(page);
    const api = await (await fetch(`${base}/api/v1/analysis?app=shop&type=cpu&from=now-15m&to=now`)).json();
    const titles = await page.locator('.page-query .findings .finding-title').allInnerTexts();
    check(titles.length === api.findings.length && titles.every((t, k) => t === api.findings[k].title), 'console findings differ from the API: ' + titles.join(' | '));
    for (const re of [/^Regular expression compilation/, /^Logging/, /^JSON serialization/]) check(titles.some((t) => re.test(t)), `no ${re} finding: ` + titles.join(' | '));
    // Click Cart.total's widest box: its detail analysis appears, with the API's numbers.
    await search(page, 'Cart.total');
    const box = (await drawn(page, '.pane-flame canvas', 'match')).boxes[0];
    const cb = await hoverBox(page, '.pane-flame canvas', box);
    await page.mouse.click(cb.x + (box.x0 + box.x1) / 2, cb.y + box.y);
    await page.waitForSelector('.detail-card:not([hidden]) [data-section="callers"]', { timeout: 15000 });
    await idle(page);
    const detail = await page.locator('.detail-card').innerText();
    const fg = await (await fetch(`${base}/api/v1/flamegraph?app=shop&type=cpu&from=now-15m&to=now&maxNodes=20000`)).json();
    const cart = fg.nodes.filter((n) => n.name === 'Cart.total').reduce((a, n) => a + n.total, 0);
    const pct = (100 * cart / fg.total).toFixed(1) + '%';
    check(detail.includes(`Function detail: Cart.total`) && detail.includes(`(${pct})`), `detail head lacks Cart.total's total share ${pct}: ` + detail.slice(0, 300));
    const callers = await page.locator('.detail-card [data-section="callers"]').innerText();
    check(/checkout/.test(callers), 'callers: ' + callers);
    const lines = await page.locator('.detail-card [data-section="lines"]').innerText();
    check(lines.includes(`shop.py:${truth.v2.hot_line}`), `hot line ${truth.v2.hot_line} not among the lines: ` + lines);
    check(await page.locator('.detail-card [data-section="trend"] tbody tr').count() >= 2, 'no trend rows');
    await page.locator('.detail-card').scrollIntoViewIfNeeded();
    await shot(page, 'analysis-detail.png');
    // The comparison: a click on Cart.total in the blended graph shows its change and where it comes from.
    await page.goto(`${base}/?page=compare&app=shop&type=cpu&hours=1`);
    await page.waitForSelector('.page-compare .findings', { timeout: 20000 });
    await idle(page);
    await page.click('.page-compare .finding-focus:has-text("Cart.total")');
    await page.waitForSelector('.page-compare .detail-card:not([hidden]) [data-section="labels"]', { timeout: 20000 });
    const labels = await page.locator('.page-compare .detail-card [data-section="labels"]').innerText();
    check(/endpoint=\/checkout/.test(labels), 'the change of Cart.total is not attributed to endpoint=/checkout: ' + labels);
    await shot(page, 'analysis-detail-compare.png');
  }],

  ['question box: answers with the numbers of the flame graph API, help for an unknown question', async (page, { base }) => {
    await openQuery(page, base);
    await idle(page);
    await page.fill('.page-query .ask-input', 'What uses the most CPU?');
    await page.click('.page-query .ask-form button[type="submit"]');
    await page.waitForSelector('.page-query .ask-answer .detail-table');
    const text = await page.locator('.page-query .ask-text').innerText();
    const tab = await (await fetch(`${base}/api/v1/table?app=shop&type=cpu&from=now-15m&to=now&sort=self&limit=1`)).json();
    const share = (100 * tab.rows[0].self / tab.total).toFixed(1) + '%';
    check(text.startsWith(`${tab.rows[0].name} uses the most CPU time`) && text.includes(share), `answer ${text} vs the table's ${tab.rows[0].name} ${share}`);
    check(await page.locator('.page-query .ask-answer a:has-text("Open the view")').count() === 1, 'no link to the view');
    check(await page.locator('.page-query .ask-answer button:has-text("SQL behind")').count() === 1, 'no SQL');
    await page.locator('.page-query .ask').scrollIntoViewIfNeeded();
    await shot(page, 'analysis-ask.png');
    await page.fill('.page-query .ask-input', 'what is the weather in Paris');
    await page.click('.page-query .ask-form button[type="submit"]');
    await page.waitForSelector('.page-query .ask-help li');
    check(await page.locator('.page-query .ask-help li').count() >= 10, 'the help lists too few questions');
    // A question on the comparison page.
    await page.goto(`${base}/?page=compare&app=shop&type=cpu&hours=1`);
    await page.waitForSelector('.page-compare .findings', { timeout: 20000 });
    await page.fill('.page-compare .ask-input', 'what grew?');
    await page.click('.page-compare .ask-form button[type="submit"]');
    await page.waitForSelector('.page-compare .ask-answer .detail-table');
    const grew = await page.locator('.page-compare .ask-text').innerText();
    check(/^Cart\.total got worse/.test(grew), 'what grew: ' + grew);
    await page.locator('.page-compare .ask').scrollIntoViewIfNeeded();
    await shot(page, 'analysis-ask-compare.png');
  }],

  ['untrusted text: HTML in a real thread name, function name, file name and tag value shows literally, no dialog', async (page, { base }) => {
    const XSS = '<img src=x onerror=alert(1)>', FILE = '/srv/<script>alert(2)</script>.py';
    await openQuery(page, base);
    const opts = await page.locator('select[data-key="thread_name"] option').allInnerTexts();
    check(opts.includes(XSS), 'thread name not listed literally: ' + opts);
    const teamOpts = await page.locator('select[data-key="team"] option').allInnerTexts();
    check(teamOpts.includes('<b>ops</b>'), 'tag value not listed literally: ' + teamOpts);
    await page.selectOption('select[data-key="team"]', '<b>ops</b>');
    await page.waitForFunction((x) => [...document.querySelectorAll('.pane-table tbody .fn-name')].some((e) => e.textContent === x), XSS);
    await idle(page);
    const files = await page.locator('.pane-table tbody .fn-file').allInnerTexts();
    check(files.some((f) => f.startsWith(FILE)), 'file name: ' + files);
    const injected = await page.evaluate(() => document.querySelectorAll('main img, main script, main b').length);
    check(injected === 0, `${injected} elements were injected from data`);
    await search(page, 'onerror');
    const box = (await drawn(page, '.pane-flame canvas', 'match')).boxes[0];
    await hoverBox(page, '.pane-flame canvas', box);
    await page.waitForSelector('.pane-flame .fg-tip:not([hidden])');
    const tip = await page.locator('.pane-flame .fg-tip').innerText();
    check(tip.includes(XSS) && tip.includes(FILE), 'tooltip not literal: ' + tip);
    await page.waitForTimeout(300); // give any injected handler a chance to fire
    await shot(page, 'xss.png');
  }],

  ['display modes, shareable URL, back/forward', async (page, { base }) => {
    await openQuery(page, base);
    const vis = () => page.evaluate(() => ({ table: !document.querySelector('.pane-table').hidden, flame: !document.querySelector('.pane-flame').hidden }));
    await page.click('.seg-btn[data-value="flame"]');
    let v = await vis();
    check(v.flame && !v.table && url(page).searchParams.get('mode') === 'flame', 'flame mode: ' + JSON.stringify(v));
    await shot(page, 'mode-flame.png');
    await page.click('.seg-btn[data-value="table"]');
    v = await vis();
    check(!v.flame && v.table && url(page).searchParams.get('mode') === 'table', 'table mode: ' + JSON.stringify(v));
    await shot(page, 'mode-table.png');
    await page.goBack();
    await page.waitForFunction(() => new URLSearchParams(location.search).get('mode') === 'flame');
    v = await vis();
    check(v.flame && !v.table, 'back did not restore flame mode');
    await page.goForward();
    await page.waitForFunction(() => new URLSearchParams(location.search).get('mode') === 'table');
    await page.click('.seg-btn[data-value="both"]');
    v = await vis();
    check(v.flame && v.table, 'both mode');
    // A link reproduces the view: a fresh page with a full URL.
    const link = `${base}/?page=query&app=shop&type=wall&mode=table&from=now-1h&label=thread_group%3Dworker-*`;
    await page.goto(link);
    await page.waitForSelector('.page-query .summary:not(:empty)');
    const st = await page.evaluate(() => ({
      picker: document.querySelector('.picker-button').innerText, range: document.querySelector('.tr-button').innerText,
      filter: document.querySelector('select[data-key="thread_group"]')?.value, table: !document.querySelector('.pane-table').hidden,
      flame: !document.querySelector('.pane-flame').hidden }));
    check(/shop/.test(st.picker) && /wall/.test(st.picker) && /1 hour/.test(st.range) && st.filter === 'worker-*' && st.table && !st.flame, 'link state: ' + JSON.stringify(st));
    // trend: drag to zoom sets an absolute range
    await page.goto(`${base}/?app=shop&type=cpu`);
    await page.waitForSelector('.trend .u-over');
    const ob = await page.locator('.trend .u-over').boundingBox();
    await page.mouse.move(ob.x + ob.width * 0.5, ob.y + 20);
    await page.mouse.down();
    await page.mouse.move(ob.x + ob.width * 0.9, ob.y + 20, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction(() => /^\d+$/.test(new URLSearchParams(location.search).get('from') || ''));
  }],
  ['settings: validate, save, read back through the API; the real agent shown', async (page, { base, truth }) => {
    await page.goto(`${base}/?page=settings`);
    const card = page.locator('.settings-card[data-app="shop"]');
    await card.locator('input[name="cpu_interval_ms"]').waitFor();
    // shop v2's agent (`--server`) fetched its settings when it started.
    const agents = await card.locator('.agents').innerText();
    check(agents.includes(truth.v2.hostname) && agents.includes(String(truth.v2.pid)), `agent ${truth.v2.hostname} pid ${truth.v2.pid} not listed: ${agents}`);
    let puts = 0;
    page.on('request', (r) => { if (r.method() === 'PUT') puts++; });
    await card.locator('input[name="cpu_interval_ms"]').fill('0');
    await card.locator('button:has-text("Save settings")').click();
    const err = await card.locator('.field-error').first().innerText();
    check(/between 1 and 1,000/.test(err) && puts === 0, 'validation: ' + err);
    await card.locator('input[name="cpu_interval_ms"]').fill('25');
    await card.locator('input[name="wall"]').check();
    await card.locator('input[name="memory"]').check();
    await card.locator('input[name="memory_threshold_kb"]').fill('2048');
    await card.locator('button:has-text("Save settings")').click();
    await card.locator('.save-status.ok').waitFor();
    const s = await (await fetch(`${base}/api/v1/apps/shop/settings`)).json();
    check(s.cpu_interval_ms === 25 && s.wall === true && s.memory === true && s.memory_threshold_kb === 2048 && s.enabled === true,
      'settings read back: ' + JSON.stringify(s));
    check(/pending/.test(await card.locator('.agents').innerText()), 'agent should be pending until it polls again');
    await shot(page, 'settings.png');
  }],
  ['empty and error states say what failed', async (page, { base }) => {
    await openQuery(page, base, 'app=shop&type=cpu');
    await page.goto(`${base}/?app=shop&type=cpu&label=thread_name%3Dnobody`);
    await page.waitForSelector('.card-status.empty');
    check(/No samples match/.test(await page.locator('.card-status.empty').first().innerText()), 'empty state');
    await page.goto(`${base}/?app=shop&type=cpu&from=yesterday-ish`);
    await page.waitForSelector('.card-status.error');
    const e = await page.locator('.card-status.error').first().innerText();
    check(/failed \(HTTP 400\)/.test(e), 'error state: ' + e);
    await shot(page, 'error-state.png');
  }, { allow: /status of 400/ }],
  ['Download delivers the current view (range, filters, granularity) as pprof, folded, speedscope and SVG', async (page, { base }) => {
    await openQuery(page, base, 'app=shop&type=cpu&label=thread_name=worker-1&gran=line');
    await idle(page);
    const params = new URLSearchParams({ app: 'shop', type: 'cpu', from: 'now-15m', to: 'now', label: 'thread_name=worker-1', granularity: 'line', maxNodes: '20000' });
    const st = new URL(page.url()).searchParams;
    if (st.get('from')) params.set('from', st.get('from'));
    if (st.get('to')) params.set('to', st.get('to'));
    const got = {};
    for (const format of ['pprof', 'folded', 'speedscope', 'svg']) {
      await page.click('.download-menu > summary');
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`.download-menu .menu-item[data-format="${format}"]`)]);
      const file = await dl.path();
      got[format] = { name: dl.suggestedFilename(), body: fs.readFileSync(file) };
      const want = Buffer.from(await (await fetch(`${base}/api/v1/flamegraph?${params}&format=${format}`)).arrayBuffer());
      check(/^shop-cpu-.+\.(pb\.gz|folded\.txt|speedscope\.json|svg)$/.test(got[format].name), `${format} file name: ${got[format].name}`);
      if (format !== 'pprof') check(got[format].body.equals(want), `${format}: the download differs from the server's rendering of the same view (${got[format].body.length} vs ${want.length} bytes)`);
    }
    // pprof embeds the request time, so it is compared decoded: gzip, and the folded stacks' functions.
    const pb = zlib.gunzipSync(got.pprof.body).toString('latin1');
    check(got.pprof.body[0] === 0x1f && got.pprof.body[1] === 0x8b && /resize_image/.test(pb), 'pprof is not the gzip profile of the view');
    const folded = got.folded.body.toString('utf8');
    check(/resize_image \([^)]*:\d+\)/.test(folded) && !/Cart\.total/.test(folded), 'folded: not worker-1 at line granularity: ' + folded.slice(0, 300));
    const sc = JSON.parse(got.speedscope.body.toString('utf8'));
    check(sc.$schema === 'https://www.speedscope.app/file-format-schema.json' && sc.profiles[0].type === 'sampled', 'speedscope header');
    const total = folded.trim().split('\n').reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    check(sc.profiles[0].weights.reduce((a, w) => a + w, 0) === total, 'speedscope weights do not add up to the folded total');
    const svg = got.svg.body.toString('utf8');
    check(/^<\?xml/.test(svg) && /<title>resize_image/.test(svg) && !/<script/.test(svg), 'svg: ' + svg.slice(0, 200));
  }],
  // The timings are a benchmark (docs/BENCHMARKS.md, target 100 ms), recorded in bench.json and
  // the log; a test on a shared, loaded machine asserts only that the big graph renders.
  ['benchmark: a 50,000-node flame graph renders and redraws (timings recorded)', async (page, { base }) => {
    await page.goto(`${base}/?page=settings`);
    const r = await page.evaluate(async (b) => {
      const { FlameGraph } = await import('/assets/src/components/flamegraph.js');
      const data = await (await fetch(b + '/api/v1/flamegraph?app=bigtree&type=cpu&from=now-1h&maxNodes=100000')).json();
      const box = document.createElement('div');
      box.style.width = '1400px';
      document.body.append(box);
      const fg = new FlameGraph(box, {});
      const t0 = performance.now();
      fg.setData(data.nodes, data.unit);
      const first = performance.now() - t0;
      const layout = fg.lastLayoutMs, firstDraw = fg.lastRenderMs;
      const renders = [];
      for (let k = 0; k < 9; k++) {
        fg.focus(k % 2 ? 0 : 1 + k, false); // zoom in and out: each a full redraw
        renders.push(fg.lastRenderMs);
      }
      renders.sort((a, c) => a - c);
      return { nodes: data.nodes.length, first, layout, firstDraw, median: renders[4], max: renders[8], drawn: fg.lastDrawn };
    }, base);
    fs.writeFileSync(path.join(OUT, 'bench.json'), JSON.stringify(r, null, 1));
    log(`     50k bench: ${r.nodes} nodes, setData ${r.first.toFixed(1)} ms (layout ${r.layout.toFixed(1)} ms, first draw ${r.firstDraw.toFixed(1)} ms), redraw median ${r.median.toFixed(1)} ms, max ${r.max.toFixed(1)} ms`);
    check(r.nodes >= 50000, 'expected 50,000 nodes, got ' + r.nodes);
    check(r.drawn > 0, 'the 50,000-node graph drew no box');
    check(Number.isFinite(r.first) && Number.isFinite(r.max), 'no timings: ' + JSON.stringify(r));
  }],
];
