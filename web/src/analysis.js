// Rule-based analysis. A single profile: what dominates, and Python hot spots (serialization,
// regex compilation, logging, GC, lock waits, ...) each with a concrete suggestion. A
// comparison: what got worse, by how much, and whether it is beyond sampling noise (the diff
// API's per-node two-proportion z test).

import { fmtValue, fmtPct, fmtSignedPct } from './util.js';

const norm = (f) => (f || '').replace(/\\/g, '/');

// Each rule marks frames; the share is that of samples with at least one marked frame.
export const RULES = [
  {
    id: 'json', title: 'JSON serialization',
    match: (n, f) => /(^|\/)json\/(encoder|decoder|__init__)\.py$/.test(f) || /^(json\.(dumps|loads|dump|load)|JSONEncoder\.|JSONDecoder\.)/.test(n) || /(^|\/)(orjson|ujson|simplejson)\b/.test(f),
    suggest: 'Serialize less: cache encoded responses, avoid encoding the same object twice, trim payloads, or switch to a faster codec (orjson, msgspec).',
  },
  {
    id: 'pickle', title: 'pickle serialization',
    match: (n, f) => /(^|\/)(pickle|copyreg|_compat_pickle)\.py$/.test(f) || /^(_?Pickler|_?Unpickler)\b|^pickle\./.test(n),
    suggest: 'Pickle less data (send ids instead of objects, e.g. to multiprocessing or caches), use protocol=pickle.HIGHEST_PROTOCOL, or a compact format for hot paths.',
  },
  {
    id: 're', title: 'Regular expression compilation',
    match: (n, f) => /(^|\/)(re\/_compiler|re\/_parser|sre_compile|sre_parse)\.py$/.test(f) || ((/(^|\/)re(\/__init__)?\.py$/.test(f)) && /_compile|compile/.test(n)),
    suggest: 'Compile patterns once at import time (PATTERN = re.compile(...)) and reuse them; building patterns dynamically defeats re\'s small internal cache.',
  },
  {
    id: 'logging', title: 'Logging',
    match: (n, f) => /(^|\/)logging\/(__init__|handlers)\.py$/.test(f) || /^(Logger|Handler|StreamHandler|Formatter|LogRecord)\./.test(n),
    suggest: 'Raise the log level on hot paths, use lazy arguments (log.debug("x %s", v)) instead of f-strings, guard expensive messages with isEnabledFor(), and move slow handlers behind a QueueHandler.',
  },
  {
    id: 'gc', title: 'Garbage collection',
    match: (n, f) => /^(gc\.collect|gc_collect.*|<gc>|\[gc\]|GC|garbage collection)$/i.test(n) || f === 'gc',
    suggest: 'Reduce allocation churn of container objects; call gc.freeze() after startup so long-lived objects are not rescanned, and raise gc.set_threshold() for large heaps.',
  },
  {
    id: 'locks', title: 'Lock and condition waits',
    match: (n, f) => (/(^|\/)threading\.py$/.test(f) && /(wait|acquire|join|_wait_for_tstate_lock)/i.test(n)) || (/(^|\/)queue\.py$/.test(f) && /\.(get|put)$/.test(n)) || /^(Lock|RLock|Condition|Semaphore|Event)\.(acquire|wait)$/.test(n),
    suggest: 'Threads are waiting on locks or conditions: shorten critical sections, never hold a lock across I/O, shard shared state, or hand work over through queues in batches.',
  },
  {
    id: 'copy', title: 'copy.deepcopy',
    match: (n, f) => /(^|\/)copy\.py$/.test(f) || /^(copy\.)?deepcopy$/.test(n),
    suggest: 'Avoid deepcopy on hot paths: copy only what changes, or use immutable data (tuples, frozen dataclasses).',
  },
  {
    id: 'io', title: 'Network and socket I/O',
    match: (n, f) => /(^|\/)(socket|ssl|selectors|http\/client|asyncio\/selector_events)\.py$/.test(f),
    suggest: 'Time in sockets: reuse connections (pooling, keep-alive), batch round trips, set timeouts, and move blocking calls off request threads.',
  },
];

function markShare(nodes, rule) {
  // Pre-order walk; a sample counts once even if several frames of its stack match.
  const n = nodes.length;
  if (!n || !(nodes[0].total > 0)) return { share: 0, value: 0, top: null };
  let value = 0;
  const byFn = new Map();
  const inside = new Int32Array(n); // 1 if the node or an ancestor matched
  for (let i = 1; i < n; i++) {
    const d = nodes[i];
    const m = rule.match(d.name || '', norm(d.file));
    const anc = inside[d.parent];
    if (m) {
      byFn.set(d.name, (byFn.get(d.name) || 0) + d.self);
      if (!anc) value += d.total;
    }
    inside[i] = anc || m ? 1 : 0;
  }
  let top = null, topV = 0;
  for (const [k, v] of byFn) if (v > topV) { top = k; topV = v; }
  return { share: value / nodes[0].total, value, top };
}

