// Browser tests of the web console: a real `flamewatch server` on a free loopback port with a
// temporary data dir, real profiles of a small Python service (tests/web/shop.py, two versions)
// written by the agent under `flamewatch run`, checked against what the service measured itself
// with time.thread_time(), and Debian's chromium driven by playwright-core. Every test also fails
// when the page logs a console error or opens a dialog (alert() from an XSS would). Screenshots
// go to BUILD/test-output/web/. Last line: RESULT passed=N failed=M.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILD = path.resolve(ROOT, process.env.FLAMEWATCH_TEST_BUILD || 'build');
const BIN = path.join(BUILD, 'flamewatch');
const OUT = path.join(BUILD, 'test-output', 'web');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let passed = 0, failed = 0;
const log = (...a) => console.log(...a);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

async function waitHealthy(base, proc) {
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
    try { const r = await fetch(base + '/healthz'); if (r.ok) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not become healthy');
}

async function ingest(base, { name, format, from, until }, body) {
  const u = new URLSearchParams({ name, format });
  if (from) u.set('from', String(from));
  if (until) u.set('until', String(until));
  const r = await fetch(`${base}/ingest?${u}`, { method: 'POST', body });
  if (!r.ok) throw new Error(`ingest ${name}: ${r.status} ${await r.text()}`);
}

/**
 * Runs one version of the shop (tests/web/shop.py) under the agent. Resolves with what the
 * program measured (its truth file). `procs` collects the child so that the runner can stop it.
 */
function runShop(version, dir, flags, procs, cpuSeconds) {
  fs.mkdirSync(dir, { recursive: true });
  const truthPath = path.join(dir, 'truth.json');
  const args = ['run', '--app', 'shop', '--upload-interval', '1', ...flags, '--',
    'python3', path.join(ROOT, 'tests', 'web', 'shop.py'), String(version), truthPath, String(cpuSeconds)];
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLAMEWATCH_') || k === 'FLAMEWATCH_TEST_BUILD'));
  // A process group of its own, so that a hung run is stopped with everything it started.
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, PYTHONDONTWRITEBYTECODE: '1' }, detached: true });
  procs.push(child);
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 90000);
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      if (code !== 0) { reject(new Error(`shop v${version} under flamewatch run: exit ${code ?? sig}\n${out.slice(-2000)}`)); return; }
      if (/warning|error/i.test(out)) { reject(new Error(`shop v${version}: the agent complained:\n${out.slice(-2000)}`)); return; }
      resolve({ truth: JSON.parse(fs.readFileSync(truthPath, 'utf8')) });
    });
  });
}

/**
 * Real agent profiles of app `shop`: version 2 (the current one, with --wall) is delivered by the
 * agent itself (`--server`); version 1 (the baseline) is written to files (`--output`) and each
 * file is ingested with its own time range (read from the pprof) moved one hour back, because the
 * comparison page compares the current range with one N >= 1 hours earlier and a test cannot wait
 * an hour. Both run at the same time (each is one busy thread at a time: the GIL) while the
 * browser starts. Any agent warning fails the setup.
 */
async function shopProfiles(base, tmp, procs) {
  const cpu = 2;
  const [v1, v2] = await Promise.all([
    runShop(1, path.join(tmp, 'shop-v1'), ['--output', path.join(tmp, 'shop-v1', 'profiles')], procs, cpu),
    runShop(2, path.join(tmp, 'shop-v2'), ['--server', base, '--wall'], procs, cpu),
  ]);
  const dir = path.join(tmp, 'shop-v1', 'profiles');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.pprof.gz')).map((f) => path.join(dir, f));
  if (!files.length) throw new Error('shop v1 wrote no profile');
  for (const f of files) {
    const body = fs.readFileSync(f);
    const { from, until } = pprofRange(body);
    await ingest(base, { name: 'shop', format: 'pprof', from: from - HOUR, until: until - HOUR }, body);
  }
  return { v1: v1.truth, v2: v2.truth };
}
const HOUR = 3600;

