// DOM and formatting helpers. Everything that comes from profiles (function names, file names,
// label values) is inserted as text nodes or through textContent, never as HTML.

/**
 * el('div', {class: 'x', onclick: fn}, 'text', childNode, [more, children])
 * Strings become text nodes. Attributes starting with "on" become event listeners;
 * `dataset`/`style` objects are assigned; everything else goes through setAttribute.
 */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k === 'style' && typeof v === 'object') Object.assign(node.style, v);
      else if (k === 'value') node.value = v;
      else if (k === 'checked') node.checked = !!v;
      else if (k === 'text') node.textContent = v;
      else node.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else if (c instanceof Node) node.appendChild(c);
    else node.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function debounce(fn, ms) {
  let t = 0;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

const SI = ['', 'k', 'M', 'G', 'T', 'P'];

function trim(x) {
  const s = x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
  return s.replace(/\.0+$/, '').replace(/(\.\d*?)0+$/, '$1');
}

/** A value in the profile's unit, for humans: 1.23 s, 45.6 MB, 12.3k. */
export function fmtValue(v, unit) {
  if (v === undefined || v === null || Number.isNaN(v)) return '–';
  const neg = v < 0;
  let a = Math.abs(v);
  let out;
  if (unit === 'nanoseconds') {
    if (a >= 3600e9) out = trim(a / 3600e9) + ' h';
    else if (a >= 60e9) out = trim(a / 60e9) + ' min';
    else if (a >= 1e9) out = trim(a / 1e9) + ' s';
    else if (a >= 1e6) out = trim(a / 1e6) + ' ms';
    else if (a >= 1e3) out = trim(a / 1e3) + ' µs';
    else out = trim(a) + ' ns';
  } else if (unit === 'bytes') {
    const u = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
    let i = 0;
    while (a >= 1024 && i < u.length - 1) { a /= 1024; i++; }
    out = trim(a) + ' ' + u[i];
  } else {
    let i = 0;
    while (a >= 1000 && i < SI.length - 1) { a /= 1000; i++; }
    out = trim(a) + SI[i];
  }
  return (neg ? '−' : '') + out;
}

export function fmtPct(x, digits = 2) {
  if (!Number.isFinite(x)) return '–';
  return (x * 100).toFixed(digits) + '%';
}

export function fmtSignedPct(x, digits = 2) {
  if (!Number.isFinite(x)) return '–';
  const s = (Math.abs(x) * 100).toFixed(digits);
  return (x > 0 ? '+' : x < 0 ? '−' : '±') + s + ' pp';
}

export function fmtTime(unixSec) {
  const d = new Date(unixSec * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtAgo(unixSec, now = Date.now() / 1000) {
  const s = Math.max(0, Math.round(now - unixSec));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** "json/encoder.py" → "json"; "/usr/lib/python3.11/site-packages/django/db/x.py" → "django". */
export function moduleOf(name, file) {
  if (file) {
    let f = file.replace(/\\/g, '/');
    const sp = f.lastIndexOf('-packages/');
    if (sp >= 0) f = f.slice(sp + 10);
    else {
      const m = f.match(/\/python3(?:\.\d+)?\/(.*)$/);
      if (m) f = m[1];
    }
    const parts = f.split('/').filter(Boolean);
    if (parts.length > 1) return parts[0];
    if (parts.length === 1) return parts[0].replace(/\.py$/, '');
  }
  if (name) {
    const dot = name.indexOf('.');
    if (dot > 0) return name.slice(0, dot);
    return name;
  }
  return '';
}

/** FNV-1a, for stable colours. */
export function hashString(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function unitLabel(unit) {
  return unit === 'nanoseconds' ? 'time' : unit === 'bytes' ? 'bytes' : unit || 'value';
}
