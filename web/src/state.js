// Shareable state: everything a view shows is in the URL (page, app, type, range, filters,
// display mode, ...), so a link reproduces the view and back/forward walk through changes.

const DEFAULTS = {
  page: 'query',
  app: '',
  type: '',
  from: 'now-15m',
  to: 'now',
  refresh: '',          // auto-refresh period in seconds, '' = off
  mode: 'both',         // flame | table | both
  gran: 'function',     // function | line
  search: '',
  hours: '24',          // comparison: baseline is the same range N hours earlier
  cmode: 'blended',     // comparison: simple | blended
};

const KEYS = Object.keys(DEFAULTS);

export function parseUrl(loc = window.location) {
  const p = new URLSearchParams(loc.search);
  const s = { ...DEFAULTS, filters: {} };
  for (const k of KEYS) if (p.has(k)) s[k] = p.get(k);
  for (const f of p.getAll('label')) {
    const eq = f.indexOf('=');
    if (eq > 0) s.filters[f.slice(0, eq)] = f.slice(eq + 1);
  }
  if (!['query', 'compare', 'settings'].includes(s.page)) s.page = 'query';
  if (!['flame', 'table', 'both'].includes(s.mode)) s.mode = 'both';
  if (!['function', 'line'].includes(s.gran)) s.gran = 'function';
  if (!['simple', 'blended'].includes(s.cmode)) s.cmode = 'blended';
  return s;
}

export function toUrl(s) {
  const p = new URLSearchParams();
  for (const k of KEYS) if (s[k] !== undefined && s[k] !== '' && s[k] !== DEFAULTS[k]) p.set(k, s[k]);
  if (s.page === 'query') p.set('page', 'query');
  for (const [k, v] of Object.entries(s.filters || {})) p.append('label', `${k}=${v}`);
  const q = p.toString();
  return '/' + (q ? '?' + q : '');
}

let current = parseUrl();
const listeners = new Set();

export function getState() {
  return current;
}

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function notify(prev) {
  for (const fn of [...listeners]) fn(current, prev);
}

/** Merges `patch` into the state, writes the URL (a new history entry unless replace), notifies. */
export function setState(patch, { replace = false } = {}) {
  const prev = current;
  const next = { ...current, ...patch };
  if (patch.filters) next.filters = { ...patch.filters };
  const url = toUrl(next);
  current = next;
  if (url !== window.location.pathname + window.location.search) {
    if (replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
  }
  notify(prev);
}

window.addEventListener('popstate', () => {
  const prev = current;
  current = parseUrl();
  notify(prev);
});

export function sameFilters(a, b) {
  const ka = Object.keys(a || {}), kb = Object.keys(b || {});
  if (ka.length !== kb.length) return false;
  return ka.every((k) => a[k] === b[k]);
}