/** A gzip pprof's time range in Unix seconds: time_nanos (field 9) + duration_nanos (field 10). */
function pprofRange(gz) {
  const b = zlib.gunzipSync(gz);
  let i = 0, time = 0n, dur = 0n;
  const varint = () => {
    let v = 0n, shift = 0n;
    for (;;) { const c = b[i++]; v |= BigInt(c & 0x7f) << shift; if (c < 0x80) return v; shift += 7n; }
  };
  while (i < b.length) {
    const key = Number(varint()), field = key >> 3, wire = key & 7;
    if (wire === 0) { const v = varint(); if (field === 9) time = v; else if (field === 10) dur = v; }
    else if (wire === 2) { const n = Number(varint()); i += n; }
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error('pprof: unexpected wire type ' + wire);
  }
  if (!time) throw new Error('pprof without time_nanos');
  const from = Number(time / 1000000000n);
  return { from, until: Math.max(from, Number((time + dur + 999999999n) / 1000000000n)) };
}

class Failure extends Error {}
function check(cond, msg) { if (!cond) throw new Failure(msg); }

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-web-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(BIN, ['server', '--listen', `127.0.0.1:${port}`, '--data', path.join(tmp, 'data')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let serverLog = '';
  server.stdout.on('data', (d) => { serverLog += d; });
  server.stderr.on('data', (d) => { serverLog += d; });
  let browser;
  const procs = [];
  try {
    await waitHealthy(base, server);
    // ---- data ----
    const real = shopProfiles(base, tmp, procs);
    real.catch(() => {}); // awaited below; this only keeps an early failure from being unhandled
    const now = Math.floor(Date.now() / 1000);
    // Synthetic: only the 50,000-node tree of the render benchmark (no real program of a test's
    // size has a call tree that big).
    const gen = spawnSync('python3', [path.join(ROOT, 'tests', 'web', 'gen_profiles.py'), path.join(tmp, 'gen'), '--now', String(now)], { encoding: 'utf8' });
    if (gen.status !== 0) throw new Error('gen_profiles.py failed: ' + gen.stderr);
    const manifest = JSON.parse(fs.readFileSync(path.join(tmp, 'gen', 'manifest.json'), 'utf8'));
    for (const e of manifest) await ingest(base, e, fs.readFileSync(path.join(tmp, 'gen', e.file)));

    // ---- browser ----
    const { chromium } = await import(path.join(ROOT, 'node_modules', 'playwright-core', 'index.mjs'));
    browser = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
      executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1440, height: 1000 },
    });

    const t0 = Date.now();
    const truth = await real;
    log(`shop v1 and v2 profiled by the agent (${((Date.now() - t0) / 1000).toFixed(1)} s more after the browser started)`);
    const ctx = { base, browser, now, truth };
    for (const [name, fn, opts] of TESTS) {
      const page = await browser.newPage();
      const errors = [];
      page.on('console', (m) => { if (m.type() === 'error' && !(opts && opts.allow && opts.allow.test(m.text()))) errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push('page error: ' + e.message));
      page.on('dialog', async (d) => { errors.push(`a ${d.type()} dialog opened: ${d.message()}`); await d.dismiss(); });
      page.on('request', (r) => { if (!r.url().startsWith(base)) errors.push('request outside the server: ' + r.url()); });
      const t0 = Date.now();
      try {
        const res = await fn(page, ctx);
        check(errors.length === 0, 'console errors: ' + errors.join(' | '));
        passed++;
        log(`ok   ${name} (${Date.now() - t0} ms)`);
      } catch (e) {
        failed++;
        log(`FAIL ${name}: ${e.message}`);
        try { await page.screenshot({ path: path.join(OUT, `FAILED-${name.replace(/\W+/g, '_')}.png`), fullPage: true }); } catch { /* ignore */ }
      } finally {
        await page.close();
      }
    }
  } catch (e) {
    failed++;
    log('FAIL setup: ' + (e.stack || e.message));
    log(serverLog.slice(-2000));
  } finally {
    if (browser) await browser.close().catch(() => {});
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } }
    server.kill('SIGTERM');
    await new Promise((r) => { if (server.exitCode !== null) r(); else server.on('exit', r); setTimeout(r, 5000); });
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (spread.length) log('shares (console/measured): ' + spread.join(', '));
  log(`screenshots: ${OUT}`);
  log(`RESULT passed=${passed} failed=${failed}`);
  process.exit(failed ? 1 : 0);
}

