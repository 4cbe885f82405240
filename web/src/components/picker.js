// Two-column metadata picker: applications on the left, the chosen application's profile
// types (with descriptions) on the right. Picking a type commits (app, type).

import { el, clear } from '../util.js';

export class MetadataPicker {
  constructor(container, { onPick }) {
    this.onPick = onPick;
    this.apps = [];
    this.button = el('button', { type: 'button', class: 'btn picker-button', 'aria-haspopup': 'true', onclick: () => this.toggle() });
    this.panel = el('div', { class: 'picker-panel', role: 'dialog', 'aria-label': 'Choose application and profile type' });
    this.panel.hidden = true;
    this.root = el('div', { class: 'picker' }, this.button, this.panel);
    container.appendChild(this.root);
    document.addEventListener('mousedown', (e) => { if (!this.root.contains(e.target)) this.panel.hidden = true; });
    document.addEventListener('keydown', (e) => { if (e.key === 'Escape') this.panel.hidden = true; });
  }

  setApps(apps) {
    this.apps = apps || [];
  }

  set(app, type) {
    this.app = app; this.type = type;
    clear(this.button);
    if (app) {
      const t = this.typeInfo(app, type);
      this.button.append(el('span', { class: 'picker-app' }, app), el('span', { class: 'picker-sep' }, ' / '),
        el('span', { class: 'picker-type' }, type || '–'), t ? el('span', { class: 'picker-unit muted' }, ` ${t.unit}`) : null);
    } else {
      this.button.append(el('span', { class: 'muted' }, 'Select application…'));
    }
    this.button.append(el('span', { class: 'caret' }, ' ▾'));
  }

  typeInfo(app, type) {
    const a = this.apps.find((x) => x.name === app);
    return a && a.types.find((t) => t.type === type);
  }

  open() { if (this.panel.hidden) this.toggle(); }

  toggle() {
    if (!this.panel.hidden) { this.panel.hidden = true; return; }
    this.hoverApp = this.app || (this.apps[0] && this.apps[0].name);
    this.appFilter = '';
    this.build();
    this.panel.hidden = false;
  }

  build() {
    clear(this.panel);
    if (!this.apps.length) {
      this.panel.append(el('div', { class: 'picker-empty' }, 'No application has sent profiles yet. Start one with ',
        el('code', {}, 'flamewatch run -- python app.py'), ' or POST a profile to ', el('code', {}, '/ingest'), '.'));
      return;
    }
    const filterIn = el('input', { type: 'search', class: 'picker-filter', placeholder: 'Filter applications…', value: this.appFilter,
      'aria-label': 'Filter applications', oninput: () => { this.appFilter = filterIn.value; this.fillApps(appList); } });
    const appList = el('ul', { class: 'picker-apps', role: 'listbox', 'aria-label': 'Applications' });
    this.typeList = el('ul', { class: 'picker-types', role: 'listbox', 'aria-label': 'Profile types' });
    this.fillApps(appList);
    this.fillTypes();
    this.panel.append(el('div', { class: 'picker-cols' },
      el('div', { class: 'picker-col' }, el('h4', {}, 'Application'), filterIn, appList),
      el('div', { class: 'picker-col picker-col-types' }, el('h4', {}, 'Profile type'), this.typeList)));
    setTimeout(() => filterIn.focus(), 0);
  }

  fillApps(list) {
    clear(list);
    const needle = (this.appFilter || '').toLowerCase();
    for (const a of this.apps) {
      if (needle && !a.name.toLowerCase().includes(needle)) continue;
      const li = el('li', { role: 'option', 'aria-selected': String(a.name === this.hoverApp), class: a.name === this.hoverApp ? 'active' : '' },
        el('button', { type: 'button', class: 'picker-item', dataset: { app: a.name },
          onclick: () => { this.hoverApp = a.name; this.fillApps(list); this.fillTypes(); } },
        el('span', {}, a.name), el('span', { class: 'muted count' }, String(a.types.length))));
      list.append(li);
    }
  }

  fillTypes() {
    clear(this.typeList);
    const a = this.apps.find((x) => x.name === this.hoverApp);
    if (!a) return;
    for (const t of a.types) {
      const current = a.name === this.app && t.type === this.type;
      this.typeList.append(el('li', { role: 'option', 'aria-selected': String(current), class: current ? 'active' : '' },
        el('button', { type: 'button', class: 'picker-item picker-type-item', dataset: { type: t.type },
          onclick: () => { this.panel.hidden = true; this.onPick(a.name, t.type); } },
        el('span', { class: 'type-name' }, t.type), el('span', { class: 'type-unit muted' }, t.unit || ''),
        el('span', { class: 'type-desc' }, t.description || ''))));
    }
  }
}

/** The default type of an application: cpu if present, else its first. */
export function defaultType(apps, app) {
  const a = apps.find((x) => x.name === app);
  if (!a || !a.types.length) return '';
  return (a.types.find((t) => t.type === 'cpu') || a.types[0]).type;
}
