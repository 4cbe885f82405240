// Settings page: per application, the agent settings (PRODUCT.md §1), validated here and by the
// server, saved with PUT /api/v1/apps/{app}/settings, and which agents picked them up when.

import { el, clear, fmtAgo, fmtTime } from '../util.js';
import { api } from '../api.js';

const FIELDS = {
  cpu_interval_ms: { min: 1, max: 1000, label: 'CPU sampling interval', unit: 'ms' },
  memory_threshold_kb: { min: 1, max: 1048576, label: 'Memory sampling threshold', unit: 'KB' },
};

export function validateSettings(v) {
  const errors = {};
  for (const [k, f] of Object.entries(FIELDS)) {
    const raw = String(v[k]).trim();
    if (!/^\d+$/.test(raw)) errors[k] = `${f.label} must be a whole number of ${f.unit} (${f.min}–${f.max.toLocaleString('en-US')}).`;
    else if (Number(raw) < f.min || Number(raw) > f.max) errors[k] = `${f.label} must be between ${f.min} and ${f.max.toLocaleString('en-US')} ${f.unit}; ${raw} is out of range.`;
  }
  return errors;
}

export function mountSettings(container) {
  const root = el('div', { class: 'page page-settings' });
  container.append(root);
  const intro = el('div', { class: 'page-intro' }, el('h1', {}, 'Agent settings'),
    el('p', { class: 'muted' }, 'Settings apply per application. Running agents poll them and apply a change within two minutes (usually within 30 seconds). Flags and environment variables give the defaults until a setting is saved here.'));
  const list = el('div', { class: 'settings-list' });
  root.append(intro, list);

  async function load() {
    clear(list).append(el('div', { class: 'card-status loading' }, 'Loading applications…'));
    let apps;
    try {
      apps = (await api.apps()).apps || [];
    } catch (e) {
      clear(list).append(el('div', { class: 'error-box', role: 'alert' }, e.message));
      return;
    }
    clear(list);
    if (!apps.length) {
      list.append(el('div', { class: 'empty-state' }, el('h2', {}, 'No applications yet'),
        el('p', {}, 'Applications appear here once an agent has sent a profile.')));
      return;
    }
    for (const a of apps) list.append(appCard(a.name));
  }

  function appCard(app) {
    const body = el('div', { class: 'card-body' }, el('div', { class: 'muted' }, 'Loading…'));
    const cardEl = el('section', { class: 'card settings-card', dataset: { app } },
      el('div', { class: 'card-head' }, el('h2', {}, app)), body);
    api.getSettings(app).then((s) => renderForm(body, app, s)).catch((e) => {
      clear(body).append(el('div', { class: 'error-box', role: 'alert' }, e.message));
    });
    return cardEl;
  }

  function renderForm(body, app, s) {
    clear(body);
    const chk = (name, label, hint) => {
      const input = el('input', { type: 'checkbox', name, checked: !!s[name] });
      return { input, row: el('label', { class: 'switch-row' }, input, el('span', { class: 'switch-label' }, label), hint ? el('span', { class: 'muted small' }, hint) : null) };
    };
    const num = (name) => {
      const f = FIELDS[name];
      const input = el('input', { type: 'text', inputmode: 'numeric', name, value: String(s[name]), class: 'num-input', 'aria-label': f.label });
      const err = el('div', { class: 'field-error', role: 'alert' });
      return { input, err, row: el('div', { class: 'field' }, el('label', {}, f.label, input, el('span', { class: 'unit' }, f.unit)), err) };
    };
    const enabled = chk('enabled', 'Profiling enabled', 'Master switch: off stops all collection.');
    const cpu = chk('cpu', 'CPU hotspots');
    const interval = num('cpu_interval_ms');
    const wall = chk('wall', 'Wall-clock (off-CPU) profile');
    const mem = chk('memory', 'Memory hotspots');
    const threshold = num('memory_threshold_kb');
    const status = el('span', { class: 'save-status', role: 'status' });
    const save = el('button', { type: 'submit', class: 'btn btn-primary' }, 'Save settings');
    const sync = () => {
      const on = enabled.input.checked;
      for (const x of [cpu.input, wall.input, mem.input, interval.input, threshold.input]) x.disabled = !on;
      if (on) { interval.input.disabled = !cpu.input.checked; threshold.input.disabled = !mem.input.checked; }
    };
    for (const x of [enabled.input, cpu.input, mem.input]) x.addEventListener('change', sync);
    sync();
    const form = el('form', { class: 'settings-form', novalidate: true },
      el('div', { class: 'settings-grid' },
        el('div', { class: 'group' }, enabled.row),
        el('div', { class: 'group' }, cpu.row, interval.row),
        el('div', { class: 'group' }, wall.row),
        el('div', { class: 'group' }, mem.row, threshold.row)),
      el('div', { class: 'form-actions' }, save, status));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const v = { cpu_interval_ms: interval.input.value, memory_threshold_kb: threshold.input.value };
      const errs = validateSettings(v);
      interval.err.textContent = errs.cpu_interval_ms || '';
      threshold.err.textContent = errs.memory_threshold_kb || '';
      interval.input.classList.toggle('invalid', !!errs.cpu_interval_ms);
      threshold.input.classList.toggle('invalid', !!errs.memory_threshold_kb);
      if (Object.keys(errs).length) { status.className = 'save-status error'; status.textContent = 'Not saved: fix the fields marked in red.'; return; }
      const payload = {
        enabled: enabled.input.checked, cpu: cpu.input.checked, wall: wall.input.checked, memory: mem.input.checked,
        cpu_interval_ms: Number(v.cpu_interval_ms), memory_threshold_kb: Number(v.memory_threshold_kb),
      };
      save.disabled = true;
      status.className = 'save-status';
      status.textContent = 'Saving…';
      try {
        const r = await api.putSettings(app, payload);
        renderForm(body, app, r.agents ? r : { ...r, agents: s.agents });
        const st = body.querySelector('.save-status');
        st.className = 'save-status ok';
        st.textContent = `Saved at ${fmtTime(r.updated_at || Date.now() / 1000)}. Agents pick it up at their next poll.`;
      } catch (err) {
        save.disabled = false;
        status.className = 'save-status error';
        status.textContent = err.message;
      }
    });
    body.append(form, agentsTable(s));
  }

  function agentsTable(s) {
    const box = el('div', { class: 'agents' }, el('h3', {}, 'Agents'));
    const agents = s.agents || [];
    if (!agents.length) {
      box.append(el('p', { class: 'muted' }, s.updated_at ? 'No agent has fetched settings yet.' : 'No agent has fetched settings yet. These are the defaults.'));
      return box;
    }
    box.append(el('table', { class: 'tbl agents-table' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Host'), el('th', { class: 'num' }, 'PID'), el('th', {}, 'Last fetch'), el('th', {}, 'Settings version'))),
      el('tbody', {}, agents.map((a) => el('tr', {},
        el('td', {}, a.host), el('td', { class: 'num' }, String(a.pid)),
        el('td', { title: fmtTime(a.last_fetch) }, fmtAgo(a.last_fetch)),
        el('td', {}, a.current ? el('span', { class: 'badge ok' }, 'up to date') : el('span', { class: 'badge warn' }, `pending (has ${a.settings_updated_at ? fmtTime(a.settings_updated_at) : 'defaults'})`)))))));
    return box;
  }

  load();
  return { update() {}, destroy() { root.remove(); } };
}
