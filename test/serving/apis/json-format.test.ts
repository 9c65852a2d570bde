/** Output tensors as TF Serving's JSON: %g floats that round-trip, ".0" on whole numbers, nested lists. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { formatFloat, tensorJson } from '../../../src/serving/apis/rest/json-format.js';

/** C's %.<p>g written the long way (toExponential, then fixed or exponential form): the reference. */
function referenceG(value: number, precision: number): string {
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const [mantissa = '', exponentText = '0'] = value.toExponential(precision - 1).split('e');
  const exponent = Number(exponentText);
  const strip = (s: string) => (s.includes('.') ? s.replace(/\.?0+$/, '') : s);
  if (exponent < -4 || exponent >= precision) {
    return `${strip(mantissa)}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return strip(value.toFixed(Math.max(0, precision - 1 - exponent)));
}

function referenceFloat(value: number, single: boolean): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  let text = referenceG(value, 6);
  if ((single ? Math.fround(Number(text)) : Number(text)) !== value) text = referenceG(value, single ? 9 : 17);
  return /^-?\d+$/.test(text) ? `${text}.0` : text;
}

test('floats are written as %g with 6, else 9 (float) or 17 (double) digits, at every magnitude', () => {
  let s = 1;
  const next = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const values = [0, -0, 1e-4, 9.99999e-5, 0.0001, 99999.95, 999999.5, 1e6, 1e21, 1e-7, 123456789, 5e-324];
  values.push(Number.MAX_VALUE, Math.fround(1e-4), Math.fround(9.9999997e-5), 3, -2, 0.5, Math.fround(0.1));
  for (let k = 0; k < 50_000; k++) {
    let value = (next() - 0.5) * 10 ** Math.floor(next() * 80 - 40);
    if (k % 7 === 0) value = Math.round(value);
    if (k % 11 === 0) value = Number(value.toPrecision(1 + Math.floor(next() * 8)));
    values.push(value);
  }
  for (const value of values) {
    for (const single of [true, false]) {
      const x = single ? Math.fround(value) : value;
      assert.equal(formatFloat(x, single), referenceFloat(x, single), `${x} ${single ? 'float' : 'double'}`);
    }
  }
  assert.equal(formatFloat(9e6, true), '9e+06');
  assert.equal(formatFloat(Math.fround(0.00001), true), '1e-05');
  assert.equal(formatFloat(Math.fround(0.123456789), true), '0.123456791');
  assert.equal(formatFloat(1234567, false), '1234567.0');
});

/** Nested lists the plain recursive way: the reference for tensorJson. */
function referenceJson(values: readonly number[], shape: readonly number[], single: boolean): string {
  const walk = (axis: number, start: number): string => {
    if (axis === shape.length) return formatFloat(values[start] as number, single);
    const stride = shape.slice(axis + 1).reduce((n, d) => n * d, 1);
    const parts = Array.from({ length: shape[axis] as number }, (_, i) => walk(axis + 1, start + i * stride));
    return `[${parts.join(', ')}]`;
  };
  return walk(0, 0);
}

test('tensors are written as nested lists, whole or one row at a time, at every rank and with zero dims', () => {
  let s = 7;
  const next = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  for (let k = 0; k < 2_000; k++) {
    const shape = Array.from({ length: Math.floor(next() * 5) }, () => Math.floor(next() * 4));
    const size = shape.reduce((n, d) => n * d, 1);
    const values = Array.from({ length: size }, () => Math.fround(next() * 10 - 5));
    const tensor = HostTensor.from('float32', values, shape);
    assert.equal(tensorJson(tensor, 'y'), referenceJson(values, shape, true), `shape [${shape.join(', ')}]`);
    const inner = shape.slice(1);
    const rowSize = inner.reduce((n, d) => n * d, 1);
    for (let row = 0; row < (shape[0] ?? 0); row++) {
      const expected = referenceJson(values.slice(row * rowSize, (row + 1) * rowSize), inner, true);
      assert.equal(tensorJson(tensor, 'y', row), expected, `shape [${shape.join(', ')}] row ${row}`);
    }
  }
  assert.equal(tensorJson(HostTensor.from('float32', [], [2, 0]), 'y'), '[[], []]');
  assert.equal(tensorJson(HostTensor.from('float32', [1, 2, 3, 4], [2, 1, 2]), 'y'), '[[[1.0, 2.0]], [[3.0, 4.0]]]');
});
