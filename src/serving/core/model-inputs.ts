/**
 * What a request hands the model: its inputs as sent, checked against the signature; or, for a signature that
 * parses tf.Examples inside its graph (an imported ParseExample, `parseExamples`), the request's examples parsed
 * on the host into the model's own inputs.
 */
import { InvalidArgument, Unimplemented } from '../../errors.js';
import { dtypeInfo, tfTypeName } from '../../graph/dtype.js';
import type { HostTensor } from '../../graph/host-tensor.js';
import { parseExampleFeeds } from './example-parsing.js';
import { formatBytes, STRING_ELEMENT_COST, type RequestLimits } from './request-limits.js';
import { formatShape, validateInputs } from './request-validation.js';
import type { RunRequest, Signature } from './types.js';

export function modelInputs(
  signature: Signature,
  signatureName: string,
  request: Pick<RunRequest, 'inputs' | 'examples'>,
  limits: Pick<RequestLimits, 'maxInputBytes'>,
): Record<string, HostTensor> {
  const parse = signature.parseExamples;
  if (request.examples) {
    if (!parse) {
      throw new InvalidArgument(`Signature "${signatureName}" does not parse tf.Examples, so it cannot take examples`);
    }
    const feeds = parseExampleFeeds(parse, request.examples);
    checkParsedBytes(feeds, limits.maxInputBytes);
    return feeds;
  }
  validateInputs(signature, request.inputs);
  if (parse) {
    // flowserve's string tensors hold UTF-8 text, so the bytes of a serialized tf.Example do not survive decoding.
    throw new Unimplemented(
      `Signature "${signatureName}" parses serialized tf.Examples from input '${parse.input}' inside its graph; ` +
        `flowserve takes those examples through Classify or Regress (or MultiInference), not as a Predict tensor`,
    );
  }
  return request.inputs;
}

/** Parsed examples are priced as decoded request inputs are (request-limits.ts rule 5). */
function checkParsedBytes(feeds: Record<string, HostTensor>, maxInputBytes: number): void {
  let total = 0;
  for (const tensor of new Set(Object.values(feeds))) {
    if (tensor.dtype === 'string') {
      for (const s of tensor.data as string[]) total += STRING_ELEMENT_COST + Buffer.byteLength(s);
    } else total += tensor.size * dtypeInfo(tensor.dtype).bytesPerElement;
    if (total > maxInputBytes) {
      throw new InvalidArgument(
        `the parsed tf.Examples (${tfTypeName(tensor.dtype)} ${formatShape(tensor.shape)} and before) would take ` +
          `${formatBytes(total)}, more than --max_input_bytes=${maxInputBytes}`,
      );
    }
  }
}
