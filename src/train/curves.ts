/**
 * Training curves as a self-contained SVG: two stacked panels, loss over steps and accuracy over steps, each with
 * its own axes, "nice" ticks (1, 2 or 5 × 10^k) and labels. No external libraries, no scripts, no fonts to fetch.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface CurvesData {
  /** Loss per step (index i is step i + 1). Non-finite values leave a gap. */
  loss: number[];
  /** Accuracy per step, 0…1. May have a different length from `loss` (each panel has its own x axis). */
  accuracy: number[];
  title: string;
  /** x axis label (default "step"). */
  xLabel?: string;
}

const WIDTH = 720;
const PANEL_HEIGHT = 240;
const MARGIN = { left: 72, right: 24, top: 48, bottom: 48 };
const PANEL_GAP = 64;

interface Panel {
  label: string;
  values: number[];
  color: string;
  top: number;
}

/** Renders the chart as an SVG document string. */
export function renderCurvesSvg(data: CurvesData): string {
  const xLabel = data.xLabel ?? 'step';
  const panels: Panel[] = [
    { label: 'loss', values: data.loss, color: '#d62728', top: MARGIN.top },
    { label: 'accuracy', values: data.accuracy, color: '#1f77b4', top: MARGIN.top + PANEL_HEIGHT + PANEL_GAP },
  ];
  const height = MARGIN.top + 2 * PANEL_HEIGHT + PANEL_GAP + MARGIN.bottom;
  const lines = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      `font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(data.title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="${MARGIN.top / 2 + 6}" text-anchor="middle" font-size="16">${escapeXml(data.title)}</text>`,
    ...panels.flatMap((panel) => renderPanel(panel, xLabel)),
    '</svg>',
  ];
  return `${lines.join('\n')}\n`;
}

/** Writes the chart to `path`, creating its folder when needed. */
export async function writeCurvesSvg(path: string, data: CurvesData): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, renderCurvesSvg(data), 'utf8');
}

/** The JSON beside curves.svg (`curves.json`): the same data, for the dashboard's training runs view. */
export const CURVES_JSON_FILE = 'curves.json';
export const CURVES_JSON_FORMAT = 'flowserve.curves/1';

export interface CurvesJson {
  format: typeof CURVES_JSON_FORMAT;
  title: string;
  xLabel: string;
  /** Non-finite values are written as null (JSON has no NaN). */
  loss: (number | null)[];
  accuracy: (number | null)[];
}

/** Writes the chart's data as JSON to `path` (written to a temporary name, then renamed: readers never see half). */
export async function writeCurvesJson(path: string, data: CurvesData): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const finite = (values: number[]) => values.map((v) => (Number.isFinite(v) ? v : null));
  const json: CurvesJson = {
    format: CURVES_JSON_FORMAT,
    title: data.title,
    xLabel: data.xLabel ?? 'step',
    loss: finite(data.loss),
    accuracy: finite(data.accuracy),
  };
  const temporary = `${path}.tmp-${process.pid}`;
  await writeFile(temporary, `${JSON.stringify(json)}\n`, 'utf8');
  await rename(temporary, path);
}

function renderPanel(panel: Panel, xLabel: string): string[] {
  const left = MARGIN.left;
  const right = WIDTH - MARGIN.right;
  const top = panel.top;
  const bottom = top + PANEL_HEIGHT;
  const finite = panel.values.filter(Number.isFinite);
  const n = panel.values.length;
  const xTicks = niceTicks(1, Math.max(n, 2));
  const yTicks = finite.length > 0 ? niceTicks(Math.min(...finite), Math.max(...finite)) : niceTicks(0, 1);
  const sx = (step: number) => left + ((step - xTicks.min) / (xTicks.max - xTicks.min)) * (right - left);
  const sy = (v: number) => bottom - ((v - yTicks.min) / (yTicks.max - yTicks.min)) * (bottom - top);

  const out = [`<g class="panel" data-series="${panel.label}">`];
  for (const t of yTicks.values) {
    const y = fmt(sy(t));
    out.push(
      `<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#e0e0e0"/>`,
      `<line x1="${left - 5}" y1="${y}" x2="${left}" y2="${y}" stroke="#333333"/>`,
      `<text x="${left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${tickLabel(t, yTicks.step)}</text>`,
    );
  }
  for (const t of xTicks.values) {
    const x = fmt(sx(t));
    out.push(
      `<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#333333"/>`,
      `<text x="${x}" y="${bottom + 18}" text-anchor="middle">${tickLabel(t, xTicks.step)}</text>`,
    );
  }
  out.push(
    `<rect x="${left}" y="${top}" width="${right - left}" height="${PANEL_HEIGHT}" fill="none" stroke="#333333"/>`,
    `<text x="${(left + right) / 2}" y="${bottom + 36}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text transform="translate(${left - 52} ${(top + bottom) / 2}) rotate(-90)" text-anchor="middle">` +
      `${panel.label}</text>`,
  );
  if (finite.length === 0) {
    out.push(
      `<text x="${(left + right) / 2}" y="${(top + bottom) / 2}" text-anchor="middle" fill="#888888">no data</text>`,
    );
  }
  out.push(
    `<path d="${linePath(panel.values, sx, sy)}" fill="none" stroke="${panel.color}" stroke-width="1.5" ` +
      `stroke-linejoin="round"><title>${panel.label}</title></path>`,
    '</g>',
  );
  return out;
}

/** An SVG path through the finite values; a non-finite value ends the current segment. */
function linePath(values: number[], sx: (step: number) => number, sy: (v: number) => number): string {
  const parts: string[] = [];
  let penDown = false;
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) {
      penDown = false;
      return;
    }
    parts.push(`${penDown ? 'L' : 'M'}${fmt(sx(i + 1))} ${fmt(sy(v))}`);
    penDown = true;
  });
  return parts.join(' ');
}

interface Ticks {
  min: number;
  max: number;
  step: number;
  values: number[];
}

/** Ticks at multiples of 1, 2 or 5 × 10^k covering [lo, hi], about `target` of them (Heckbert, Graphics Gems 1990). */
export function niceTicks(lo: number, hi: number, target = 5): Ticks {
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const rough = (hi - lo) / target;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const residual = rough / magnitude;
  const step = (residual > 5 ? 10 : residual > 2 ? 5 : residual > 1 ? 2 : 1) * magnitude;
  const min = Math.floor(lo / step) * step;
  const max = Math.ceil(hi / step) * step;
  const values: number[] = [];
  // toPrecision drops binary noise such as 0.6000000000000001.
  for (let k = 0; min + k * step <= max + step * 1e-9; k++) values.push(Number((min + k * step).toPrecision(12)));
  return { min, max, step, values };
}

function tickLabel(value: number, step: number): string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return value.toFixed(decimals);
}

function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
