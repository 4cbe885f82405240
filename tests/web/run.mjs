// Browser tests of the web console: a real `flamewatch server` on a free loopback port with a
// temporary data dir, real profiles of a small Python service (tests/web/shop.py, two versions)
// written by the agent under `flamewatch run`, checked against what the service measured itself
// with time.thread_time(), and Debian's chromium driven by playwright-core. Every test also fails
// when the page logs a console error or opens a dialog (alert() from an XSS would). Screenshots
// go to BUILD/test-output/web/. Last line: RESULT passed=N failed=M.

// The tests are in tests_views.mjs and tests_compare.mjs, their helpers in lib.mjs.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, BIN, OUT, CHROMIUM, ARGS, log, freePort, waitHealthy, ingest, shopProfiles, check, spread } from './lib.mjs';
import { TESTS as VIEWS } from './tests_views.mjs';
import { TESTS as COMPARE } from './tests_compare.mjs';

const TESTS = [...VIEWS, ...COMPARE];
let passed = 0, failed = 0;

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

main().catch((e) => { console.log('FAIL runner: ' + (e.stack || e)); console.log('RESULT passed=0 failed=1'); process.exit(1); });
