/**
 * Structure-aware gRPC requests: each generator starts from a request that is valid for one of the served models
 * and applies a few mutations of the kind a hostile or broken client makes (wrong dtype, shapes of 2^63, value
 * counts that disagree with the shape, strings of a megabyte, names with control characters, features of the
 * wrong kind, ...). The mutated message is encoded with protobufjs, so it is well-formed protobuf; mutateBytes
 * (byte-mutations.ts) then covers what is not.
 */
import protobuf from 'protobufjs';
import { protobufRoot } from '../../src/serving/apis/shared/protos.js';
import { FEATURES } from '../../test/serving/apis/fixtures.js';
import { mutateBytes } from './byte-mutations.js';
import { summarize, type FuzzCase, type ServerRole } from './fuzz-case.js';
import type { Rng } from './rng.js';
import { MODELS, STABLE_LABEL } from './server-process.js';

export const METHODS = {
  predict: '/tensorflow.serving.PredictionService/Predict',
  classify: '/tensorflow.serving.PredictionService/Classify',
  regress: '/tensorflow.serving.PredictionService/Regress',
  multiInference: '/tensorflow.serving.PredictionService/MultiInference',
  metadata: '/tensorflow.serving.PredictionService/GetModelMetadata',
  status: '/tensorflow.serving.ModelService/GetModelStatus',
  reload: '/tensorflow.serving.ModelService/HandleReloadConfigRequest',
} as const;

const REQUEST_TYPES: Record<keyof typeof METHODS, string> = {
  predict: 'tensorflow.serving.PredictRequest',
  classify: 'tensorflow.serving.ClassificationRequest',
  regress: 'tensorflow.serving.RegressionRequest',
  multiInference: 'tensorflow.serving.MultiInferenceRequest',
  metadata: 'tensorflow.serving.GetModelMetadataRequest',
  status: 'tensorflow.serving.GetModelStatusRequest',
  reload: 'tensorflow.serving.ReloadConfigRequest',
};

const DT = { FLOAT: 1, DOUBLE: 2, INT32: 3, STRING: 7, INT64: 9, BOOL: 10, HALF: 19 } as const;

const types = new Map<string, protobuf.Type>();
function type(name: string): protobuf.Type {
  let t = types.get(name);
  if (!t) {
    t = protobufRoot().lookupType(name);
    types.set(name, t);
  }
  return t;
}

export function encodeRequest(method: keyof typeof METHODS, message: object): Buffer {
  const t = type(REQUEST_TYPES[method]);
  return Buffer.from(t.encode(t.fromObject(message)).finish());
}

type Json = Record<string, unknown>;

/** Dimension sizes that break careless arithmetic: negative, 2^31, 2^53 + 1, 2^63 - 1, ... (int64 as strings). */
const NASTY_DIMS: readonly (number | string)[] = [
  0,
  1,
  2,
  3,
  -1,
  -2,
  784,
  65536,
  100_000,
  800_000_000,
  2147483647,
  2147483648,
  4294967296,
  9007199254740991,
  '9007199254740993',
  '9223372036854775807',
  '-9223372036854775808',
  '4611686018427387904',
];

/** The signatures a generator may aim at: model, signature name, input alias, dtype and a valid shape. */
interface Target {
  model: string;
  signature?: string;
  alias: string;
  dtype: number;
  /** A valid shape for a request of `rows` rows. */
  shape: (rows: number) => number[];
}

