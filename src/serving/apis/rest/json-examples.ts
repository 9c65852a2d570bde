/** REST classify/regress bodies ({"examples": [...], "context": {...}}) → example features, and the results JSON. */
import { InvalidArgument } from '../../../errors.js';
import type { ExampleFeatures, FeatureElement } from '../shared/examples.js';
import type { ScoredClass } from '../shared/inference.js';
import { formatFloat } from './json-format.js';
import { NUMBER, PackedArray, PackedCursor, TRUE } from './json-packed.js';
import { yieldToEventLoop, type JsonObject, type JsonValue } from './json-reader.js';
import { b64Value, isB64Object, isJsonArray, isJsonObject, previewText } from './json-values.js';
import { LongText } from './long-text.js';

/** Values converted between two yields to the event loop. */
const VALUES_PER_SLICE = 1 << 16;

/**
 * A feature's value as an element: a long string (the reader's LongText), bare or as `{"b64": …}`, becomes its bytes
 * decoded in turns of their own (long-text.ts), a promise; a bytes_list element either way.
 */
function featureElement(value: JsonValue, name: string): FeatureElement | Promise<Uint8Array> {
  if (value instanceof LongText) return value.utf8();
  if (isB64Object(value) && value.b64 instanceof LongText) return value.b64.base64();
  const bytes = b64Value(value);
  if (bytes) return bytes;
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  const type = value === null ? 'null' : isJsonArray(value) ? 'array' : 'object';
  throw new InvalidArgument(`Unexpected value of type ${type} in feature: ${previewText(name)}`);
}

/** A feature's list of values; a promise only when it holds a long string. */
function featureElements(values: readonly JsonValue[], name: string): FeatureElement[] | Promise<FeatureElement[]> {
  const elements = values.map((value) => featureElement(value, name));
  return elements.some((e) => e instanceof Promise) ? Promise.all(elements) : (elements as FeatureElement[]);
}

/** A packed list of numbers or booleans → a Float64Array / boolean[]; a nested one is refused as TF does. */
async function packedFeature(packed: PackedArray, name: string): Promise<ArrayLike<FeatureElement>> {
  if (packed.shape.length > 1) {
    throw new InvalidArgument(`Unexpected value of type array in feature: ${previewText(name)}`);
  }
  const cursor = new PackedCursor(packed);
  const out: Float64Array | boolean[] = packed.kind === 'boolean' ? [] : new Float64Array(packed.length);
  for (let i = 0; cursor.next(); i++) {
    if (out instanceof Float64Array) out[i] = cursor.kind === NUMBER ? cursor.number() : NaN;
    else out.push(cursor.kind === TRUE);
    if (i % VALUES_PER_SLICE === VALUES_PER_SLICE - 1) await yieldToEventLoop();
  }
  return out;
}

async function featuresFromJson(value: JsonValue, what: string): Promise<ExampleFeatures> {
  if (!isJsonObject(value)) throw new InvalidArgument(`${what} must be a JSON object of features`);
  // No prototype: a feature named "__proto__" is an ordinary feature.
  const features = Object.create(null) as ExampleFeatures;
  for (const [name, v] of Object.entries(value)) {
    let values: ArrayLike<FeatureElement>;
    if (v instanceof PackedArray) values = await packedFeature(v, name);
    else {
      const elements = featureElements(Array.isArray(v) ? v : [v], name);
      values = elements instanceof Promise ? await elements : elements;
    }
    features[name] = { kind: 'json', values };
  }
  return features;
}

export async function examplesFromJson(body: JsonObject, method: 'classify' | 'regress'): Promise<ExampleFeatures[]> {
  const examples = body.examples;
  if (!Array.isArray(examples) || examples.length === 0) {
    throw new InvalidArgument(`When method is ${method}, key 'examples' is expected and was not found`);
  }
  const context = body.context === undefined ? undefined : await featuresFromJson(body.context, "'context'");
  const out: ExampleFeatures[] = [];
  for (let i = 0; i < examples.length; i++) {
    const features = await featuresFromJson(examples[i] as JsonValue, `examples[${i}]`);
    out.push(context ? { ...context, ...features } : features);
  }
  return out;
}

export function classifyResultsJson(classifications: readonly ScoredClass[][]): string {
  const rows = classifications.map(
    (classes) => `[${classes.map((c) => `[${JSON.stringify(c.label)}, ${formatFloat(c.score, true)}]`).join(', ')}]`,
  );
  return `{"results": [${rows.join(', ')}]}`;
}

export function regressResultsJson(values: readonly number[]): string {
  return `{"results": [${values.map((v) => formatFloat(v, true)).join(', ')}]}`;
}
