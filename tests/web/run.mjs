// Browser tests of the web console: a real `flamewatch server` on a free loopback port with a
// temporary data dir, real profiles (the agent's when it is available, plus generated ones with
// known shapes), and Debian's chromium driven by playwright-core. Every test also fails when the
// page logs a console error or opens a dialog (alert() from an XSS would). Screenshots go to
// BUILD/test-output/web/. Last line: RESULT passed=N failed=M.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** Real agent profiles, when this build has the agent (`flamewatch run`). Returns the file count. */
async function agentProfiles(base, tmp) {
  const help = spawnSync(BIN, ['run', '--help'], { encoding: 'utf8' });
  if (help.status !== 0) return { n: 0, why: 'this build has no `flamewatch run`' };
  const dir = path.join(tmp, 'agent-out');
  const r = spawnSync(BIN, ['run', '--app', 'agentshop', '--output', dir, '--upload-interval', '1', '--wall', '--',
    'python3', path.join(ROOT, 'tests', 'web', 'workload.py'), '3'], { encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) return { n: 0, why: `flamewatch run failed (${r.status}): ${(r.stderr || '').slice(0, 300)}` };
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.pprof.gz')) : [];
  for (const f of files) await ingest(base, { name: 'agentshop', format: 'pprof' }, fs.readFileSync(path.join(dir, f)));
  return { n: files.length, why: files.length ? '' : 'the agent wrote no profile' };
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
  try {
    await waitHealthy(base, server);
    // ---- data ----
    const now = Math.floor(Date.now() / 1000);
    const gen = spawnSync('python3', [path.join(ROOT, 'tests', 'web', 'gen_profiles.py'), path.join(tmp, 'gen'), '--now', String(now), '--hours', '2'], { encoding: 'utf8' });
    if (gen.status !== 0) throw new Error('gen_profiles.py failed: ' + gen.stderr);
    const manifest = JSON.parse(fs.readFileSync(path.join(tmp, 'gen', 'manifest.json'), 'utf8'));
    for (const e of manifest) await ingest(base, e, fs.readFileSync(path.join(tmp, 'gen', e.file)));
    // Function names and a label value that are HTML.
    await ingest(base, { name: 'xss.cpu{team=<b>ops</b>}', format: 'folded', from: now - 60, until: now - 50 },
      '<module> (/srv/x.py:1);<img src=x onerror=alert(1)> (/srv/<script>alert(2)</script>.py:7) 50\n<module> (/srv/x.py:1);handler 20\n');
    const agent = await agentProfiles(base, tmp);
    log(agent.n ? `agent: ${agent.n} real profiles ingested as app agentshop` : `agent: skipped (${agent.why}); using generated profiles`);
    // An agent polls its settings, so the settings page has an agent to show.
    await fetch(`${base}/api/v1/apps/shop/settings?host=web-1&pid=4242`);

    // ---- browser ----
    const { chromium } = await import(path.join(ROOT, 'node_modules', 'playwright-core', 'index.mjs'));
    browser = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
      executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1440, height: 1000 },
    });

    const ctx = { base, browser, now, agent };
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
    server.kill('SIGTERM');
    await new Promise((r) => { if (server.exitCode !== null) r(); else server.on('exit', r); setTimeout(r, 5000); });
    fs.rmSync(tmp, { recursive: true, force: true });
  }
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
const shot = (page, name) => page.screenshot({ path: path.join(OUT, name), fullPage: true });
async function canvasBox(page, sel = '.pane-flame canvas') { return page.locator(sel).first().boundingBox(); }
const ROW = 18;

