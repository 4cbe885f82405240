// Browser tests of the query page's views on the real profiles of tests/web/shop.py: picker,
// flame graph, line granularity, quick filters, trend, table, View SQL. Each is [name, fn, opts]
// (run.mjs runs these first, then tests_compare.mjs's).
// Every test but the benchmark reads app `shop`: the profiles the agent wrote of tests/web/shop.py
// (version 2 now, version 1 an hour earlier), checked against what the workload measured itself.
import path from 'node:path';
import { check, openQuery, url, shot, idle, TOL_SHARE, TOL_PIXEL, truthPct, drawn, hoverBox, hoverTrend, withSamples, search, summaryTotal, spread, near, rowsOf } from './lib.mjs';

export const TESTS = [
  ['query: pick application and type in the two-column picker', async (page, { base }) => {
    await page.goto(base + '/');
    await page.waitForSelector('.page-query .summary:not(:empty)', { timeout: 15000 });
    await page.click('.picker-button');
    await page.waitForSelector('.picker-panel:not([hidden])');
    check(await page.locator('.picker-apps .picker-item[data-app="shop"]').count() === 1, 'shop is not in the application list');
    await page.click('.picker-apps .picker-item[data-app="shop"]');
    const desc = await page.locator('.picker-types').innerText();
    check(/wall/.test(desc) && /idle threads/i.test(desc), 'type descriptions missing: ' + desc);
    await page.click('.picker-types .picker-item[data-type="wall"]');
    await page.waitForFunction(() => /type=wall/.test(location.search));
    await page.waitForSelector('.page-query .summary:not(:empty)');
    check(url(page).searchParams.get('app') === 'shop', 'app not in URL');
    await page.waitForFunction(() => document.querySelectorAll('.pane-table tbody tr').length > 5);
    await idle(page);
    // Wall time: the two workers wait on their queue for most of the run.
    const first = await page.locator('.pane-table tbody tr').first().innerText();
    check(/Condition\.wait/.test(first), 'the wall profile should be led by the workers\' Condition.wait, got ' + first);
    await page.click('.picker-button');
    await page.click('.picker-apps .picker-item[data-app="shop"]');
    await page.click('.picker-types .picker-item[data-type="cpu"]');
    await page.waitForFunction(() => /type=cpu/.test(location.search));
    await page.waitForFunction(() => /Cart\.total/.test(document.querySelector('.pane-table tbody')?.innerText || ''));
    await page.waitForSelector('.findings');
    await shot(page, 'query.png');
  }],

  ['flame graph: the workload\'s functions at their measured widths; tooltip, zoom, breadcrumb, reset', async (page, { base, truth }) => {
    await openQuery(page, base);
    await idle(page);
    // Each function's boxes, measured in pixels, against its share of the CPU the workload
    // measured; render_json is mostly its callees (dumps, JSONEncoder.*), so this is the width
    // of its whole subtree, not its self time.
    for (const fn of ['Cart.total', 'render_json', 'resize_image']) {
      const info = await search(page, fn);
      const d = await drawn(page, '.pane-flame canvas', 'match');
      check(info.count >= 1 && d.boxes.length >= 1, `${fn}: ${info.count} matches, ${d.boxes.length} boxes drawn`);
      near(`${fn} drawn vs its "% of total"`, d.share, info.pct, TOL_PIXEL);
      near(`${fn} width`, d.share, truthPct(truth.v2, fn), TOL_SHARE);
    }
    await shot(page, 'flame-search.png');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('search') === 'resize_image');
    // The tooltip of the widest Cart.total box: name, file, self, total and percent.
    await search(page, 'Cart.total');
    const box = (await drawn(page, '.pane-flame canvas', 'match')).boxes[0];
    const cb = await hoverBox(page, '.pane-flame canvas', box);
    await page.waitForSelector('.pane-flame .fg-tip:not([hidden])');
    const tip = await page.locator('.pane-flame .fg-tip').innerText();
    check(/^Cart\.total/.test(tip) && tip.includes(truth.v2.file) && /Self/.test(tip) && /Total/.test(tip), 'tooltip: ' + tip);
    const tipPct = Number(/Total\s+[\d.]+ \w+ \(([\d.]+)%\)/.exec(tip)?.[1]);
    near('Cart.total tooltip total %', tipPct, (box.x1 - box.x0 + 1) / cb.width * 100, TOL_PIXEL);
    // Click to zoom: the breadcrumb is the real call path.
    await page.mouse.click(cb.x + (box.x0 + box.x1) / 2, cb.y + box.y);
    await page.waitForFunction(() => document.querySelector('.pane-flame .crumb.current')?.textContent === 'Cart.total');
    const crumbs = await page.locator('.pane-flame .fg-crumbs').innerText();
    check(/all\s*›\s*<module>\s*›\s*main\s*›\s*checkout\s*›\s*Cart\.total/.test(crumbs), 'breadcrumb: ' + crumbs);
    await page.waitForTimeout(300); // the zoom animation, for the screenshot
    await shot(page, 'flame-zoomed.png');
    // Zoomed into Cart.total, its box spans the whole width.
    const z = await drawn(page, '.pane-flame canvas', 'match');
    check(z.share > 99, 'zoomed Cart.total covers ' + z.share.toFixed(1) + '% of the width');
    await page.click('.pane-flame .fg-crumbs button.crumb >> text=checkout');
    await page.waitForFunction(() => document.querySelector('.pane-flame .crumb.current')?.textContent === 'checkout');
    await page.click('.pane-flame button:has-text("Reset zoom")');
    await page.waitForFunction(() => document.querySelector('.pane-flame .crumb.current')?.textContent === 'all');
    // A click in the table highlights that function in the graph.
    await page.fill('.pane-flame .fg-search', '');
    await page.click('.pane-table tbody tr:has-text("Cart.total")');
    await page.waitForFunction(() => /Cart\.total/.test(document.querySelector('.pane-flame .fg-search-info').textContent));
    await page.mouse.move(0, 0);
    const hl = await drawn(page, '.pane-flame canvas', 'lit');
    near('Cart.total highlighted from the table', hl.share, truthPct(truth.v2, 'Cart.total'), TOL_SHARE);
  }],

  ['line granularity: Cart.total\'s time is on its hot loop line', async (page, { base, truth }) => {
    await openQuery(page, base, 'app=shop&type=cpu&gran=line&mode=both');
    await idle(page);
    await page.fill('.pane-table .tbl-filter', 'Cart.total');
    const rows = await rowsOf(page, '.pane-table');
    const file = `${truth.v2.file}:${truth.v2.hot_line}`;
    check(rows.length >= 1 && rows[0][0].includes(file), `the first Cart.total line should be ${file}: ${JSON.stringify(rows.slice(0, 3))}`);
    // Most of the function's time is on that line (the rest: the `while` test, the `for` line).
    const pct = rows.map((r) => Number(r[2].replace('%', '')));
    const hot = 100 * pct[0] / pct.reduce((a, b) => a + b, 0);
    spread.push(`hot line ${hot.toFixed(0)}% of Cart.total`);
    check(hot >= 60, 'hot line share of Cart.total\'s self: ' + pct);
    const info = await search(page, 'Cart.total');
    const box = (await drawn(page, '.pane-flame canvas', 'match')).boxes[0];
    await hoverBox(page, '.pane-flame canvas', box);
    await page.waitForSelector('.pane-flame .fg-tip:not([hidden])');
    const tip = await page.locator('.pane-flame .fg-tip').innerText();
    check(tip.includes(file), 'line tooltip: ' + tip);
    near('Cart.total width, line granularity', info.pct, truthPct(truth.v2, 'Cart.total'), TOL_SHARE);
    await shot(page, 'flame-lines.png');
  }],

  ['quick filters: thread name and a dynamic tag narrow the graph, AND across keys, cleared on a metadata change', async (page, { base, truth }) => {
    await openQuery(page, base);
    const keys = await page.locator('select.filter-select').evaluateAll((s) => s.map((x) => x.dataset.key));
    check(['thread_name', 'thread_group', 'endpoint', 'team'].every((k) => keys.includes(k)), 'filter keys: ' + keys);
    const all = await summaryTotal(page);
    // thread_name=worker-1: only that worker's stacks remain.
    await page.selectOption('select[data-key="thread_name"]', 'worker-1');
    await page.waitForFunction(() => new URLSearchParams(location.search).getAll('label').includes('thread_name=worker-1'));
    await page.waitForFunction(() => /filtered/.test(document.querySelector('.page-query .summary').textContent));
    await idle(page);
    const w1 = await summaryTotal(page);
    // The filtered total is worker-1's CPU: resize_image plus the moments it wakes from its queue.
    const w1truth = truth.v2.cpu_thread['worker-1'];
    spread.push(`worker-1 total ${w1.toFixed(3)}/${w1truth.toFixed(3)} s`);
    check(w1 < 0.5 * all && w1 >= 0.8 * w1truth && w1 <= 1.6 * w1truth + 0.02, `worker-1 total ${w1} s, all ${all} s, measured ${w1truth} s`);
    check((await search(page, 'Cart.total')).count === 0, 'Cart.total (MainThread) is still in the worker-1 graph');
    const rz = await search(page, 'resize_image');
    spread.push(`resize_image ${rz.pct}% of worker-1`);
    check(rz.pct >= 60, 'resize_image is ' + rz.pct + '% of worker-1');
    await page.fill('.pane-flame .fg-search', '');
    await shot(page, 'query-filtered.png');
    // AND with a dynamic tag that worker-1 never had: nothing matches.
    await page.selectOption('select[data-key="endpoint"]', '/checkout');
    await page.waitForFunction(() => new URLSearchParams(location.search).getAll('label').length === 2);
    await page.waitForSelector('.card-status.empty');
    check(/No samples match/.test(await page.locator('.card-status.empty').first().innerText()), 'AND of worker-1 and /checkout should be empty');
    // The dynamic tag alone: the /checkout requests, which are Cart.total.
    await page.selectOption('select[data-key="thread_name"]', { label: 'all' });
    await page.waitForFunction(() => new URLSearchParams(location.search).getAll('label').join() === 'endpoint=/checkout');
    await page.waitForFunction(() => /filtered/.test(document.querySelector('.page-query .summary').textContent));
    await idle(page);
    const co = await summaryTotal(page);
    const cotruth = truth.v2.cpu_endpoint['/checkout'];
    spread.push(`/checkout total ${co.toFixed(3)}/${cotruth.toFixed(3)} s`);
    check(Math.abs(co - cotruth) <= 0.2 * cotruth, `endpoint=/checkout total ${co} s, measured ${cotruth} s`);
    const ct = await search(page, 'Cart.total');
    spread.push(`Cart.total ${ct.pct}% of /checkout`);
    check(ct.pct >= 97, 'Cart.total is ' + ct.pct + '% of /checkout');
    check(!(await page.locator('.pane-table tbody').innerText()).includes('render_json'), 'render_json is not a /checkout function');
    // A metadata change clears the filters.
    await page.click('.picker-button');
    await page.click('.picker-apps .picker-item[data-app="shop"]');
    await page.click('.picker-types .picker-item[data-type="wall"]');
    await page.waitForFunction(() => /type=wall/.test(location.search));
    check((await page.evaluate(() => new URLSearchParams(location.search).getAll('label'))).length === 0, 'filters not cleared on a metadata change');
    await page.waitForFunction(() => document.querySelector('select[data-key="endpoint"]')?.value === '\u0000all');
  }],

  ['trend chart: hover values add up to the CPU the workload used', async (page, { base, truth }) => {
    const resp = page.waitForResponse((r) => r.url().includes('/api/v1/trend'));
    await openQuery(page, base);
    const tr = await (await resp).json();
    await page.waitForSelector('.trend .u-over');
    // Every point with samples, and its neighbours (a point drawn where the API has none would
    // add to the sum too).
    const [cores] = await hoverTrend(page, '.page-query', tr.points, withSamples(tr.points));
    const secs = cores * tr.step;
    spread.push(`trend ${secs.toFixed(2)}/${truth.v2.cpu_total.toFixed(2)} s (step ${tr.step} s)`);
    // The legend rounds to 0.01 cores per point.
    // The legend rounds to 0.01 cores: at most 0.005 x step per point with samples (about 3).
    check(Math.abs(secs - truth.v2.cpu_total) <= 0.1 * truth.v2.cpu_total + 3 * 0.005 * tr.step,
      `the chart shows ${secs.toFixed(2)} s of CPU, the workload used ${truth.v2.cpu_total.toFixed(2)} s`);
    await shot(page, 'trend.png');
  }],

  ['table view: self and total of the workload\'s functions, sort, filter', async (page, { base, truth }) => {
    await openQuery(page, base, 'app=shop&type=cpu&mode=table');
    await idle(page);
    check(await page.locator('.pane-flame').isHidden(), 'table mode shows the flame graph');
    await page.click('.pane-table th button:has-text("Total %")');
    const top = (await rowsOf(page, '.pane-table'))[0];
    check(/^<module>/.test(top[0]), 'sorted by total, the first row should be <module>: ' + top);
    const all = await page.locator('.pane-table .tbl-info').innerText();
    await page.fill('.pane-table .tbl-filter', 'shop.py');
    const rows = await rowsOf(page, '.pane-table');
    const info = await page.locator('.pane-table .tbl-info').innerText();
    check(new RegExp(`^${rows.length} of \\d+ rows`).test(info) && info !== all, `filter info: ${info} (was ${all})`);
    check(rows.every((r) => r[0].includes('shop.py')), 'the filter kept other rows');
    const row = (fn) => rows.find((r) => r[0].split('\n')[0] === fn);
    const pct = (s) => Number(s.replace('%', ''));
    for (const fn of ['Cart.total', 'render_json', 'resize_image']) {
      check(row(fn), `${fn} missing from the filtered table`);
      near(`${fn} Total % (table)`, pct(row(fn)[4]), truthPct(truth.v2, fn), TOL_SHARE);
    }
    // Cart.total runs its own loop; render_json's time is in json's functions below it.
    near('Cart.total Self % (table)', pct(row('Cart.total')[2]), truthPct(truth.v2, 'Cart.total'), TOL_SHARE);
    check(pct(row('render_json')[2]) < 0.5 * pct(row('render_json')[4]), 'render_json self should be a small part of its total: ' + row('render_json'));
    await shot(page, 'mode-table.png');
  }],

  ['View SQL on the real profiles: the table\'s SQL runs and gives the shares the workload measured', async (page, { base, truth }) => {
    await openQuery(page, base);
    await idle(page);
    await page.click('button:has-text("View SQL")');
    await page.waitForSelector('dialog.sql-modal[open]');
    check(/SELECT/i.test(await page.inputValue('.sql-text')), 'no SQL shown');
    await page.click('dialog.sql-modal button[role="tab"]:has-text("Table")');
    const sql = await page.inputValue('.sql-text');
    check(/'shop'/.test(sql), 'the table SQL does not name the application: ' + sql.slice(0, 200));
    await page.click('button:has-text("Run query")');
    await page.waitForSelector('.sql-table tbody tr');
    const cols = await page.locator('.sql-table thead th').allInnerTexts();
    const rows = await rowsOf(page, '.sql-table');
    const ci = (c) => cols.indexOf(c);
    check(ci('name') >= 0 && ci('self') >= 0 && ci('total') >= 0, 'columns: ' + cols);
    check(/\d+ rows? in \d+ ms/.test(await page.locator('.sql-status').innerText()), 'status');
    const sum = rows.reduce((a, r) => a + Number(r[ci('self')]), 0);
    for (const fn of ['Cart.total', 'resize_image']) {
      const r = rows.find((x) => x[ci('name')] === fn);
      check(r, `${fn} not in the SQL result`);
      near(`${fn} self share (SQL)`, 100 * Number(r[ci('self')]) / sum, truthPct(truth.v2, fn), TOL_SHARE);
    }
    await shot(page, 'view-sql.png');
    // a write is refused with the server's message
    await page.fill('.sql-text', 'DELETE FROM series');
    await page.click('button:has-text("Run query")');
    await page.waitForSelector('.sql-result .error-box');
    check(/403/.test(await page.locator('.sql-result .error-box').innerText()), 'DELETE not refused');
  }, { allow: /status of 403/ }],
];
