// "Download" on the query page: the profile of the current view (application, type, time range,
// filters, granularity) in a format other tools open. The server renders every format
// (/api/v1/flamegraph?format=pprof|folded|speedscope|svg, docs/API.md), so a file downloaded here
// has the same bytes as `flamewatch query --format ...` for the same view. The request carries
// the API token like every other call, which a plain <a href> could not, so the answer is
// fetched and handed to the browser as a blob.

import { el } from '../util.js';
import { qs, getToken } from '../api.js';

export const DOWNLOAD_FORMATS = [
  { format: 'pprof', label: 'pprof', ext: 'pb.gz', hint: 'go tool pprof, Pyroscope, Grafana' },
  { format: 'folded', label: 'Folded stacks', ext: 'folded.txt', hint: 'flamegraph.pl, inferno' },
  { format: 'speedscope', label: 'speedscope', ext: 'speedscope.json', hint: 'speedscope.app' },
  { format: 'svg', label: 'SVG flame graph', ext: 'svg', hint: 'any browser, no script' },
];

const safe = (s) => String(s).replace(/[^A-Za-z0-9._-]+/g, '_');

/**
 * The Download menu. `view()` returns the current query parameters ({app, type, from, to,
 * label, granularity, maxNodes}) or null when nothing is shown; `onError(message)` reports a
 * failed download.
 */
export function downloadMenu(view, onError) {
  const items = DOWNLOAD_FORMATS.map((f) => el('button', {
    type: 'button', class: 'menu-item', role: 'menuitem', dataset: { format: f.format }, title: f.hint,
    onclick: () => { menu.open = false; download(f); },
  }, `${f.label} (.${f.ext})`));
  const menu = el('details', { class: 'download-menu' },
    el('summary', { class: 'btn', title: 'Download the profile of this view' }, 'Download'),
    el('div', { class: 'menu', role: 'menu' }, items));

  async function download(f) {
    const p = view();
    if (!p) { onError('Nothing to download: no profile is shown.'); return; }
    const headers = {};
    const token = getToken();
    if (token) headers.Authorization = 'Bearer ' + token;
    let blob;
    try {
      const resp = await fetch('/api/v1/flamegraph?' + qs({ ...p, format: f.format }), { headers });
      if (!resp.ok) {
        const text = await resp.text();
        let reason = text.slice(0, 300);
        try { reason = JSON.parse(text).error || reason; } catch { /* not JSON */ }
        throw new Error(`HTTP ${resp.status}: ${reason}`);
      }
      blob = await resp.blob();
    } catch (e) {
      onError(`Downloading ${f.label} failed (${e.message || e}).`);
      return;
    }
    const name = `${safe(p.app)}-${safe(p.type)}-${safe(p.from)}-${safe(p.to)}.${f.ext}`;
    const a = el('a', { href: URL.createObjectURL(blob), download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
  }

  return menu;
}
