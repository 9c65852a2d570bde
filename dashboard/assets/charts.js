// @ts-check
/**
 * Charts drawn as SVG: a time-series line chart and a bar chart. Colours come from CSS (classes series-0 … series-7),
 * so light and dark mode restyle them without redrawing. Labels are text nodes (never markup).
 */
import { el, svg } from './dom.js';

const WIDTH = 600;
const HEIGHT = 200;
const MARGIN = { left: 52, right: 12, top: 10, bottom: 24 };
export const SERIES_COLOURS = 8;

/**
 * @typedef {{ x: number, v: number | null }} Point
 * @typedef {{ name: string, points: Point[] }} Series
 */

/**
 * A line chart over x from `xStart` to `xEnd` (time in ms for the live charts, steps for training curves), with a
 * legend that shows each series' last value. Gaps (null values) break the line.
 * @param {{ title: string, unit: string, series: Series[], xStart: number, xEnd: number,
 *   xLabels: [string, string], yMax?: number, id?: string }} options
 * @returns {HTMLElement}
 */
export function lineChart({ title, unit, series, xStart, xEnd, xLabels, yMax, id }) {
  const values = series.flatMap((s) => s.points.filter((p) => p.x >= xStart && p.v !== null).map((p) => p.v ?? 0));
  const maxValue = yMax ?? niceCeiling(Math.max(0, ...values));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const span = xEnd - xStart || 1;
  /** @param {number} x */
  const xOf = (x) => MARGIN.left + ((x - xStart) / span) * plotWidth;
  /** @param {number} v */
  const yOf = (v) => MARGIN.top + plotHeight - (maxValue === 0 ? 0 : (Math.min(v, maxValue) / maxValue) * plotHeight);

  // An all-zero chart gets one grid line (three would print "0" on top of each other).
  const grid = (maxValue === 0 ? [0] : [0, 0.5, 1]).map((fraction) => {
    const value = maxValue * fraction;
    const y = yOf(value);
    return svg(
      'g',
      { class: 'grid' },
      svg('line', { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y, y2: y }),
      svg('text', { x: MARGIN.left - 6, y: y + 4, 'text-anchor': 'end' }, formatNumber(value)),
    );
  });
  const axisLabels = [
    svg('text', { class: 'axis-label', x: MARGIN.left, y: HEIGHT - 6 }, xLabels[0]),
    svg('text', { class: 'axis-label', x: WIDTH - MARGIN.right, y: HEIGHT - 6, 'text-anchor': 'end' }, xLabels[1]),
  ];
  // A run of one sample (a lone value between gaps, or the newest one) draws no line: it gets a dot instead.
  /** @type {SVGElement[]} */
  const dots = [];
  const lines = series.map((s, index) => {
    const colour = `series-${index % SERIES_COLOURS}`;
    let d = '';
    /** @type {Point[]} */
    let run = [];
    const endRun = () => {
      const only = run[0];
      if (run.length === 1 && only && only.v !== null) {
        dots.push(
          svg('circle', { class: `dot ${colour}`, cx: xOf(only.x).toFixed(1), cy: yOf(only.v).toFixed(1), r: 3 }),
        );
      }
      run = [];
    };
    for (const p of s.points) {
      if (p.v === null || p.x < xStart) {
        endRun();
        continue;
      }
      d += `${run.length > 0 ? 'L' : 'M'}${xOf(p.x).toFixed(1)},${yOf(p.v).toFixed(1)}`;
      run.push(p);
    }
    endRun();
    return svg('path', { class: `line ${colour}`, d, 'data-series': s.name });
  });
  const chart = svg(
    'svg',
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': `${title} (${unit})`, 'data-max': maxValue },
    svg('rect', { class: 'plot', x: MARGIN.left, y: MARGIN.top, width: plotWidth, height: plotHeight }),
    grid,
    axisLabels,
    lines,
    dots,
  );
  const legend = el(
    'ul',
    { class: 'legend' },
    series.map((s, index) => {
      const last = [...s.points].reverse().find((p) => p.v !== null);
      return el(
        'li',
        {},
        el('span', { class: `swatch series-${index % SERIES_COLOURS}` }),
        `${s.name}${last && last.v !== null ? `: ${formatNumber(last.v)}${unit ? ` ${unit}` : ''}` : ''}`,
      );
    }),
  );
  return el(
    'figure',
    { class: 'chart', id: id ?? null },
    el('figcaption', {}, `${title} `, unit ? el('span', { class: 'unit' }, `(${unit})`) : null),
    chart,
    series.length > 0 ? legend : el('p', { class: 'muted' }, 'no data yet'),
  );
}

/**
 * A horizontal bar chart: one row per bar with its label and value, bars scaled to `max` (default: the largest).
 * @param {{ title: string, bars: { label: string, value: number, highlight?: boolean }[], max?: number,
 *   format?: (value: number) => string, id?: string }} options
 * @returns {HTMLElement}
 */
export function barChart({ title, bars, max, format = formatNumber, id }) {
  const scaleMax = max ?? Math.max(0, ...bars.map((b) => b.value));
  return el(
    'figure',
    { class: 'chart bars', id: id ?? null },
    el('figcaption', {}, title),
    bars.length === 0
      ? el('p', { class: 'muted' }, 'no data yet')
      : el(
          'ol',
          { class: 'bar-list' },
          bars.map((bar) =>
            el(
              'li',
              { class: bar.highlight ? 'highlight' : null, 'data-label': bar.label, 'data-value': bar.value },
              el('span', { class: 'bar-label' }, bar.label),
              el(
                'span',
                { class: 'bar-track' },
                el('span', {
                  class: 'bar-fill',
                  style: `width: ${scaleMax > 0 ? Math.max(0, Math.min(100, (bar.value / scaleMax) * 100)) : 0}%`,
                }),
              ),
              el('span', { class: 'bar-value' }, format(bar.value)),
            ),
          ),
        ),
  );
}

/**
 * The next "round" number ≥ value (1, 2, 5 × 10^n), so axes read well.
 * @param {number} value
 */
export function niceCeiling(value) {
  if (!(value > 0) || !Number.isFinite(value)) return 0;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (value <= step * magnitude) return step * magnitude;
  }
  return 10 * magnitude;
}

/**
 * A short label: 3 significant digits at most, k/M for large values, no trailing zeros ("2", "0.25", "1.5k").
 * @param {number} value
 */
export function formatNumber(value) {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${trimZeros((value / 1e6).toFixed(1))}M`;
  if (abs >= 1e4) return `${trimZeros((value / 1e3).toFixed(1))}k`;
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 1) return trimZeros(value.toFixed(abs >= 10 ? 1 : 2));
  if (abs === 0) return '0';
  return String(Number(value.toPrecision(2)));
}

/** @param {string} text */
function trimZeros(text) {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}
