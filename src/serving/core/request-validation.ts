/**
 * Checks a request against its signature before anything is queued or run, with TF Serving's messages where it has
 * them (spec §4.5). TF Serving leaves dtype and shape checks to the TF runtime; ONNX Runtime's messages would name
 * ONNX tensors the client never saw, so flowserve checks them here and names the alias, the expected and the actual.
 */
import { FailedPrecondition, InvalidArgument } from '../../errors.js';
import { tfTypeName, type DType } from '../../graph/dtype.js';
import type { HostTensor } from '../../graph/host-tensor.js';
import type { Servable } from './servable.js';
import type { Signature, TensorSpec } from './types.js';

/**
 * A predict signature that does not exist. gRPC answers FAILED_PRECONDITION with `message`; TF Serving's REST API
 * checks first and answers 400 with `restMessage` (spec §4.6), so the REST adapter may use that text instead.
 */
export class SignatureNotFound extends FailedPrecondition {
  readonly restMessage: string;

  constructor(readonly signatureName: string) {
    super(`Serving signature key "${signatureName}" not found.`);
    this.restMessage = `Serving signature name: "${signatureName}" not found in signature def`;
  }
}

export function resolveSignatureName(servable: Servable, requested: string | undefined): string {
  const name = requested === undefined || requested === '' ? servable.defaultSignature : requested;
  if (!(name in servable.signatures)) throw new SignatureNotFound(name);
  return name;
}

const braces = (names: readonly string[]): string => `{${[...names].sort().join(',')}}`;

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** The aliases sent must be exactly the signature's inputs; checked on names alone, before decoding anything. */
export function checkInputNames(signature: Signature, sent: readonly string[]): void {
  const expected = Object.keys(signature.inputs);
  const sentSet = new Set(sent);
  const extra = sent.filter((a) => !(a in signature.inputs));
  const missing = expected.filter((a) => !sentSet.has(a));
  if (extra.length === 0 && missing.length === 0) return;
  if (sent.length !== expected.length) {
    throw new InvalidArgument(
      `input size does not match signature: ${sent.length}!=${expected.length} len(${braces(sent)}) != ` +
        `len(${braces(expected)}). Sent extra: ${braces(extra)}. Missing but required: ${braces(missing)}.`,
    );
  }
  const alias = missing[0] as string;
  throw new InvalidArgument(
    `Signature input alias: ${alias}(feed name: ${signature.inputs[alias]?.name}) not found in request and no ` +
      `default value provided. Sent extra: ${braces(extra)}.`,
  );
}

/** dtype, rank and known dimensions of one input against its spec; needs only the header, not the data. */
export function checkTensorHeader(
  alias: string,
  index: number,
  spec: TensorSpec,
  dtype: DType,
  shape: readonly number[],
  enforceShape = true,
): void {
  if (dtype !== spec.dtype) {
    throw new InvalidArgument(
      `Expects arg[${index}] to be ${tfTypeName(spec.dtype)} but ${tfTypeName(dtype)} is provided ` +
        `(input '${alias}')`,
    );
  }
  // signatures.json and ONNX Runtime both write [] both for scalars and for "shape not declared": accept any shape.
  if (spec.shape.length === 0 || !enforceShape) return;
  const fits = shape.length === spec.shape.length && spec.shape.every((d, i) => d < 0 || d === (shape[i] as number));
  if (!fits) {
    throw new InvalidArgument(
      `input '${alias}' has shape ${formatShape(shape)} but the signature expects ${formatShape(spec.shape)} ` +
        `(-1 = any size)`,
    );
  }
}

/**
 * Throws InvalidArgument for unknown/missing aliases, wrong dtypes and shape mismatches. Inputs' dim 0 are not
 * compared: in an ONNX model they need not be a batch dimension (Gather's data [5,4] and indices [3], a broadcast
 * Add of [3,4,5] and [5]); the batch scheduler checks them when it batches, as TF Serving's does.
 */
export function validateInputs(signature: Signature, inputs: Record<string, HostTensor>): void {
  checkInputNames(signature, Object.keys(inputs));
  Object.entries(signature.inputs).forEach(([alias, spec], index) => {
    const tensor = inputs[alias] as HostTensor;
    checkTensorHeader(alias, index, spec, tensor.dtype, tensor.shape, signature.enforceShapes !== false);
  });
}

/** The output aliases to return: all of them, or the filter after TF Serving's checks. */
export function resolveOutputAliases(signature: Signature, filter: readonly string[] | undefined): string[] {
  const all = Object.keys(signature.outputs);
  if (!filter || filter.length === 0) return all;
  const seen = new Set<string>();
  for (const alias of filter) {
    if (!(alias in signature.outputs)) {
      throw new InvalidArgument(
        `output tensor alias not found in signature: ${alias} Outputs expected to be in the set ${braces(all)}.`,
      );
    }
    if (seen.has(alias)) throw new InvalidArgument(`duplicate output tensor alias: ${alias}`);
    seen.add(alias);
  }
  return [...filter];
}