/** Follows the largest child while it holds at least `min` of the root. */
function hotPath(nodes, min = 0.5) {
  const n = nodes.length;
  if (n < 2) return [];
  const kids = new Map();
  for (let i = 1; i < n; i++) {
    const p = nodes[i].parent;
    if (!kids.has(p)) kids.set(p, i); // children come largest first
  }
  const path = [];
  let i = 0;
  const root = nodes[0].total;
  for (;;) {
    const c = kids.get(i);
    if (c === undefined || nodes[c].total < min * root) break;
    path.push(c);
    i = c;
  }
  return path;
}

/**
 * Single-profile analysis.
 * nodes: flame graph nodes; rows: table rows; total; unit; type.
 * → [{level: 'hot'|'warn'|'info'|'ok', title, detail, suggestion}]
 */
export function analyzeProfile({ nodes, rows, total, unit, type }) {
  const out = [];
  if (!total || !rows || !rows.length) return [{ level: 'info', title: 'Nothing to analyse', detail: 'There are no samples in this range and filter.' }];
  const bySelf = rows.slice().sort((a, b) => b.self - a.self);
  const top = bySelf[0];
  const topShare = top.self / total;
  const what = type === 'cpu' ? 'CPU time' : type === 'wall' ? 'wall time' : /space/.test(type) ? 'memory' : /objects/.test(type) ? 'objects' : 'the profile';
  if (topShare >= 0.2) {
    out.push({ level: 'hot', title: `${top.name} dominates: ${fmtPct(topShare, 1)} of ${what} is its own code`,
      detail: `${fmtValue(top.self, unit)} self${top.file ? ` in ${top.file}${top.line ? ':' + top.line : ''}` : ''}.`,
      suggestion: 'Start here: look for repeated work in this function (caching, batching, a better algorithm) or move it off the hot path.' });
  } else {
    const top3 = bySelf.slice(0, 3).map((r) => `${r.name} ${fmtPct(r.self / total, 1)}`).join(', ');
    out.push({ level: 'info', title: 'No single function dominates', detail: `Largest self shares: ${top3}.`,
      suggestion: 'The cost is spread out; use the flame graph to find the widest subtree and optimise its callers.' });
  }
  const path = hotPath(nodes || []);
  if (path.length) {
    const last = nodes[path[path.length - 1]];
    out.push({ level: 'info', title: `Hot path: ${fmtPct(last.total / total, 1)} of ${what} runs under ${last.name}`,
      detail: path.slice(-4).map((i) => nodes[i].name).join(' › '), suggestion: 'Click it in the flame graph to zoom in.' });
  }
  for (const r of RULES) {
    const m = markShare(nodes || [], r);
    if (m.share < 0.01) continue;
    if (r.id === 'io' && type === 'cpu' && m.share < 0.05) continue;
    const level = m.share >= 0.05 ? 'hot' : 'warn';
    let detail = `${fmtPct(m.share, 1)} of ${what} (${fmtValue(m.value, unit)}) is spent in ${r.title.toLowerCase()}`;
    if (m.top) detail += `, mostly in ${m.top}`;
    detail += '.';
    if (r.id === 'locks' && type === 'cpu') detail += ' On the CPU profile this is spinning or contended acquisition; check the wall profile for time spent blocked.';
    out.push({ level, title: r.title, detail, suggestion: r.suggest });
  }
  if (type === 'wall') out.push({ level: 'info', title: 'Wall time includes idle threads', detail: 'Threads that sleep or wait (thread pools, event loops) show up in the wall profile.', suggestion: 'Filter by thread group or thread name to look at request threads only.' });
  if (/alloc/.test(type) && topShare >= 0.1) out.push({ level: 'info', title: 'Allocation hot spot', detail: `${top.name} allocates ${fmtPct(topShare, 1)}.`, suggestion: 'Reuse buffers, avoid building intermediate lists (use generators), and prefer __slots__ for many small objects.' });
  if (out.filter((f) => f.level === 'hot' || f.level === 'warn').length === 0) out.push({ level: 'ok', title: 'No Python hot spot found', detail: 'None of serialization, regex compilation, logging, GC, lock waits, deepcopy or socket I/O reaches 1%.' });
  return out;
}

/**
 * Comparison analysis.
 * base/cmp: {rows, total}; diffNodes: the diff API's nodes; unit; type; hours.
 */
