/**
 * Valid requests whose answers are checked against a float64 reference: the fuzzer sends one every 1,000 requests
 * and the soak mixes them into its load, so a server that survives hostile traffic but answers wrongly is caught.
 * Classifier: softmax(x·W + b) against referenceScores (test fixtures); identity model: the input, bit for bit.
 */
import protobuf from 'protobufjs';
import { protobufRoot } from '../../src/serving/apis/shared/protos.js';
import { FEATURES, referenceScores } from '../../test/serving/apis/fixtures.js';
import { encodeRequest, METHODS } from './grpc-cases.js';
import type { Rng } from './rng.js';
import { MODELS } from './server-process.js';
import type { RawGrpc, RawHttp } from './transport.js';

/** Relative tolerance of float32 softmax against the float64 reference. */
const TOLERANCE = 1e-5;

export interface ProbeResult {
  ok: boolean;
  /** What went wrong, when not ok. */
  detail: string;
  latencyMs: number;
  /** The classifier version that answered, when the answer says (gRPC). */
  version?: number;
}

let predictResponseType: protobuf.Type | undefined;

function floatsOf(tensor: { float_val?: number[]; tensor_content?: Uint8Array } | undefined): number[] {
  if (!tensor) return [];
  if (tensor.tensor_content && tensor.tensor_content.length > 0) {
    const c = tensor.tensor_content;
    return Array.from(new Float32Array(c.buffer.slice(c.byteOffset, c.byteOffset + c.byteLength)));
  }
  return tensor.float_val ?? [];
}

function compare(actual: readonly number[], expected: readonly number[], exact: boolean): string | undefined {
  if (actual.length !== expected.length) return `expected ${expected.length} values, got ${actual.length}`;
  for (let i = 0; i < expected.length; i++) {
    // Identity answers are compared as float32: REST may print the shortest decimal that reads back as it.
    const a = exact ? Math.fround(actual[i] as number) : (actual[i] as number);
    const e = expected[i] as number;
    const bad = exact ? !Object.is(a, e) : !(Math.abs(a - e) <= TOLERANCE * Math.max(1, Math.abs(e)));
    if (bad) return `value ${i}: expected ${e}, got ${a}`;
  }
  return undefined;
}

/** Which probe: classifier or identity, over gRPC or REST. */
export type ProbeKind = 'grpc-classifier' | 'rest-classifier' | 'grpc-identity' | 'rest-identity';
export const PROBE_KINDS: readonly ProbeKind[] = [
  'grpc-classifier',
  'rest-classifier',
  'grpc-identity',
  'rest-identity',
];

/**
 * Sends one valid request of `kind` and checks the answer. `classifierVersions`: the classifier versions that may
 * answer. One version: the request names it (/versions/N). Several (a hot swap in progress): the request names
 * none, and the answer must match the reference of one of them (over gRPC, the one its model_spec names).
 */
export async function probe(
  kind: ProbeKind,
  rng: Rng,
  clients: { grpc: RawGrpc; http: RawHttp },
  deadlineMs: number,
  classifierVersions: readonly number[] = [1],
): Promise<ProbeResult> {
  const rows = rng.range(1, 3);
  const classifier = kind.endsWith('classifier');
  const width = classifier ? FEATURES : 5;
  const x = Array.from({ length: rows * width }, () => Math.fround(rng.float() * 4 - 2));
  const expectedFor = (version: number): number[] => {
    const expected: number[] = [];
    for (let r = 0; r < rows; r++) {
      const row = x.slice(r * width, (r + 1) * width);
      expected.push(...(classifier ? referenceScores(row, version) : row));
    }
    return expected;
  };
  /** undefined when `actual` matches the answer of one of the versions that may answer. */
  const check = (actual: readonly number[], versions: readonly number[]): string | undefined => {
    let why: string | undefined = 'no version may answer';
    for (const version of versions) {
      why = compare(actual, expectedFor(version), !classifier);
      if (why === undefined) return undefined;
    }
    return versions.length > 1 ? `${why} (matches none of versions ${versions.join(', ')})` : why;
  };
  const started = performance.now();
  const done = (detail: string | undefined): ProbeResult => ({
    ok: detail === undefined,
    detail: detail ? `${kind} with x=${JSON.stringify(x)}: ${detail}` : '',
    latencyMs: performance.now() - started,
  });
  const model = classifier ? MODELS.classifier : MODELS.identityFloat;
  const pinned = !classifier || classifierVersions.length === 1 ? (classifier ? classifierVersions[0] : 1) : undefined;
  const signature = classifier ? 'predict_probs' : 'serving_default';
  const output = classifier ? 'probabilities' : 'y';
  if (kind.startsWith('grpc')) {
    const bytes = encodeRequest('predict', {
      model_spec: {
        name: model,
        signature_name: signature,
        ...(pinned === undefined ? {} : { version: { value: pinned } }),
      },
      inputs: { x: { dtype: 1, tensor_shape: { dim: [{ size: rows }, { size: width }] }, float_val: x } },
    });
    const reply = await clients.grpc.call(METHODS.predict, bytes, deadlineMs);
    if (reply.code !== 0) return done(`gRPC status ${reply.code}: ${reply.details}`);
    predictResponseType ??= protobufRoot().lookupType('tensorflow.serving.PredictResponse');
    const decoded = predictResponseType.toObject(predictResponseType.decode(reply.response as Buffer), {
      longs: String,
    }) as {
      outputs: Record<string, { float_val?: number[]; tensor_content?: Uint8Array }>;
      model_spec?: { version?: { value?: string } };
    };
    const answered = Number(decoded.model_spec?.version?.value);
    if (classifier && !classifierVersions.includes(answered)) {
      return done(`answered by version ${answered}, expected one of ${classifierVersions.join(', ')}`);
    }
    return { ...done(check(floatsOf(decoded.outputs[output]), classifier ? [answered] : [1])), version: answered };
  }
  const instances = Array.from({ length: rows }, (_, r) => x.slice(r * width, (r + 1) * width));
  const reply = await clients.http.send(
    {
      method: 'POST',
      path: `/v1/models/${model}${pinned === undefined ? '' : `/versions/${pinned}`}:predict`,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ signature_name: signature, instances })),
    },
    deadlineMs,
  );
  if (reply.status !== 200) return done(`HTTP ${reply.status}: ${reply.body.subarray(0, 300).toString()}`);
  const predictions = (JSON.parse(reply.body.toString('utf8')) as { predictions: number[][] }).predictions;
  return done(check(predictions.flat(), classifier ? classifierVersions : [1]));
}