const TARGETS: readonly Target[] = [
  { model: MODELS.classifier, alias: 'inputs', dtype: DT.FLOAT, shape: (n) => [n, FEATURES] },
  { model: MODELS.classifier, signature: 'predict_probs', alias: 'x', dtype: DT.FLOAT, shape: (n) => [n, FEATURES] },
  {
    model: MODELS.classifier,
    signature: 'regress_first',
    alias: 'inputs',
    dtype: DT.FLOAT,
    shape: (n) => [n, FEATURES],
  },
  { model: MODELS.identityFloat, alias: 'x', dtype: DT.FLOAT, shape: (n) => [n, 3] },
  { model: MODELS.identityString, alias: 'x', dtype: DT.STRING, shape: (n) => [n] },
];

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function modelSpec(rng: Rng, model: string, signature?: string): Json {
  const spec: Json = { name: model };
  if (signature) spec.signature_name = signature;
  if (rng.chance(0.3)) {
    const which = rng.int(14);
    if (which === 0) spec.name = rng.name();
    else if (which === 1) spec.name = '';
    else if (which === 2) spec.name = 'm'.repeat(rng.pick([257, 10_000]));
    else if (which === 3)
      spec.version = {
        value: rng.pick<number | string>([0, 1, 2, -1, '9223372036854775807', '-9223372036854775808', 2 ** 53 + 2]),
      };
    else if (which === 4) spec.version_label = rng.pick([STABLE_LABEL, '', rng.name(), 'x'.repeat(5000)]);
    else if (which === 5) {
      spec.version = { value: 1 };
      spec.version_label = STABLE_LABEL; // both arms of the oneof on the wire; the last one wins
    } else if (which === 6)
      spec.signature_name = rng.pick(['', 'serving_default', 'predict_probs', 'regress_first', rng.name()]);
    else if (which === 7) spec.name = rng.pick(Object.values(MODELS));
    else if (which === 8) spec.version = {};
    else if (which === 9) spec.version = { value: 1 };
    else if (which === 10) spec.version_label = STABLE_LABEL;
    else if (which === 11) delete spec.name;
    else spec.signature_name = rng.name();
  }
  return spec;
}

function floatValues(rng: Rng, n: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = rng.chance(0.05) ? rng.nastyFloat() : rng.float() * 2 - 1;
  return out;
}

/** A valid TensorProto for `target` with `rows` rows, in one of the encodings TF clients use. */
function validTensor(rng: Rng, target: Target, rows: number): Json {
  const shape = target.shape(rows);
  const n = elementCount(shape);
  const tensor: Json = { dtype: target.dtype, tensor_shape: { dim: shape.map((size) => ({ size })) } };
  if (target.dtype === DT.STRING) {
    tensor.string_val = Array.from({ length: n }, () => rng.bytes(rng.size(32)));
  } else if (rng.chance(0.3)) {
    tensor.tensor_content = Buffer.from(Float32Array.from(floatValues(rng, n)).buffer);
  } else {
    tensor.float_val = floatValues(rng, n);
  }
  return tensor;
}