// ---------------------------------------------------------------- helpers

async function openQuery(page, base, qs = 'app=shop&type=cpu') {
  await page.goto(`${base}/?${qs}`);
  await page.waitForSelector('.page-query .summary:not(:empty)', { timeout: 15000 });
}
const url = (page) => new URL(page.url());
// Full page, from the top (a hover may have scrolled it; the sticky top bar would land mid-page).
const shot = async (page, name) => { await page.evaluate(() => window.scrollTo(0, 0)); await page.screenshot({ path: path.join(OUT, name), fullPage: true }); };
const ROW = 18;
const idle = (page) => page.waitForSelector('.page:not(:has(.card.is-loading))');

// Tolerance against the workload's own time.thread_time() measurements, in percentage points of
// the whole profile. The agent samples CPU time every 10 ms, about 200 samples over the ~2 s of
// CPU of one version. Measured over 11 runs of this suite on the shared 2-core machine (load
// average 6 to 15): every share the console showed was within 3.2 points of the truth; the
// largest errors are Cart.total's, which the agent under-reports by 0.1-3.2 points when the
// machine is busy, the others were within 0.8 points. The runner prints every compared pair on
// its `shares (console/measured):` line.
const TOL_SHARE = 5;
// The drawing against the numbers the console prints (search share, tooltip): the same data, so
// only pixel rounding (a box edge is at most 1 px off in a ~700 px wide canvas: 0.15 points).
const TOL_PIXEL = 0.4;

/** Share in % of the whole profile, from the truth of one version. */
const truthPct = (t, fn) => 100 * t.cpu_func[fn] / t.cpu_total;

/**
 * What the flame graph canvas shows, once it has stopped changing (zoom animates): reads its
 * pixels one line below the top of each row and finds the boxes that are search matches
 * ('match', the magenta of a search) or coloured ('lit': a table click leaves the highlighted
 * function in colour and greys out the rest; the root is grey too). Returns the share of the
 * canvas width they cover (columns counted once) and the boxes (CSS px, mean colour).
 */
async function drawn(page, sel, mode, nth = 0) {
  await page.waitForFunction(([sel, nth]) => {
    const c = document.querySelectorAll(sel)[nth];
    const u = c.toDataURL();
    const same = c.fwLastImage === u;
    c.fwLastImage = u;
    return same;
  }, [sel, nth], { polling: 100 });
  return page.evaluate(([sel, mode, nth]) => {
    const c = document.querySelectorAll(sel)[nth];
    const W = c.width, H = c.height, dpr = W / c.getBoundingClientRect().width;
    const px = c.getContext('2d').getImageData(0, 0, W, H).data;
    const near = (i, rgb, d) => Math.abs(px[i] - rgb[0]) + Math.abs(px[i + 1] - rgb[1]) + Math.abs(px[i + 2] - rgb[2]) <= d;
    const MATCH = [0xd9, 0x46, 0xef];
    const grey = (i) => Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) < 20;
    const want = (i) => px[i + 3] > 200 && (mode === 'match' ? near(i, MATCH, 40) : !grey(i));
    const cols = new Uint8Array(W);
    const boxes = [];
    const rows = Math.floor(H / (18 * dpr));
    for (let r = 1; r < rows; r++) {
      const y = Math.floor((r * 18 + 1) * dpr);
      let x0 = -1, sum = [0, 0, 0], n = 0;
      for (let x = 0; x <= W; x++) {
        const i = (y * W + x) * 4;
        if (x < W && want(i)) {
          if (x0 < 0) { x0 = x; sum = [0, 0, 0]; n = 0; }
          cols[x] = 1; sum[0] += px[i]; sum[1] += px[i + 1]; sum[2] += px[i + 2]; n++;
        } else if (x0 >= 0) {
          boxes.push({ row: r, x0: x0 / dpr, x1: x / dpr, y: r * 18 + 9, rgb: sum.map((v) => Math.round(v / n)) });
          // A box is drawn 1 px narrower than its width (the gap to its neighbour): count the gap.
          for (let g = x; g < Math.min(W, x + Math.round(dpr)); g++) cols[g] = 1;
          x0 = -1;
        }
      }
    }
    let on = 0;
    for (const v of cols) on += v;
    return { share: 100 * on / W, boxes: boxes.sort((a, b) => (b.x1 - b.x0) - (a.x1 - a.x0)) };
  }, [sel, mode, nth]);
}

