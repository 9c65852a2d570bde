/**
 * tf.Example features → signature input tensors, using the signature's `exampleFeatures` map
 * (docs/servable-format.md). gRPC examples carry their feature kind; REST (JSON) values are converted to the kind
 * the signature declares, which is more forgiving than TF's "integer literal means int64_list" rule.
 */
import { InvalidArgument } from '../../../errors.js';
import type { TensorData } from '../../../graph/dtype.js';
import { HostTensor, shapeSize } from '../../../graph/host-tensor.js';
import { utf8Bytes } from '../../../graph/utf8.js';
import type { TensorHeader } from '../../core/request-limits.js';
import type { ExampleFeatures, FeatureElement, FeatureKind, FeatureValue } from '../../core/example-parsing.js';
import type { Signature } from '../../core/types.js';
import type { ExampleMsg, FeatureMsg, InputMsg, Int64 } from './proto-types.js';
import { allocateForRequest } from '../../request-buffers.js';

export type { ExampleFeatures, FeatureElement, FeatureKind, FeatureValue };

const KIND_TYPE_NAME: Record<FeatureKind | 'json', string> = {
  float_list: 'float',
  int64_list: 'int64',
  bytes_list: 'string',
  json: 'json',
};

export function featureFromMsg(feature: FeatureMsg): FeatureValue {
  if (feature.float_list) return { kind: 'float_list', values: feature.float_list.value ?? [] };
  if (feature.int64_list) {
    return { kind: 'int64_list', values: (feature.int64_list.value ?? []).map((v: Int64) => BigInt(v)) };
  }
  if (feature.bytes_list) return { kind: 'bytes_list', values: feature.bytes_list.value ?? [] };
  return { kind: 'json', values: [] };
}

export function featuresFromExample(example: ExampleMsg | undefined): ExampleFeatures {
  const out: ExampleFeatures = {};
  for (const [name, feature] of Object.entries(example?.features?.feature ?? {})) out[name] = featureFromMsg(feature);
  return out;
}

/**
 * The examples of a ClassificationRequest/RegressionRequest input. With a context, each example is the context
 * merged with the example (TF concatenates the serialized protos, so the example's value wins on a clash).
 */
export function examplesFromInput(input: InputMsg | undefined): ExampleFeatures[] {
  const withContext = input?.example_list_with_context;
  const examples = input?.example_list?.examples ?? withContext?.examples ?? [];
  if (examples.length === 0) throw new InvalidArgument('Input is empty.');
  const context = withContext?.context ? featuresFromExample(withContext.context) : undefined;
  return examples.map((e) => (context ? { ...context, ...featuresFromExample(e) } : featuresFromExample(e)));
}

/** Values written between two yields to the event loop. */
const VALUES_PER_SLICE = 1 << 16;

function byteLength(value: FeatureElement): number {
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (value instanceof Uint8Array) return value.length;
  return 0;
}

export type AdmitInput = (alias: string, header: TensorHeader) => void;

/**
 * Builds the signature's input tensors ([N, ...feature shape]) from N examples. Each input is admitted (`admit`:
 * dtype, shape, string bytes) before its storage is allocated.
 */
export function examplesToInputs(
  examples: readonly ExampleFeatures[],
  signature: Signature,
  signatureName: string,
  admit?: AdmitInput,
): Record<string, HostTensor> {
  const build = buildInputs(examples, signature, signatureName, admit);
  for (;;) {
    const step = build.next();
    if (step.done) return step.value;
  }
}