/** One mutation of a TensorProto, in place. */
function mutateTensor(rng: Rng, tensor: Json): void {
  const shape = tensor.tensor_shape as { dim?: Json[]; unknown_rank?: boolean };
  const dims = (shape.dim ??= []);
  switch (rng.int(16)) {
    case 0:
      tensor.dtype = rng.weighted<number>([
        [6, rng.range(0, 33)],
        [1, rng.range(101, 123)],
        [1, rng.pick([34, 99, 200, 1 << 20, -1])],
      ]);
      break;
    case 1:
      if (dims.length > 0) (dims[rng.int(dims.length)] as Json).size = rng.pick(NASTY_DIMS);
      else dims.push({ size: rng.pick(NASTY_DIMS) });
      break;
    case 2:
      dims.push({ size: rng.pick(NASTY_DIMS) });
      break;
    case 3:
      dims.splice(rng.int(dims.length + 1), 1);
      break;
    case 4:
      shape.dim = Array.from({ length: rng.pick([0, 5, 8, 254, 255, 300]) }, () => ({ size: rng.pick([1, 1, 1, 2]) }));
      break;
    case 5:
      shape.unknown_rank = true;
      if (rng.chance(0.5)) shape.dim = [];
      break;
    case 6: {
      // Value count disagrees with the shape: none, one (TF's "repeat the last"), one short, one over, many.
      const n = rng.weighted<number>([
        [10, rng.pick([0, 1, 2, 5, 13, 1000])],
        [1, 100_000],
      ]);
      const field = tensor.string_val ? 'string_val' : rng.pick(['float_val', 'tensor_content']);
      delete tensor.tensor_content;
      delete tensor.float_val;
      delete tensor.string_val;
      if (field === 'string_val') tensor.string_val = Array.from({ length: Math.min(n, 2000) }, () => rng.bytes(4));
      // Large counts as packed bytes: encoding 100,000 float_val through protobufjs objects costs the fuzzer more
      // than the server.
      else if (field === 'tensor_content' || n > 1000) tensor.tensor_content = Buffer.alloc(4 * n, 0x3f);
      else tensor.float_val = floatValues(rng, n);
      break;
    }
    case 7: {
      // The values in a field that does not belong to the dtype.
      const field = rng.pick([
        'double_val',
        'int_val',
        'int64_val',
        'bool_val',
        'half_val',
        'scomplex_val',
        'dcomplex_val',
        'uint32_val',
        'uint64_val',
        'string_val',
        'float_val',
      ]);
      const n = rng.size(64);
      tensor[field] =
        field === 'string_val'
          ? Array.from({ length: n }, () => rng.bytes(rng.size(16)))
          : field === 'bool_val'
            ? Array.from({ length: n }, () => rng.chance(0.5))
            : field.includes('int') || field === 'half_val'
              ? Array.from({ length: n }, () => rng.range(-1000, 1000))
              : floatValues(rng, n);
      break;
    }
    case 8: {
      // tensor_content whose length is not the shape's bytes: short, long, odd, empty.
      const current = (tensor.tensor_content as Buffer | undefined)?.length ?? 16;
      tensor.tensor_content = rng.bytes(Math.max(0, current + rng.pick([-4, -1, 1, 3, 4, 4096, -current])));
      break;
    }
    case 9:
      // tensor_content and float_val both set.
      tensor.tensor_content = rng.bytes(4 * rng.size(64));
      tensor.float_val = floatValues(rng, rng.size(64));
      break;
    case 10: {
      // Strings: huge ones, many empty ones, invalid UTF-8.
      // At most ~3 MiB in all: the point is what the server does with the claim, not the fuzzer's memory.
      const size = rng.pick([0, 1, 1024, 65536, 1 << 20, 3 << 20]);
      const count = size >= 65536 ? rng.pick([1, 2]) : rng.pick([1, 2, 100, 2000]);
      tensor.string_val = Array.from({ length: count }, () =>
        size > 4096 ? Buffer.alloc(size, 0xff) : rng.bytes(size),
      );
      break;
    }
    case 11:
      tensor.version_number = rng.pick([0, 1, -1, 2147483647]);
      break;
    case 12:
      tensor.variant_val = [
        { type_name: rng.name(), metadata: rng.bytes(rng.size(64)), tensors: [{ dtype: DT.FLOAT }] },
      ];
      break;
    case 13:
      tensor.resource_handle_val = [
        { device: rng.name(), container: rng.name(), name: rng.name(), hash_code: rng.u32() },
      ];
      break;
    case 14:
      (dims[rng.int(Math.max(1, dims.length))] ?? (dims[0] = { size: 1 })).name = rng.pick([
        rng.name(),
        'n'.repeat(100_000),
      ]);
      break;
    default:
      tensor.float8_val = rng.bytes(rng.size(64));
  }
}

