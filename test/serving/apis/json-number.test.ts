import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { float32At, numberAt } from '../../../src/serving/apis/rest/json-number.js';
import { xorshift32 as random } from '../../helpers/xorshift.js';

function checkFloat32(literal: string): void {
  const bytes = Buffer.from(literal, 'latin1');
  // The reference is the engine's own correctly rounded double, cast as a float32 tensor stores it.
  const expected = Math.fround(Number(literal));
  const actual = float32At(bytes, 0, bytes.length);
  assert.ok(Object.is(actual, expected), `${literal}: float32At ${actual}, Math.fround(Number()) ${expected}`);
}

/** The float32 next to `f` away from zero (its bit pattern plus one). */
function nextFloat32(f: number): number {
  const view = new Float32Array([f]);
  const bits = new Uint32Array(view.buffer);
  bits[0] = (bits[0] as number) + 1;
  return view[0] as number;
}

describe('JSON number literals as float32', () => {
  it('equal Math.fround(Number(literal)) for the shortest round-trip forms JSON writers print', () => {
    const next = random(7);
    for (let k = 0; k < 20_000; k++) {
      const scale = 10 ** Math.floor(next() * 12 - 6);
      const value = (next() - 0.5) * scale;
      checkFloat32(JSON.stringify(value));
      checkFloat32(value.toPrecision(17));
      checkFloat32(value.toFixed(Math.max(0, Math.min(20, 18 - Math.floor(Math.log10(Math.abs(value) || 1))))));
    }
  });

  it('equal Math.fround(Number(literal)) next to the midpoint between two float32 values', () => {
    const next = random(11);
    for (let k = 0; k < 5_000; k++) {
      const low = Math.fround((next() + 0.01) * 10 ** Math.floor(next() * 8 - 4));
      const midpoint = (low + nextFloat32(low)) / 2; // exact in a double
      for (const digits of [16, 17, 18, 19, 21]) checkFloat32(midpoint.toPrecision(digits));
      // Decimal literals a hair above and below the midpoint.
      const text = midpoint.toPrecision(17);
      checkFloat32(`${text}1`.replace(/e.*$/, ''));
      checkFloat32(text.replace(/\d(?=\D*$)|\d$/, (d) => String(Math.max(0, Number(d) - 1))));
    }
  });

  it('handle zeros, signs, integers, exponents, tiny and huge values and the NaN / Infinity tokens', () => {
    for (const literal of [
      '0',
      '-0',
      '0.0',
      '-0.000',
      '1',
      '-7',
      '16777217',
      '123456789012345678',
      '0.000000000000000000000000000000000000000000001401298464324817',
      '1e-46',
      '3.4028235677973366e38',
      '3.4028235677973367e38',
      '1.1754943508222875e-38',
      '2.5e3',
      '-1.5E-7',
      '12345678901234567890123',
    ]) {
      checkFloat32(literal);
    }
    assert.ok(Object.is(float32At(Buffer.from('-0'), 0, 2), -0));
    assert.equal(float32At(Buffer.from('Infinity'), 0, 8), Infinity);
    assert.equal(float32At(Buffer.from('-Infinity'), 0, 9), -Infinity);
    assert.ok(Number.isNaN(float32At(Buffer.from('NaN'), 0, 3)));
    assert.equal(numberAt(Buffer.from('0.5'), 0, 3), 0.5);
  });
});