// ---------------------------------------------------------------- tests

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
    const first = await page.locator('.pane-table tbody tr').first().innerText();
    check(/Condition\.wait/.test(first), 'wall profile should be led by Condition.wait, got ' + first);
    await page.click('.picker-button');
    await page.click('.picker-apps .picker-item[data-app="shop"]');
    await page.click('.picker-types .picker-item[data-type="cpu"]');
    await page.waitForFunction(() => /type=cpu/.test(location.search));
    await page.waitForFunction(() => /JSONEncoder\.iterencode/.test(document.querySelector('.pane-table tbody tr')?.innerText || ''));
    await page.waitForSelector('.findings');
    await shot(page, 'query.png');
  }],

  ['query: quick filters AND across keys, cleared on a metadata change', async (page, { base }) => {
    await openQuery(page, base);
    await page.selectOption('select[data-key="thread_group"]', 'worker-*');
    await page.waitForFunction(() => new URLSearchParams(location.search).getAll('label').includes('thread_group=worker-*'));
    await page.waitForFunction(() => !/JSONEncoder/.test(document.querySelector('.pane-table tbody')?.innerText || 'JSONEncoder'));
    await page.selectOption('select[data-key="thread_name"]', 'worker-1');
    await page.waitForFunction(() => new URLSearchParams(location.search).getAll('label').length === 2);
    await page.waitForFunction(() => /worker_loop/.test(document.querySelector('.pane-table tbody')?.innerText || ''));
    const labels = (await page.evaluate(() => new URLSearchParams(location.search).getAll('label'))).sort();
    check(labels.join(',') === 'thread_group=worker-*,thread_name=worker-1', 'labels: ' + labels);
    // the API agrees: thread_name=worker-1 AND thread_group=worker-* is worker-1 only
    await shot(page, 'query-filtered.png');
    await page.click('.picker-button');
    await page.click('.picker-apps .picker-item[data-app="shop"]');
    await page.click('.picker-types .picker-item[data-type="wall"]');
    await page.waitForFunction(() => /type=wall/.test(location.search));
    check((await page.evaluate(() => new URLSearchParams(location.search).getAll('label'))).length === 0, 'filters not cleared on a metadata change');
    await page.waitForFunction(() => document.querySelector('select[data-key="thread_group"]')?.value === '\u0000all');
  }],

  ['flame graph: click to zoom, breadcrumb, reset, search, tooltip, table row highlight', async (page, { base }) => {
    await openQuery(page, base);
    const box = await canvasBox(page);
    // depth 5 on the left is render_json (all, <module>, main, serve_forever, handle_request, render_json)
    await page.mouse.move(box.x + 8, box.y + 5 * ROW + 9);
    await page.waitForSelector('.fg-tip:not([hidden])');
    const tip = await page.locator('.pane-flame .fg-tip').innerText();
    check(/render_json/.test(tip) && /views\.py/.test(tip) && /Self/.test(tip) && /Total/.test(tip) && /%/.test(tip), 'tooltip: ' + tip);
    await page.mouse.click(box.x + 8, box.y + 5 * ROW + 9);
    await page.waitForFunction(() => document.querySelector('.pane-flame .crumb.current')?.textContent === 'render_json');
    const crumbs = await page.locator('.pane-flame .fg-crumbs').innerText();
    check(/all/.test(crumbs) && /Server\.handle_request/.test(crumbs), 'breadcrumb: ' + crumbs);
    await page.waitForTimeout(300);
    await shot(page, 'flame-zoomed.png');
    await page.click('.pane-flame .fg-crumbs button.crumb >> text=main');
    await page.waitForFunction(() => document.querySelector('.pane-flame .crumb.current')?.textContent === 'main');
    await page.click('.pane-flame button:has-text("Reset zoom")');
    await page.waitForFunction(() => document.querySelector('.pane-flame .crumb.current')?.textContent === 'all');
    await page.fill('.pane-flame .fg-search', 'JSONEncoder');
    await page.waitForFunction(() => /2 matches · 4\d\.\d\d% of total/.test(document.querySelector('.pane-flame .fg-search-info').textContent));
    await page.waitForFunction(() => new URLSearchParams(location.search).get('search') === 'JSONEncoder');
    await shot(page, 'flame-search.png');
    await page.fill('.pane-flame .fg-search', '');
    await page.click('.pane-table tbody tr:has-text("Cart.total")');
    await page.waitForFunction(() => /Cart\.total/.test(document.querySelector('.pane-flame .fg-search-info').textContent));
    // line granularity
    await page.click('button.seg-btn[data-value="line"]');
    await page.waitForFunction(() => /gran=line/.test(location.search));
    await page.waitForFunction(() => /:\d+/.test(document.querySelector('.pane-table tbody .fn-file')?.textContent || ''));
    await page.waitForSelector('.page-query:not(:has(.card.is-loading))');
    const lb = await canvasBox(page);
    await page.mouse.move(lb.x + 8, lb.y + 5 * ROW + 9);
    await page.waitForSelector('.pane-flame .fg-tip:not([hidden])');
    const ltip = await page.locator('.pane-flame .fg-tip').innerText();
    check(/render_json/.test(ltip) && /views\.py:23/.test(ltip), 'line tooltip: ' + ltip);
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

  ['View SQL shows the query and runs it', async (page, { base }) => {
    await openQuery(page, base);
    await page.click('button:has-text("View SQL")');
    await page.waitForSelector('dialog.sql-modal[open]');
    const sql = await page.inputValue('.sql-text');
    check(/SELECT/i.test(sql), 'no SQL shown: ' + sql.slice(0, 100));
    await page.click('button:has-text("Run query")');
    await page.waitForSelector('.sql-table tbody tr');
    const n = await page.locator('.sql-table tbody tr').count();
    const status = await page.locator('.sql-status').innerText();
    check(n > 0 && /row/.test(status), `no result rows (${n}, ${status})`);
    await shot(page, 'view-sql.png');
    // a write is refused with the server's message
    await page.fill('.sql-text', 'DELETE FROM series');
    await page.click('button:has-text("Run query")');
    await page.waitForSelector('.sql-result .error-box');
    check(/403/.test(await page.locator('.sql-result .error-box').innerText()), 'DELETE not refused');
  }, { allow: /status of 403/ }],

  ['comparison: blended diff graph with legend and significance, simple side by side, diff table, analysis', async (page, { base }) => {
    await page.goto(`${base}/?page=compare&app=shop&type=cpu&hours=2`);
    await page.waitForSelector('.page-compare .findings', { timeout: 20000 });
    check(await page.locator('.diff-legend').isVisible(), 'no legend');
    check(/sampling noise/.test(await page.locator('.diff-legend').innerText()), 'legend lacks the not-significant marker');
    const first = await page.locator('.page-compare .tbl tbody tr').first().innerText();
    check(/JSONEncoder\.iterencode/.test(first) && /\+\d/.test(first), 'diff table first row: ' + first);
    const analysis = await page.locator('.page-compare .findings').innerText();
    check(/JSONEncoder\.iterencode got worse/.test(analysis) && /significant \(z =/.test(analysis), 'analysis: ' + analysis.slice(0, 300));
    check(/Cart\.total improved/.test(analysis), 'analysis misses the improvement');
    // tooltip on the blended graph
    const box = await canvasBox(page, '.blended canvas');
    await page.mouse.move(box.x + box.width * 0.45, box.y + 5 * ROW + 9);
    await page.waitForSelector('.blended .fg-tip:not([hidden])');
    check(/Significance/.test(await page.locator('.blended .fg-tip').innerText()), 'diff tooltip');
    await shot(page, 'compare-blended.png');
    await page.click('.seg-btn[data-value="simple"]');
    await page.waitForFunction(() => !document.querySelector('.side-by-side').hidden);
    const canv = await page.locator('.side-by-side canvas').count();
    check(canv === 2, 'simple mode should show two flame graphs');
    check(url(page).searchParams.get('cmode') === 'simple', 'cmode not in URL');
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

  ['settings: validate, save, read back through the API; agents shown', async (page, { base }) => {
    await page.goto(`${base}/?page=settings`);
    const card = page.locator('.settings-card[data-app="shop"]');
    await card.locator('input[name="cpu_interval_ms"]').waitFor();
    check(/web-1/.test(await card.locator('.agents').innerText()), 'agent web-1 not listed');
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

  ['untrusted text: HTML in thread names, function and file names shows literally, no dialog', async (page, { base }) => {
    await openQuery(page, base, 'app=shop&type=cpu');
    const opts = await page.locator('select[data-key="thread_name"] option').allInnerTexts();
    check(opts.includes('<img src=x onerror=alert(1)>'), 'thread name not listed literally: ' + opts);
    await page.selectOption('select[data-key="thread_name"]', '<img src=x onerror=alert(1)>');
    await page.waitForFunction(() => /evil_task/.test(document.querySelector('.pane-table tbody')?.innerText || ''));
    await openQuery(page, base, 'app=xss&type=cpu');
    await page.waitForFunction(() => document.querySelector('.pane-table tbody')?.innerText.includes('<img src=x onerror=alert(1)>'));
    const file = await page.locator('.pane-table tbody .fn-file').first().innerText();
    check(file.includes('<script>alert(2)</script>'), 'file name: ' + file);
    const teamOpts = await page.locator('select[data-key="team"] option').allInnerTexts();
    check(teamOpts.includes('<b>ops</b>'), 'label value: ' + teamOpts);
    const injected = await page.evaluate(() => document.querySelectorAll('main img, main script, main b').length);
    check(injected === 0, `${injected} elements were injected from data`);
    const box = await canvasBox(page);
    await page.mouse.move(box.x + 20, box.y + 2 * ROW + 9);
    await page.waitForSelector('.fg-tip:not([hidden])');
    check((await page.locator('.pane-flame .fg-tip').innerText()).includes('<img src=x onerror=alert(1)>'), 'tooltip not literal');
    await page.waitForTimeout(300); // give any injected handler a chance to fire
    await shot(page, 'xss.png');
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

  ['agent profiles (real `flamewatch run` output) render', async (page, { base, agent }) => {
    if (!agent.n) throw new Error('no real agent profiles to show: ' + agent.why);   // make test always builds the agent
    await openQuery(page, base, 'app=agentshop&type=cpu');
    await page.waitForFunction(() => document.querySelectorAll('.pane-table tbody tr').length > 3);
    const txt = await page.locator('.pane-table tbody').innerText();
    check(/render_json|dumps|Cart\.total|compile|loads/.test(txt), 'agent functions missing: ' + txt.slice(0, 200));
    await shot(page, 'agent.png');
  }],

  ['benchmark: a 50,000-node flame graph renders in under 100 ms', async (page, { base }) => {
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
    check(r.first < 100, `first render took ${r.first.toFixed(1)} ms`);
    check(r.max < 100, `a redraw took ${r.max.toFixed(1)} ms`);
  }],
];

main().catch((e) => { console.log('FAIL runner: ' + (e.stack || e)); console.log('RESULT passed=0 failed=1'); process.exit(1); });