export function analyzeDiff({ base, cmp, diffNodes, unit, hours }) {
  const out = [];
  if (!base.total && !cmp.total) return [{ level: 'info', title: 'Nothing to compare', detail: 'Neither range has samples.' }];
  if (!base.total) return [{ level: 'warn', title: 'No baseline data', detail: `There are no samples ${hours} h earlier; every function is new.`, suggestion: 'Pick a smaller N (past hours) where the application was already running.' }];
  if (!cmp.total) return [{ level: 'warn', title: 'No data in the current range', detail: 'The baseline has samples but the current range has none.' }];
  const ratio = cmp.total / base.total - 1;
  out.push({ level: Math.abs(ratio) >= 0.2 ? (ratio > 0 ? 'hot' : 'ok') : 'info',
    title: `Total ${ratio >= 0 ? 'up' : 'down'} ${fmtPct(Math.abs(ratio), 1)}: ${fmtValue(base.total, unit)} → ${fmtValue(cmp.total, unit)}`,
    detail: 'Both ranges have the same length, so totals compare directly (load changes move them too).' });
  // Significance per function (name and file: re/__init__.py's _compile is not re/_compiler.py's):
  // the strongest growth and the strongest shrink among its nodes, so that a function that got
  // worse is judged by the node that grew most, not by one that shrank elsewhere.
  const key = (r) => `${r.name}\u0000${r.file || ''}`;
  const sig = new Map();
  for (const d of diffNodes || []) {
    const k = key(d);
    const s = sig.get(k) || { up: null, down: null };
    const z = d.z || 0;
    if (z > 0 && (!s.up || z > s.up.z)) s.up = { z, significant: d.significant || 0 };
    if (z < 0 && (!s.down || z < s.down.z)) s.down = { z, significant: d.significant || 0 };
    sig.set(k, s);
  }
  const bm = new Map(base.rows.map((r) => [key(r), r]));
  const cm = new Map(cmp.rows.map((r) => [key(r), r]));
  const all = new Set([...bm.keys(), ...cm.keys()]);
  const changes = [];
  const files = new Map(); // name -> number of files it has
  for (const k of all) {
    const b = bm.get(k), c = cm.get(k);
    const r = b || c;
    const bs = b ? b.self / base.total : 0, cs = c ? c.self / cmp.total : 0;
    const s = sig.get(k);
    changes.push({ name: r.name, file: r.file, bs, cs, d: cs - bs, bv: b ? b.self : 0, cv: c ? c.self : 0, sig: s && (cs >= bs ? s.up : s.down) });
    files.set(r.name, (files.get(r.name) || 0) + 1);
  }
  // A name that several files define is shown with its file.
  const label = (c) => (files.get(c.name) > 1 && c.file ? `${c.name} (${shortFile(c.file)})` : c.name);
  const worse = changes.filter((c) => c.d > 0.005).sort((a, b) => b.d - a.d).slice(0, 5);
  const better = changes.filter((c) => c.d < -0.005).sort((a, b) => a.d - b.d).slice(0, 3);
  const noiseWord = (c) => (c.sig && c.sig.significant ? `significant (z = ${c.sig.z.toFixed(1)})` : `within sampling noise${c.sig ? ` (z = ${c.sig.z.toFixed(1)})` : ''}`);
  for (const c of worse) {
    const isNew = c.bv === 0;
    const level = c.sig && c.sig.significant > 0 ? 'hot' : 'info';
    out.push({ level, title: `${label(c)} got worse: ${fmtPct(c.bs, 1)} → ${fmtPct(c.cs, 1)} self (${fmtSignedPct(c.d, 1)})${isNew ? ', new' : ''}`,
      detail: `${fmtValue(c.bv, unit)} → ${fmtValue(c.cv, unit)}; the change is ${noiseWord(c)}.`,
      suggestion: level === 'hot' ? 'Look at what changed in this function or its callers (a deploy, input size, a cache miss rate) in this period.' : 'Not beyond noise: collect a longer range before acting.' });
  }
  for (const c of better) {
    out.push({ level: 'ok', title: `${label(c)} improved: ${fmtPct(c.bs, 1)} → ${fmtPct(c.cs, 1)} self (${fmtSignedPct(c.d, 1)})`, detail: `The change is ${noiseWord(c)}.` });
  }
  const anySig = (diffNodes || []).some((d) => d.significant);
  if (!worse.length && !better.length) out.push({ level: 'ok', title: 'No function moved by more than 0.5 percentage points', detail: anySig ? 'Some nodes differ significantly but by small shares.' : 'The differences are within sampling noise.' });
  return out;
}

/** The last two parts of a path: re/__init__.py, json/encoder.py, shop.py. */
function shortFile(f) {
  return norm(f).split('/').filter(Boolean).slice(-2).join('/');
}
