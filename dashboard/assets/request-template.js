// @ts-check
/**
 * A TF Serving REST :predict request prefilled from a signature: one instance with every input set to zeros (""
 * for strings, false for booleans) of the input's shape without its batch dimension; unknown dimensions become 1.
 * Pure functions, no DOM: the node tests call them too.
 */

/** @typedef {import('./types.js').DashboardSignature} DashboardSignature */
/** @typedef {import('./types.js').DashboardTensor} DashboardTensor */

/** Inputs with more elements than this are prefilled as [] (the user fills them); a page must stay responsive. */
export const MAX_PREFILLED_ELEMENTS = 65536;

/**
 * @param {string} signatureName
 * @param {DashboardSignature} signature
 * @returns {{ signature_name: string, instances: Record<string, unknown>[] }}
 */
export function predictRequestTemplate(signatureName, signature) {
  /** @type {Record<string, unknown>} */
  const instance = {};
  for (const [alias, tensor] of Object.entries(signature.inputs)) instance[alias] = exampleValue(tensor);
  return { signature_name: signatureName, instances: [instance] };
}

/**
 * @param {DashboardTensor} tensor
 * @returns {unknown}
 */
export function exampleValue(tensor) {
  const fill = tensor.dtype === 'DT_STRING' ? '' : tensor.dtype === 'DT_BOOL' ? false : 0;
  if (tensor.unknownRank || tensor.shape.length === 0) return fill;
  const dims = tensor.shape.slice(1).map((d) => (d < 0 ? 1 : d));
  if (dims.reduce((a, b) => a * b, 1) > MAX_PREFILLED_ELEMENTS) return [];
  return nested(dims, fill);
}

/**
 * @param {number[]} dims
 * @param {unknown} fill
 * @returns {unknown}
 */
function nested(dims, fill) {
  if (dims.length === 0) return fill;
  const [first = 0, ...rest] = dims;
  return Array.from({ length: first }, () => nested(rest, fill));
}

/**
 * The class scores in a :predict response: the output (by alias, or the only one) whose value per instance is a flat
 * list of numbers; `scores` or `probabilities` first when there are several.
 * @param {unknown} response  the parsed response body
 * @returns {{ output: string, scores: number[] } | null}
 */
export function classScores(response) {
  if (!response || typeof response !== 'object' || !('predictions' in response)) return null;
  const predictions = response.predictions;
  if (!Array.isArray(predictions) || predictions.length === 0) return null;
  const first = predictions[0];
  if (isNumberList(first)) return { output: '', scores: first };
  if (!first || typeof first !== 'object') return null;
  const entries = Object.entries(first).filter(([, value]) => isNumberList(value));
  entries.sort(([a], [b]) => preference(a) - preference(b));
  const best = entries[0];
  return best ? { output: best[0], scores: /** @type {number[]} */ (best[1]) } : null;
}

/** @param {string} alias */
function preference(alias) {
  const order = ['scores', 'probabilities', 'probs', 'logits', 'y'];
  const index = order.indexOf(alias);
  return index < 0 ? order.length : index;
}

/**
 * @param {unknown} value
 * @returns {value is number[]}
 */
function isNumberList(value) {
  return Array.isArray(value) && value.length > 1 && value.every((v) => typeof v === 'number');
}

/**
 * JSON indented by 2, except that arrays of plain values stay on one line: a 784-pixel instance is one line, not 784.
 * @param {unknown} value
 */
export function formatJson(value) {
  /** @type {string[]} */
  const flat = [];
  // A marker no string in `value` can contain by chance, so only the placeholders are swapped back.
  const marker = `\u0000${Math.random().toString(36).slice(2)}:`;
  const text = JSON.stringify(
    value,
    (_key, item) =>
      Array.isArray(item) && item.every((v) => v === null || typeof v !== 'object')
        ? `${marker}${flat.push(JSON.stringify(item)) - 1}`
        : item,
    2,
  );
  const escapedMarker = JSON.stringify(marker).slice(1, -1).replace(/\\/g, '\\\\');
  return text.replace(new RegExp(`"${escapedMarker}(\\d+)"`, 'g'), (_match, index) => flat[Number(index)] ?? '');
}
