// Console load benchmark: time from navigation start to the first flame graph drawn, against a
// running `flamewatch server` (docs/BENCHMARKS.md, "Console"). Each run opens the query page in a
// fresh browser context (empty cache and storage) of Debian's chromium, with the launch flags of
// tests/web/run.mjs, and waits for the `fw-flame-first-draw` performance mark that the flame graph
// component sets after its first draw with boxes on the canvas. Per run it also reports the
// Resource Timing of the API requests (request start to last byte) and the server-side time of the
// flame graph query (delta of flamewatch_query_duration_seconds_sum{endpoint="flamegraph"} in
// /metrics around the run; one flame graph request per load).
//
// Usage: node bench/console_load.mjs --base http://127.0.0.1:PORT [--app hist] [--type cpu]
//          [--from now-24h] [--to now] [--runs 5] [--width 1440] [--json out.json]
// Network: the page may only talk to --base (any other request fails the run).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Same flags as tests/web/run.mjs.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function parseArgs(argv) {
  const o = { base: '', app: 'hist', type: 'cpu', from: 'now-24h', to: 'now', runs: 5, width: 1440, json: '', timeout: 120000 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in o) || i + 1 >= argv.length) { console.error(`bad argument ${argv[i]}`); process.exit(2); }
    o[k] = typeof o[k] === 'number' ? Number(argv[++i]) : argv[++i];
  }
  if (!o.base) { console.error('usage: node bench/console_load.mjs --base http://127.0.0.1:PORT [--app A] [--type T] [--from now-24h] [--runs 5]'); process.exit(2); }
  o.base = o.base.replace(/\/$/, '');
  return o;
}

/** The console's own URL state format (web/src/state.js toUrl): non-default keys, then page. */
function consoleUrl(base, { app, type, from, to }) {
  const p = new URLSearchParams();
  p.set('app', app);
  p.set('type', type);
  if (from !== 'now-15m') p.set('from', from);
  if (to !== 'now') p.set('to', to);
  p.set('page', 'query');
  return `${base}/?${p}`;
}

const ENDPOINTS = ['apps', 'labels', 'trend', 'flamegraph', 'table'];

/** Server-side query time so far per endpoint: { flamegraph: { sum (s), count }, ... }. */
async function metricSums(base) {
  const r = await fetch(`${base}/metrics`);
  const text = await r.text();
  const out = {};
  for (const ep of ENDPOINTS) {
    const get = (name) => {
      const m = new RegExp(`^${name}\\{endpoint="${ep}"\\} (\\S+)$`, 'm').exec(text);
      return m ? Number(m[1]) : NaN;
    };
    out[ep] = { sum: get('flamewatch_query_duration_seconds_sum'), count: get('flamewatch_query_duration_seconds_count') };
  }
  return out;
}

/** Waits until the server has no request in flight but the /metrics request itself. */
async function serverIdle(base, timeout) {
  for (const t0 = Date.now(); Date.now() - t0 < timeout;) {
    const text = await (await fetch(`${base}/metrics`)).text();
    const m = /^flamewatch_http_in_flight (\d+)$/m.exec(text);
    if (!m || Number(m[1]) <= 1) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('the server stayed busy');
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-');

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const url = consoleUrl(o.base, o);
  const { chromium } = await import(path.join(ROOT, 'node_modules', 'playwright-core', 'index.mjs'));
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  console.log(`url: ${url}`);
  const runs = [];
  try {
    for (let k = 0; k < o.runs; k++) {
      const context = await browser.newContext({ viewport: { width: o.width, height: 1000 } });
      const page = await context.newPage();
      const errors = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push('page error: ' + e.message));
      page.on('request', (r) => { if (!r.url().startsWith(o.base)) errors.push('request outside the server: ' + r.url()); });
      let pending = 0;
      page.on('request', (r) => { if (r.url().includes('/api/')) pending++; });
      page.on('requestfinished', (r) => { if (r.url().includes('/api/')) pending--; });
      page.on('requestfailed', (r) => { if (r.url().includes('/api/')) pending--; });
      await serverIdle(o.base, o.timeout);   // no leftover query of the previous run
      const before = await metricSums(o.base);
      await page.goto(url, { waitUntil: 'commit' });
      await page.waitForFunction(() => performance.getEntriesByName('fw-flame-first-draw').length > 0, null, { timeout: o.timeout, polling: 50 });
      // Other requests of the page (trend, label values) may still run: wait for all of them, so that
      // the server times below cover the whole page load and the next run starts on an idle server.
      for (const t0 = Date.now(); pending > 0 && Date.now() - t0 < o.timeout;) await new Promise((res) => setTimeout(res, 50));
      const r = await page.evaluate(() => {
        const mark = performance.getEntriesByName('fw-flame-first-draw')[0].startTime;
        const nav = performance.getEntriesByType('navigation')[0];
        const api = {};
        for (const e of performance.getEntriesByType('resource')) {
          const m = /\/api\/v1\/(\w+)/.exec(e.name);
          if (m && !api[m[1]]) api[m[1]] = { start: e.startTime, ttfb: e.responseStart - e.requestStart, end: e.responseEnd, bytes: e.transferSize };
        }
        const fg = document.querySelector('.page-query .fg-canvas');
        return { firstDraw: mark, domContentLoaded: nav ? nav.domContentLoadedEventEnd : NaN, api, summary: (document.querySelector('.summary') || {}).textContent || '', canvasW: fg ? fg.width : 0 };
      });
      const after = await metricSums(o.base);
      r.server = {};
      for (const ep of ENDPOINTS) r.server[ep] = { ms: (after[ep].sum - before[ep].sum) * 1000, n: after[ep].count - before[ep].count };
      r.serverFlameMs = r.server.flamegraph.ms;
      r.serverFlameCount = r.server.flamegraph.n;
      if (errors.length) throw new Error(`run ${k + 1}: ${errors.join(' | ')}`);
      runs.push(r);
      const a = r.api;
      const span = (n) => (a[n] ? `${f1(a[n].start)}-${f1(a[n].end)}` : '-');
      console.log(`run ${k + 1}: first flame graph drawn at ${f1(r.firstDraw)} ms after navigation start` +
        ` (DOMContentLoaded ${f1(r.domContentLoaded)} ms; apps ${span('apps')}, labels ${span('labels')},` +
        ` trend ${span('trend')}, flamegraph ${span('flamegraph')} ms [TTFB ${f1(a.flamegraph && a.flamegraph.ttfb)} ms,` +
        ` ${a.flamegraph ? (a.flamegraph.bytes / 1e6).toFixed(2) : '-'} MB], table ${span('table')};` +
        ` server ${ENDPOINTS.map((ep) => `${ep} ${f1(r.server[ep].ms)} ms/${r.server[ep].n}`).join(', ')}) | ${r.summary}`);
      await context.close();
    }
  } finally {
    await browser.close();
  }
  const med = median(runs.map((r) => r.firstDraw));
  const medS = median(runs.map((r) => r.serverFlameMs));
  console.log(`median of ${runs.length}: first flame graph ${f1(med)} ms after navigation start; ` +
    `runs ${runs.map((r) => f1(r.firstDraw)).join(', ')} ms; server flamegraph query median ${f1(medS)} ms ` +
    `(${runs.map((r) => f1(r.serverFlameMs)).join(', ')})`);
  if (o.json) fs.writeFileSync(o.json, JSON.stringify({ url, runs, median: med, serverFlameMedian: medS }, null, 1));
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
