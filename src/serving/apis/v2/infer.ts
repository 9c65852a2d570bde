/**
 * Open Inference Protocol inference over the serving core, for every transport (REST JSON, REST binary, gRPC).
 *
 * A v2 model name is the TF Serving model name; version "" or absent is the latest (TF Serving's default), a
 * number selects that version and any other string is read as a TF Serving version label (`stable`). Input and
 * output names are the signature's aliases. The signature is `parameters.signature_name`, else `serving_default`
 * when the servable has one, else the servable's default. Inference runs through `core.run`: the same batching,
 * workers, metrics, validation and deadlines as TF Serving's Predict.
 *
 * Transports admit each input from its header before they allocate it (`resolveV2Target` + `admitV2Input`, then
 * pass the target to `inferV2`); `inferV2` alone (no target) admits the already decoded tensors itself.
 * Error texts follow Triton's (`unexpected inference input 'x' for model 'm'`), naming expected and actual.
 */
import { InvalidArgument, Unimplemented } from '../../../errors.js';
import type { DType } from '../../../graph/dtype.js';
import type { HostTensor } from '../../../graph/host-tensor.js';
import { checkWireShape, type InputAdmission } from '../../core/request-limits.js';
import { SignatureNotFound } from '../../core/request-validation.js';
import { DEFAULT_SIGNATURE, type ModelSelector, type ServingCore, type Signature } from '../../core/types.js';
import { dtypeOfV2, v2DatatypeOf, type V2Datatype } from './datatypes.js';

export type V2Parameters = Record<string, unknown>;

export interface V2Input {
  name: string;
  datatype: string;
  shape: number[];
  tensor: HostTensor;
}

export interface V2RequestedOutput {
  name: string;
  parameters?: V2Parameters;
}

export interface V2InferRequest {
  modelName: string;
  modelVersion?: string;
  id?: string;
  parameters?: V2Parameters;
  inputs: V2Input[];
  outputs?: V2RequestedOutput[];
}

export interface V2Output {
  name: string;
  datatype: V2Datatype;
  shape: number[];
  tensor: HostTensor;
}

export interface V2InferResult {
  modelName: string;
  modelVersion: string;
  id?: string;
  parameters?: V2Parameters;
  outputs: V2Output[];
}

/** What a request addresses, resolved once: the version selector, the signature and this request's admission. */
export interface V2InferTarget {
  modelName: string;
  selector: ModelSelector;
  signatureName: string;
  signature: Signature;
  admission: InputAdmission;
}

export interface V2InferOptions {
  /** Date.now() ms when the client stops waiting (gRPC deadline, REST timeout). */
  deadline?: number;
  /** The input tensors were decoded for this request alone: the worker may take their buffers. */
  inputsOwned?: boolean;
  /** The target the transport resolved and admitted the inputs against (their bytes are then already charged). */
  target?: V2InferTarget;
  /** The client connection the request came on (RunRequest.connection). */
  connection?: object;
}

/** An input's header, as a transport reads it before decoding the data. */
export interface V2InputHeader {
  name: string;
  datatype: string;
  shape: readonly number[];
  /** BYTES only: the total bytes of all elements. */
  stringBytes?: number;
}

/** The version selector of a v2 model name and version string. */
export function selectorOfV2(modelName: string, modelVersion?: string): ModelSelector {
  if (typeof modelName !== 'string' || modelName === '') throw new InvalidArgument('model name is required');
  if (modelVersion === undefined || modelVersion === '') return { name: modelName };
  if (/^\d+$/.test(modelVersion)) {
    const version = Number(modelVersion);
    if (!Number.isSafeInteger(version)) {
      throw new InvalidArgument(`model version '${modelVersion.slice(0, 64)}' is out of range`);
    }
    return { name: modelName, version };
  }
  return { name: modelName, label: modelVersion };
}

