/**
 * JSON number literals read straight from request bytes. The grammar is checked by the reader; here a checked
 * literal becomes a double, exactly as strtod would round it, without making a string for the common case.
 */

/** Literals longer than this are refused: no double needs more digits, and a longer one only costs time. */
export const MAX_NUMBER_LITERAL_BYTES = 4096;

// 10^0 … 10^22 are exact doubles: the range of the Clinger fast path.
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i);
const MAX_FAST_DIGITS = 15;

/**
 * Buffer's native latin1 decoder, called on the request bytes directly: no Buffer view is made per literal. Every
 * float that JSON writers print in full (17 significant digits) comes here, 784 of them in an MNIST request.
 */
const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string;

/** A literal the fast path cannot round exactly: the engine's own conversion. */
function slowNumber(bytes: Uint8Array, start: number, end: number): number {
  return Number(latin1Slice.call(bytes, start, end));
}

/**
 * The double of the checked literal bytes[start, end): decimal, or NaN / Infinity / -Infinity. Up to 15 significant
 * digits with a decimal exponent within ±22 are converted exactly by one multiplication or division of two exact
 * doubles (Clinger's fast path); anything else goes through Number().
 */
export function numberAt(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  let negative = false;
  if (bytes[i] === 0x2d) {
    negative = true;
    i++;
  }
  const first = bytes[i];
  if (first === 0x49) return negative ? -Infinity : Infinity; // Infinity
  if (first === 0x4e) return NaN; // NaN
  let mantissa = 0;
  let digits = 0;
  let exponent = 0;
  for (; i < end; i++) {
    const c = bytes[i] as number;
    if (c < 0x30 || c > 0x39) break;
    if (digits > 0 || c !== 0x30) {
      if (++digits > MAX_FAST_DIGITS) return slowNumber(bytes, start, end);
      mantissa = mantissa * 10 + (c - 0x30);
    }
  }
  if (i < end && bytes[i] === 0x2e) {
    for (i++; i < end; i++) {
      const c = bytes[i] as number;
      if (c < 0x30 || c > 0x39) break;
      if (digits > 0 || c !== 0x30) {
        if (++digits > MAX_FAST_DIGITS) return slowNumber(bytes, start, end);
        mantissa = mantissa * 10 + (c - 0x30);
      }
      exponent--;
    }
  }
  if (i < end) {
    // An exponent: e / E, optional sign, digits.
    i++;
    let sign = 1;
    if (bytes[i] === 0x2d) {
      sign = -1;
      i++;
    } else if (bytes[i] === 0x2b) i++;
    let e = 0;
    for (; i < end; i++) {
      e = e * 10 + ((bytes[i] as number) - 0x30);
      if (e > 1000) return slowNumber(bytes, start, end);
    }
    exponent += sign * e;
  }
  let value: number;
  if (mantissa === 0) value = 0;
  else if (exponent === 0) value = mantissa;
  else if (exponent > 0 && exponent <= 22) value = mantissa * (POWERS_OF_TEN[exponent] as number);
  else if (exponent < 0 && exponent >= -22) value = mantissa / (POWERS_OF_TEN[-exponent] as number);
  else return slowNumber(bytes, start, end);
  return negative ? -value : value;
}

/** Significant digits float32At accumulates in a double: at most 4 inexact steps past 2^53 (see float32At). */
const MAX_FLOAT32_DIGITS = 19;
/**
 * The relative margin around an approximate double within which the float32 rounding must not change for the fast
 * result to stand: 2^-49 is 8 double ulps (relative to the value), more than float32OfDecimal's worst error (5 ulps:
 * past 2^53, at most 4 digits are accumulated, one or two at a time, each step rounding its product and its sum by
 * ½ ulp at most, and the scaling ½ ulp), plus the rounding of the margin's own products (½ ulp) and the ½ ulp by
 * which the correctly rounded double may differ from the literal's exact value.
 */
const MARGIN = 2 ** -49;
const ABOVE = 1 + MARGIN;
const BELOW = 1 - MARGIN;

/**
 * The float32 of the checked literal bytes[start, end), always equal to Math.fround(numberAt(…)): what a float32
 * tensor stores (TF Serving reads a double, then casts). JSON writers print floats with 16–17 significant digits,
 * past the exact fast path of numberAt, so every element of an MNIST request used to go through Number() (~70 ns).
 * Here up to 19 digits are accumulated in a double, scaled by an exact power of ten: the result is within 5 double
 * ulps of the literal's value (≤ 4 roundings of the accumulation, 1 of the scaling). Rounding that to float32 gives
 * the same float32 as rounding the correctly rounded double, unless the value lies near the midpoint between two
 * float32 neighbours; then the exact conversion decides.
 */
export function float32At(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  let negative = false;
  if (bytes[i] === 0x2d) {
    negative = true;
    i++;
  }
  const first = bytes[i];
  if (first === 0x49 || first === 0x4e) return Math.fround(numberAt(bytes, start, end));
  let mantissa = 0;
  let digits = 0;
  let exponent = 0;
  for (; i < end; i++) {
    const c = bytes[i] as number;
    if (c < 0x30 || c > 0x39) break;
    if (digits > 0 || c !== 0x30) {
      if (++digits > MAX_FLOAT32_DIGITS) return Math.fround(slowNumber(bytes, start, end));
      mantissa = mantissa * 10 + (c - 0x30);
    }
  }
  if (i < end && bytes[i] === 0x2e) {
    for (i++; i < end; i++) {
      const c = bytes[i] as number;
      if (c < 0x30 || c > 0x39) break;
      if (digits > 0 || c !== 0x30) {
        if (++digits > MAX_FLOAT32_DIGITS) return Math.fround(slowNumber(bytes, start, end));
        mantissa = mantissa * 10 + (c - 0x30);
      }
      exponent--;
    }
  }
  if (i < end) return Math.fround(numberAt(bytes, start, end)); // an exponent: rare in tensors, the general path
  return float32OfDecimal(negative, mantissa, digits, exponent, bytes, start, end);
}

/**
 * The float32 of a checked literal without an exponent, bytes[start, end), from its parts as a scan found them:
 * `mantissa` accumulated in a double from its `digits` significant digits (leading zeros not counted), scaled by
 * 10^`exponent` (minus the number of fraction digits). Up to MAX_FLOAT32_DIGITS digits the result is exact (see
 * float32At); more digits, and the cases near a float32 midpoint, go to the literal's own conversion.
 */
export function float32OfDecimal(
  negative: boolean,
  mantissa: number,
  digits: number,
  exponent: number,
  bytes: Uint8Array,
  start: number,
  end: number,
): number {
  if (digits > MAX_FLOAT32_DIGITS) return Math.fround(slowNumber(bytes, start, end));
  if (mantissa === 0) return negative ? -0 : 0;
  let value: number;
  if (exponent === 0) value = mantissa;
  else if (exponent >= -22) value = mantissa / (POWERS_OF_TEN[-exponent] as number);
  else return Math.fround(slowNumber(bytes, start, end));
  const rounded = Math.fround(value);
  // Up to 15 digits the value is exact. Past that it is within 5 ulps of the literal's: if the values MARGIN above
  // and below it round to the same float32, so does everything between them (rounding is monotonic), the literal's
  // correctly rounded double included. Otherwise the value is near a midpoint between two float32 neighbours.
  if (digits > MAX_FAST_DIGITS && (Math.fround(value * ABOVE) !== rounded || Math.fround(value * BELOW) !== rounded)) {
    return Math.fround(slowNumber(bytes, start, end));
  }
  return negative ? -rounded : rounded;
}