/** Moves the mouse to the middle of a box found by drawn() (scrolling its canvas into view). */
async function hoverBox(page, sel, box, nth = 0) {
  const canvas = page.locator(sel).nth(nth);
  await canvas.scrollIntoViewIfNeeded();
  const cb = await canvas.boundingBox();
  await page.mouse.move(cb.x + (box.x0 + box.x1) / 2, cb.y + box.y);
  return cb;
}

/**
 * Hovers the points of a trend chart (`points`: the API's, for their times) whose index is in
 * `which` and adds up each series' legend value (cores). Returns [sum of series 1, ...].
 */
async function hoverTrend(page, scope, points, which) {
  const over = page.locator(`${scope} .trend .u-over`);
  await over.scrollIntoViewIfNeeded();
  const ob = await over.boundingBox();
  const t0 = points[0].t, t1 = points[points.length - 1].t;
  const sums = [];
  for (const p of points.filter((_, k) => which.has(k))) {
    await page.mouse.move(ob.x + Math.min(ob.width - 1, Math.max(1, ob.width * (p.t - t0) / (t1 - t0))), ob.y + ob.height / 2);
    const vals = await page.locator(`${scope} .trend .u-legend .u-series .u-value`).allInnerTexts();
    vals.slice(1).forEach((v, k) => { const m = /([\d.]+) cores/.exec(v); sums[k] = (sums[k] || 0) + (m ? Number(m[1]) : 0); });
  }
  return sums;
}

/** Indexes of the points with samples in any of the series, and their neighbours. */
function withSamples(...series) {
  const out = new Set();
  for (const pts of series) pts.forEach((p, k) => { if (p.value) for (const j of [k - 1, k, k + 1]) if (j >= 0 && j < pts.length) out.add(j); });
  return out;
}

/** Types a search into a flame graph; returns {count, pct} from its "N matches · X% of total". */
async function search(page, q, scope = '.pane-flame') {
  await page.fill(`${scope} .fg-search`, q);
  const info = await page.waitForFunction((s) => {
    const m = /(\d+) match(?:es)? · ([\d.]+)% of total/.exec(document.querySelector(s + ' .fg-search-info').textContent);
    return m && { count: Number(m[1]), pct: Number(m[2]) };
  }, scope);
  return info.jsonValue();
}

/** The total in the query page's summary ("… · total 1.23 s · …") in seconds. */
async function summaryTotal(page) {
  const s = await page.locator('.page-query .summary').innerText();
  const m = /total ([\d.]+) (ns|µs|ms|s|min)\b/.exec(s);
  check(m, 'no total in the summary: ' + s);
  return Number(m[1]) * { ns: 1e-9, 'µs': 1e-6, ms: 1e-3, s: 1, min: 60 }[m[2]];
}

/** Compares a shown share with the truth; the message carries both (collected in `spread`). */
const spread = [];
function near(what, got, want, tol) {
  spread.push(`${what} ${got.toFixed(1)}/${want.toFixed(1)}`);
  check(Math.abs(got - want) <= tol, `${what}: the console shows ${got.toFixed(2)}, the workload measured ${want.toFixed(2)} (tolerance ${tol})`);
}

async function rowsOf(page, scope) {
  return page.locator(`${scope} tbody tr`).evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.innerText)));
}

// ---------------------------------------------------------------- tests
// Every test but the benchmark reads app `shop`: the profiles the agent wrote of tests/web/shop.py
// (version 2 now, version 1 an hour earlier), checked against what the workload measured itself.

const TESTS = [
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

main().catch((e) => { console.log('FAIL runner: ' + (e.stack || e)); console.log('RESULT passed=0 failed=1'); process.exit(1); });
