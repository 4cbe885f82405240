// The trend chart (uPlot). Hover shows the values; dragging across the chart zooms the time
// range to the selection (onZoom(fromSec, toSec)).

import uPlot from '../../vendor/uPlot.esm.js';
import { el, clear, fmtValue } from '../util.js';

export class TrendChart {
  constructor(container, { onZoom, height = 170 }) {
    this.onZoom = onZoom;
    this.height = height;
    this.root = el('div', { class: 'trend' });
    this.msg = el('div', { class: 'trend-msg muted' });
    this.plotBox = el('div', { class: 'trend-plot' });
    this.root.append(this.plotBox, this.msg);
    container.appendChild(this.root);
    this.ro = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: this.width(), height: this.height });
    });
    this.ro.observe(this.root);
  }

  width() { return Math.max(200, this.root.clientWidth - 2); }

  destroy() { this.ro.disconnect(); if (this.plot) this.plot.destroy(); }

  /**
   * series: [{label, color, points: [{t, value}], fill}] — all on the x axis of the first.
   * unit: the profile unit; step: seconds per point.
   */
  set(series, unit, step, { message = '' } = {}) {
    if (this.plot) { this.plot.destroy(); this.plot = null; }
    clear(this.plotBox);
    this.msg.textContent = message;
    if (!series.length || !series[0].points.length) return;
    const perSecond = unit === 'nanoseconds';
    const scaleV = (v) => (perSecond ? v / ((step || 1) * 1e9) : v);
    const xs = series[0].points.map((p) => p.t);
    const data = [xs, ...series.map((s) => s.points.map((p) => scaleV(p.value)))];
    const fmtY = (v) => (v === null || v === undefined ? '–' : perSecond ? v.toFixed(v < 10 ? 2 : 1) : fmtValue(v, unit));
    const opts = {
      width: this.width(),
      height: this.height,
      cursor: { drag: { x: true, y: false, setScale: false }, points: { size: 6 } },
      select: { show: true },
      legend: { live: true },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        { stroke: '#5c6370', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e1e4e8' } },
        { stroke: '#5c6370', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e1e4e8' }, size: 60,
          label: perSecond ? 'cores' : '', values: (u, vals) => vals.map(fmtY) },
      ],
      series: [
        { label: 'Time' },
        ...series.map((s) => ({
          label: s.label, stroke: s.color, width: 1.5, fill: s.fill, points: { show: false },
          value: (u, v) => (perSecond ? (v === null || v === undefined ? '–' : `${fmtY(v)} cores`) : fmtY(v)),
          dash: s.dash,
        })),
      ],
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 4) return;
          const a = u.posToVal(u.select.left, 'x'), b = u.posToVal(u.select.left + u.select.width, 'x');
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          if (this.onZoom && b > a) this.onZoom(Math.floor(a), Math.ceil(b));
        }],
      },
    };
    this.plot = new uPlot(opts, data, this.plotBox);
  }
}