function parameterString(parameters: V2Parameters | undefined, key: string): string | undefined {
  const value = parameters?.[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidArgument(`parameter '${key}' must be a string`);
  return value;
}

/** Resolves the model version and signature a request addresses and opens its admission. */
export function resolveV2Target(
  core: ServingCore,
  modelName: string,
  modelVersion: string | undefined,
  parameters: V2Parameters | undefined,
): V2InferTarget {
  const selector = selectorOfV2(modelName, modelVersion);
  const requested = parameterString(parameters, 'signature_name') || undefined;
  try {
    const { signatureName, admission } = core.admission(selector, requested, { preferredSignature: DEFAULT_SIGNATURE });
    return { modelName, selector, signatureName, signature: admission.signature, admission };
  } catch (err) {
    if (err instanceof SignatureNotFound) {
      const names = Object.keys(core.info(selector).signatures).sort();
      throw new InvalidArgument(
        `signature_name '${err.signatureName.slice(0, 256)}' not found in model '${modelName}'; ` +
          `it has: ${names.join(', ')}`,
      );
    }
    throw err;
  }
}

function formatDims(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** The inputs named must be exactly the signature's inputs, each once. */
export function checkV2InputNames(target: V2InferTarget, names: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (!(name in target.signature.inputs)) {
      throw new InvalidArgument(
        `unexpected inference input '${name.slice(0, 256)}' for model '${target.modelName}'; ` +
          `its inputs are: ${Object.keys(target.signature.inputs).join(', ')}`,
      );
    }
    if (seen.has(name)) throw new InvalidArgument(`inference input '${name}' is given more than once`);
    seen.add(name);
  }
  const expected = Object.keys(target.signature.inputs);
  if (seen.size !== expected.length) {
    const missing = expected.filter((n) => !seen.has(n));
    throw new InvalidArgument(
      `expected ${expected.length} inputs but got ${seen.size} inputs for model '${target.modelName}'; ` +
        `missing: ${missing.join(', ')}`,
    );
  }
}

/** Datatype and shape of one input against the signature, from its header; returns its dtype. */
export function checkV2InputHeader(target: V2InferTarget, header: V2InputHeader): DType {
  const where = `input '${header.name}'`;
  const spec = target.signature.inputs[header.name];
  if (!spec) throw new InvalidArgument(`unexpected inference input '${header.name}' for model '${target.modelName}'`);
  const dtype = dtypeOfV2(header.datatype, where);
  checkWireShape(header.shape, where);
  if (dtype !== spec.dtype) {
    throw new InvalidArgument(
      `inference input '${header.name}' data-type is '${v2DatatypeOf(dtype)}', but model '${target.modelName}' ` +
        `expects '${v2DatatypeOf(spec.dtype)}'`,
    );
  }
  const declared = spec.shape.length > 0 && target.signature.enforceShapes !== false;
  const fits =
    !declared ||
    (header.shape.length === spec.shape.length && spec.shape.every((d, i) => d < 0 || d === header.shape[i]));
  if (!fits) {
    throw new InvalidArgument(
      `unexpected shape for input '${header.name}' for model '${target.modelName}'. ` +
        `Expected ${formatDims(spec.shape)}, got ${formatDims(header.shape)} (-1 = any size)`,
    );
  }
  return dtype;
}

/**
 * Checks one input's header (datatype, shape, batch size) and charges its decoded size against the request's
 * budget (--max_input_bytes). Call before allocating the input; returns its dtype.
 */
export function admitV2Input(target: V2InferTarget, header: V2InputHeader): DType {
  const dtype = checkV2InputHeader(target, header);
  chargeV2Input(target, header, dtype, header.stringBytes ?? 0);
  return dtype;
}

/**
 * The charge half of admitV2Input, for a transport that has already checked the header (`dtype` is what
 * checkV2InputHeader returned): one check per input and request instead of one per step.
 */
export function chargeV2Input(target: V2InferTarget, header: V2InputHeader, dtype: DType, stringBytes: number): void {
  target.admission.admit(
    header.name,
    dtype === 'string' ? { dtype, shape: header.shape, stringBytes } : { dtype, shape: header.shape },
  );
}

/** The output names to return, in the order asked: all of the signature's when none are named. */
export function checkV2Outputs(target: V2InferTarget, outputs: readonly V2RequestedOutput[] | undefined): string[] {
  const all = Object.keys(target.signature.outputs);
  if (!outputs || outputs.length === 0) return all;
  const seen = new Set<string>();
  for (const { name, parameters } of outputs) {
    if (!(name in target.signature.outputs)) {
      throw new InvalidArgument(
        `unexpected inference output '${String(name).slice(0, 256)}' for model '${target.modelName}'; ` +
          `its outputs are: ${all.join(', ')}`,
      );
    }
    if (seen.has(name)) throw new InvalidArgument(`inference output '${name}' is requested more than once`);
    if (parameters?.classification !== undefined) {
      throw new Unimplemented(`output '${name}': the classification extension is not supported`);
    }
    seen.add(name);
  }
  return [...seen];
}

/**
 * Request-level parameters: Triton's reserved `triton_` keys are refused, sequences are not supported, and
 * `timeout` (microseconds, Triton's) becomes a deadline. Other keys (binary_data_output, priority, custom ones)
 * are accepted and not used here. Returns the deadline, the earlier of `deadline` and the timeout's.
 */
export function requestDeadlineV2(parameters: V2Parameters | undefined, deadline?: number): number | undefined {
  if (!parameters) return deadline;
  for (const key of Object.keys(parameters)) {
    if (key.startsWith('triton_')) {
      throw new InvalidArgument(`parameter key '${key.slice(0, 64)}' is reserved for Triton usage`);
    }
  }
  const sequence = parameters.sequence_id;
  if (sequence !== undefined && sequence !== 0 && sequence !== '' && sequence !== '0') {
    throw new Unimplemented('sequence_id: sequence batching (stateful models) is not supported');
  }
  const timeout = parameters.timeout;
  if (timeout === undefined) return deadline;
  const micros = typeof timeout === 'string' && /^\d+$/.test(timeout) ? Number(timeout) : timeout;
  if (typeof micros !== 'number' || !Number.isSafeInteger(micros) || micros < 0) {
    throw new InvalidArgument(`parameter 'timeout' must be a non-negative integer of microseconds`);
  }
  if (micros === 0) return deadline;
  const own = Date.now() + micros / 1000;
  return deadline === undefined ? own : Math.min(deadline, own);
}

export async function inferV2(
  core: ServingCore,
  request: V2InferRequest,
  options: V2InferOptions = {},
): Promise<V2InferResult> {
  const deadline = requestDeadlineV2(request.parameters, options.deadline);
  // A transport's target comes with the names and every header already checked against it (and charged).
  const admitted = options.target;
  const target = admitted ?? resolveV2Target(core, request.modelName, request.modelVersion, request.parameters);
  if (!admitted) {
    checkV2InputNames(
      target,
      request.inputs.map((i) => i.name),
    );
  }
  const inputs: Record<string, HostTensor> = {};
  for (const input of request.inputs) {
    const dtype = admitted ? target.signature.inputs[input.name]?.dtype : admitV2Input(target, input);
    const { tensor } = input;
    if (tensor.dtype !== dtype || !sameShape(tensor.shape, input.shape)) {
      throw new TypeError(`input '${input.name}': decoded tensor does not match its header`);
    }
    inputs[input.name] = tensor;
  }
  const outputNames = checkV2Outputs(target, request.outputs);
  const result = await core.run({
    model: target.selector,
    signatureName: target.signatureName,
    inputs,
    outputFilter: outputNames,
    inputsOwned: options.inputsOwned ?? false,
    ...(deadline === undefined ? {} : { deadline }),
    ...(options.connection === undefined ? {} : { connection: options.connection }),
  });
  return {
    modelName: result.modelName,
    modelVersion: String(result.version),
    ...(request.id === undefined ? {} : { id: request.id }),
    outputs: outputNames.map((name) => {
      const tensor = result.outputs[name] as HostTensor;
      return { name, datatype: v2DatatypeOf(tensor.dtype), shape: [...tensor.shape], tensor };
    }),
  };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