/** examplesToInputs for a server request: the same work, yielding to the event loop between slices of the copy. */
export async function examplesToInputsSliced(
  examples: readonly ExampleFeatures[],
  signature: Signature,
  signatureName: string,
  admit?: AdmitInput,
): Promise<Record<string, HostTensor>> {
  const build = buildInputs(examples, signature, signatureName, admit);
  for (;;) {
    const step = build.next();
    if (step.done) return step.value;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The conversion, as a generator that stops (yields) after every VALUES_PER_SLICE values copied. */
function* buildInputs(
  examples: readonly ExampleFeatures[],
  signature: Signature,
  signatureName: string,
  admit?: AdmitInput,
): Generator<void, Record<string, HostTensor>> {
  const featureSpecs = signature.exampleFeatures;
  if (!featureSpecs || Object.keys(featureSpecs).length === 0) {
    throw new InvalidArgument(
      `Signature "${signatureName}" declares no exampleFeatures, so its inputs cannot be filled from tf.Example`,
    );
  }
  const inputs: Record<string, HostTensor> = {};
  for (const [featureName, spec] of Object.entries(featureSpecs)) {
    const tensorSpec = signature.inputs[spec.input];
    if (!tensorSpec) {
      throw new InvalidArgument(
        `exampleFeatures.${featureName} names input ${spec.input}, not in signature ${signatureName}`,
      );
    }
    const perExample = shapeSize(spec.shape);
    let stringBytes = 0;
    examples.forEach((example, index) => {
      const feature = example[featureName];
      if (!feature) {
        throw new InvalidArgument(
          `Feature: ${featureName} (data type: ${KIND_TYPE_NAME[spec.kind]}) is required but could not be found.`,
        );
      }
      if (feature.kind !== 'json' && feature.kind !== spec.kind) {
        throw new InvalidArgument(
          `Key: ${featureName}, Index: ${index}. Data types don't match. Expected type: ${KIND_TYPE_NAME[spec.kind]}, ` +
            `Actual type: ${KIND_TYPE_NAME[feature.kind]}`,
        );
      }
      if (feature.values.length !== perExample) {
        throw new InvalidArgument(
          `Key: ${featureName}, Index: ${index}. Number of ${KIND_TYPE_NAME[spec.kind]} values != expected. ` +
            `Values size: ${feature.values.length} but output shape: [${spec.shape.join(',')}]`,
        );
      }
      if (tensorSpec.dtype === 'string') {
        for (let i = 0; i < feature.values.length; i++) stringBytes += byteLength(feature.values[i] as FeatureElement);
      }
    });
    const shape = [examples.length, ...spec.shape];
    admit?.(
      spec.input,
      tensorSpec.dtype === 'string' ? { dtype: 'string', shape, stringBytes } : { dtype: tensorSpec.dtype, shape },
    );
    const data = allocateForRequest(tensorSpec.dtype, examples.length * perExample);
    let written = 0;
    for (let index = 0; index < examples.length; index++) {
      const feature = examples[index]?.[featureName] as FeatureValue;
      writeValues(data, index * perExample, feature.values, spec.kind, featureName);
      written += perExample;
      if (written >= VALUES_PER_SLICE) {
        written = 0;
        yield;
      }
    }
    inputs[spec.input] = new HostTensor(tensorSpec.dtype, shape, data);
  }
  for (const alias of Object.keys(signature.inputs)) {
    if (!inputs[alias]) {
      throw new InvalidArgument(`Signature input ${alias} is not filled by any tf.Example feature of ${signatureName}`);
    }
  }
  return inputs;
}

function writeValues(
  data: TensorData,
  offset: number,
  values: ArrayLike<FeatureElement>,
  kind: FeatureKind,
  featureName: string,
): void {
  const bad = (v: FeatureElement) =>
    new InvalidArgument(
      `Unexpected element type in feature: ${featureName} expecting type: ${KIND_TYPE_NAME[kind]} (got ${typeof v})`,
    );
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as FeatureElement;
    const at = offset + i;
    if (Array.isArray(data)) {
      if (typeof v === 'string') data[at] = utf8Bytes(v);
      else if (v instanceof Uint8Array) data[at] = v;
      else throw bad(v);
    } else if (data instanceof BigInt64Array) {
      if (typeof v === 'bigint') data[at] = v;
      else if (typeof v === 'number' && Number.isInteger(v)) data[at] = BigInt(v);
      else if (typeof v === 'boolean') data[at] = v ? 1n : 0n;
      else throw bad(v);
    } else {
      if (typeof v === 'number') data[at] = v;
      else if (typeof v === 'bigint') data[at] = Number(v);
      else if (typeof v === 'boolean' && kind === 'int64_list') data[at] = v ? 1 : 0;
      else throw bad(v);
    }
  }
}
