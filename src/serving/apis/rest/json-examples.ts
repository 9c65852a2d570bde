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

/** A string value the reader left in the body (LongText), bare or as `{"b64": …}`. */
const isLong = (value: JsonValue) => value instanceof LongText || (isB64Object(value) && value.b64 instanceof LongText);

function featureElement(value: JsonValue, name: string): FeatureElement {
  const bytes = b64Value(value);
  if (bytes) return bytes;
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  const type = value === null ? 'null' : isJsonArray(value) ? 'array' : 'object';
  throw new InvalidArgument(`Unexpected value of type ${type} in feature: ${previewText(name)}`);
}

/**
 * A long string value (the reader's LongText), or `{"b64": …}` of one, as its bytes, decoded in turns of their own
 * (long-text.ts): a bytes_list element either way. Undefined for any other value.
 */
async function longFeatureElement(value: JsonValue): Promise<Uint8Array | undefined> {
  if (value instanceof LongText) return value.utf8();
  if (isB64Object(value) && value.b64 instanceof LongText) return value.b64.base64();
  return undefined;
}

/** A feature's list of values; only a long string's conversion is awaited. */
async function featureElements(values: readonly JsonValue[], name: string): Promise<FeatureElement[]> {
  const out: FeatureElement[] = [];
  for (const value of values) out.push((await longFeatureElement(value)) ?? featureElement(value, name));
  return out;
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
    else if (Array.isArray(v))
      values = v.some(isLong) ? await featureElements(v, name) : v.map((item) => featureElement(item, name));
    else values = isLong(v) ? await featureElements([v], name) : [featureElement(v, name)];
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