function predictRequest(rng: Rng, server: ServerRole): { message: Json; category: string } {
  const target = rng.pick(TARGETS);
  const rows = rng.weighted<number>([
    [8, rng.range(1, 4)],
    [2, rng.range(0, server === 'batched' ? 20 : 64)],
  ]);
  const tensor = validTensor(rng, target, rows);
  const inputs: Record<string, Json> = { [target.alias]: tensor };
  let category = 'grpc.predict.valid';
  const mutations = rng.weighted<number>([
    [1, 0],
    [6, 1],
    [3, rng.range(2, 4)],
  ]);
  if (mutations > 0) category = 'grpc.predict.tensor';
  for (let i = 0; i < mutations; i++) mutateTensor(rng, tensor);
  if (rng.chance(0.15)) {
    category = 'grpc.predict.aliases';
    const alias = rng.pick(['', 'x', 'inputs', 'y', rng.name(), 'a'.repeat(rng.pick([300, 100_000]))]);
    if (rng.chance(0.5)) delete inputs[target.alias];
    inputs[alias] = validTensor(rng, target, 1);
  }
  const message: Json = { model_spec: modelSpec(rng, target.model, target.signature), inputs };
  if (rng.chance(0.2)) {
    category = category === 'grpc.predict.valid' ? 'grpc.predict.output_filter' : category;
    message.output_filter = Array.from({ length: rng.range(0, 4) }, () =>
      rng.pick(['y', 'scores', 'probabilities', 'outputs', '', rng.name()]),
    );
  }
  if (rng.chance(0.1)) {
    category = 'grpc.predict.spec';
    message.model_spec = rng.chance(0.2) ? undefined : modelSpec(rng, rng.pick([...Object.values(MODELS), rng.name()]));
  }
  return { message, category };
}

function featureValues(rng: Rng, kind: string, n: number): Json {
  if (kind === 'float_list') return { float_list: { value: floatValues(rng, n) } };
  if (kind === 'int64_list')
    return {
      int64_list: {
        value: Array.from({ length: n }, () =>
          rng.pick<number | string>([0, 1, -1, '9223372036854775807', rng.range(-100, 100)]),
        ),
      },
    };
  if (kind === 'bytes_list') return { bytes_list: { value: Array.from({ length: n }, () => rng.bytes(rng.size(16))) } };
  return {};
}

/** One tf.Example for the classifier; `mutate` breaks it, `huge` allows feature lists of 100,000 values. */
function example(rng: Rng, mutate: boolean, huge = false): Json {
  const feature: Record<string, Json> = { x: featureValues(rng, 'float_list', FEATURES) };
  if (mutate) {
    switch (rng.int(7)) {
      case 0:
        feature.x = featureValues(rng, rng.pick(['int64_list', 'bytes_list', 'none']), rng.size(8));
        break;
      case 1:
        feature.x = featureValues(rng, 'float_list', rng.pick(huge ? [1000, 100_000] : [0, 1, 3, 5, 8]));
        break;
      case 2:
        delete feature.x;
        break;
      case 3:
        feature[rng.pick(['y', '', rng.name()])] = featureValues(
          rng,
          rng.pick(['float_list', 'int64_list', 'bytes_list']),
          rng.size(10),
        );
        break;
      case 4:
        feature.x = { float_list: { value: [NaN, Infinity, -Infinity, 3.5e38] } };
        break;
      case 5:
        feature.x = { float_list: { value: floatValues(rng, FEATURES) }, int64_list: { value: [1] } };
        break;
      default:
        feature.x = featureValues(rng, 'bytes_list', rng.size(4));
    }
  }
  return { features: { feature } };
}

function exampleInput(rng: Rng, server: ServerRole): { input: Json | undefined; mutated: boolean } {
  const count = rng.weighted<number>([
    [8, rng.range(1, 4)],
    [2, rng.range(0, server === 'batched' ? 24 : 64)],
    [0.3, rng.pick([0, 5000])],
  ]);
  const mutated = rng.chance(0.6);
  const examples = Array.from({ length: count }, (_, i) =>
    example(rng, mutated && (i === 0 || rng.chance(0.3)), i === 0),
  );
  if (mutated && rng.chance(0.1)) return { input: rng.chance(0.5) ? undefined : {}, mutated };
  if (rng.chance(0.25)) {
    const context = example(rng, mutated && rng.chance(0.5));
    if (rng.chance(0.5)) delete (context.features as { feature: Json }).feature.x;
    return { input: { example_list_with_context: { examples, context } }, mutated };
  }
  return { input: { example_list: { examples } }, mutated };
}

