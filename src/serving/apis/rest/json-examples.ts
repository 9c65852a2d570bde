/** REST classify/regress bodies ({"examples": [...], "context": {...}}) → example features, and the results JSON. */
import { InvalidArgument } from '../../../errors.js';
import type { ExampleFeatures, FeatureElement } from '../shared/examples.js';
import type { ScoredClass } from '../shared/inference.js';
import { formatFloat } from './json-format.js';
import { b64Value, isJsonObject, nonFiniteMarker, type JsonObject, type JsonValue } from './json-parse.js';

function featureElement(value: JsonValue, name: string): FeatureElement {
  const bytes = b64Value(value);
  if (bytes) return bytes;
  const special = nonFiniteMarker(value);
  if (special !== undefined) return special;
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  throw new InvalidArgument(`Unexpected value of type ${value === null ? 'null' : typeof value} in feature: ${name}`);
}

function featuresFromJson(value: JsonValue, what: string): ExampleFeatures {
  if (!isJsonObject(value)) throw new InvalidArgument(`${what} must be a JSON object of features`);
  const features: ExampleFeatures = {};
  for (const [name, v] of Object.entries(value)) {
    const list = Array.isArray(v) && !b64Value(v) ? v : [v];
    features[name] = { kind: 'json', values: list.map((item) => featureElement(item, name)) };
  }
  return features;
}

export function examplesFromJson(body: JsonObject, method: 'classify' | 'regress'): ExampleFeatures[] {
  const examples = body.examples;
  if (!Array.isArray(examples) || examples.length === 0) {
    throw new InvalidArgument(`When method is ${method}, key 'examples' is expected and was not found`);
  }
  const context = body.context === undefined ? undefined : featuresFromJson(body.context, "'context'");
  return examples.map((e, i) => {
    const features = featuresFromJson(e, `examples[${i}]`);
    return context ? { ...context, ...features } : features;
  });
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
