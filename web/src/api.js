// The server's JSON API (docs/API.md). Every failure becomes an ApiError whose message says
// which request failed and why, ready to show to the user.

export class ApiError extends Error {
  constructor(message, status, what) {
    super(message);
    this.status = status;
    this.what = what;
  }
}

const TOKEN_KEY = 'flamewatch.token';

export function getToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(t) {
  try {
    if (t) localStorage.setItem(TOKEN_KEY, t);
    else localStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lives for this page only */ }
}

async function request(method, path, body, what) {
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(`${what}: cannot reach the flamewatch server (${e.message || e})`, 0, what);
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const reason = data && typeof data.error === 'string' ? data.error : text.slice(0, 300) || resp.statusText;
    let hint = '';
    if (resp.status === 401) hint = ' Set an API token with the key button in the top bar.';
    else if (resp.status === 403) hint = ' Your token does not have the role for this.';
    throw new ApiError(`${what} failed (HTTP ${resp.status}): ${reason}.${hint}`, resp.status, what);
  }
  if (data === null) throw new ApiError(`${what}: the server sent an answer that is not JSON`, resp.status, what);
  return data;
}

/** Builds a query string; arrays become repeated parameters (label=k=v&label=k2=v2). */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => u.append(k, x));
    else u.append(k, String(v));
  }
  return u.toString();
}

export function filtersToLabels(filters) {
  const out = [];
  for (const [k, v] of Object.entries(filters || {})) if (v !== undefined && v !== '') out.push(`${k}=${v}`);
  return out;
}

export const api = {
  apps: () => request('GET', '/api/v1/apps', undefined, 'Loading applications'),
  labels: (p) => request('GET', '/api/v1/labels?' + qs(p), undefined, 'Loading label values'),
  trend: (p) => request('GET', '/api/v1/trend?' + qs(p), undefined, 'Loading the trend'),
  flamegraph: (p) => request('GET', '/api/v1/flamegraph?' + qs(p), undefined, 'Loading the flame graph'),
  table: (p) => request('GET', '/api/v1/table?' + qs(p), undefined, 'Loading the function table'),
  diff: (p) => request('GET', '/api/v1/diff?' + qs(p), undefined, 'Loading the comparison'),
  analysis: (p) => request('GET', '/api/v1/analysis?' + qs(p), undefined, p.focus ? `Analysing ${p.focus}` : 'Loading the analysis'),
  ask: (body) => request('POST', '/api/v1/ask', body, 'Asking the question'),
  sql: (query, maxRows = 1000) => request('POST', '/api/v1/sql', { query, maxRows, format: 'json' }, 'Running the SQL'),
  getSettings: (app) => request('GET', `/api/v1/apps/${encodeURIComponent(app)}/settings`, undefined, `Loading settings of ${app}`),
  putSettings: (app, s) => request('PUT', `/api/v1/apps/${encodeURIComponent(app)}/settings`, s, `Saving settings of ${app}`),
};