function inferenceRequest(
  rng: Rng,
  server: ServerRole,
  kind: 'classify' | 'regress',
): { message: Json; category: string } {
  const { input, mutated } = exampleInput(rng, server);
  const model = rng.chance(0.85) ? MODELS.classifier : rng.pick([MODELS.identityFloat, MODELS.identityString]);
  const signature = kind === 'regress' ? 'regress_first' : rng.chance(0.5) ? undefined : 'serving_default';
  return {
    message: { model_spec: modelSpec(rng, model, signature), input },
    category: `grpc.${kind}${mutated ? '.examples' : '.valid'}`,
  };
}

function multiInferenceRequest(rng: Rng, server: ServerRole): { message: Json; category: string } {
  const { input } = exampleInput(rng, server);
  const tasks = Array.from(
    {
      length: rng.weighted<number>([
        [1, 0],
        [6, rng.range(1, 2)],
        [1, rng.range(3, 6)],
      ]),
    },
    (_, i) => ({
      model_spec: modelSpec(
        rng,
        rng.chance(0.9) ? MODELS.classifier : rng.name(),
        i === 0 ? 'serving_default' : 'regress_first',
      ),
      method_name: rng.weighted<string>([
        [6, i === 0 ? 'tensorflow/serving/classify' : 'tensorflow/serving/regress'],
        [1, 'tensorflow/serving/predict'],
        [1, rng.pick(['', rng.name(), 'tensorflow/serving/classify'])],
      ]),
    }),
  );
  return { message: { tasks, input }, category: 'grpc.multi_inference' };
}

function metadataRequest(rng: Rng): { message: Json; category: string } {
  const fields = rng.weighted<string[]>([
    [6, ['signature_def']],
    [1, []],
    [1, Array.from({ length: rng.range(1, 5) }, () => rng.pick(['signature_def', '', rng.name()]))],
  ]);
  return {
    message: { model_spec: modelSpec(rng, rng.pick(Object.values(MODELS))), metadata_field: fields },
    category: 'grpc.metadata',
  };
}

function statusRequest(rng: Rng): { message: Json; category: string } {
  return { message: { model_spec: modelSpec(rng, rng.pick(Object.values(MODELS))) }, category: 'grpc.status' };
}

function reloadRequest(rng: Rng): { message: Json; category: string } {
  const config = Array.from({ length: rng.range(0, 3) }, () => ({
    name: rng.pick([MODELS.classifier, rng.name()]),
    base_path: rng.pick(['/proc', 's3://bucket/m', 'file:///etc', '', rng.name(), '/tmp/../etc']),
    model_platform: 'tensorflow',
  }));
  return { message: { config: { model_config_list: { config } } }, category: 'grpc.reload_config' };
}

/** Draws one gRPC case: a structured request (most of the time) or a byte-mutated encoding of one. */
export function grpcCase(rng: Rng, server: ServerRole): FuzzCase {
  const method = rng.weighted<keyof typeof METHODS>([
    [10, 'predict'],
    [4, 'classify'],
    [2, 'regress'],
    [2, 'multiInference'],
    [1, 'metadata'],
    [1, 'status'],
    [0.2, 'reload'],
  ]);
  const { message, category } =
    method === 'predict'
      ? predictRequest(rng, server)
      : method === 'classify' || method === 'regress'
        ? inferenceRequest(rng, server, method)
        : method === 'multiInference'
          ? multiInferenceRequest(rng, server)
          : method === 'metadata'
            ? metadataRequest(rng)
            : method === 'status'
              ? statusRequest(rng)
              : reloadRequest(rng);
  const bytes = encodeRequest(method, message);
  if (rng.chance(0.2)) {
    const mutation = mutateBytes(rng, bytes);
    return {
      category: `grpc.bytes.${method}`,
      server,
      grpc: { method: METHODS[method], bytes: mutation.bytes },
      summary: () => `${METHODS[method]} ${mutation.description} of ${summarize(message)}`,
    };
  }
  return {
    category,
    server,
    grpc: { method: METHODS[method], bytes },
    summary: () => `${METHODS[method]} ${summarize(message)}`,
  };
}
