/**
 * What a request hands the model: its inputs as sent, checked against the signature; or, for a signature that
 * parses tf.Examples inside its graph (an imported ParseExample, `parseExamples`), the request's examples parsed
 * on the host into the model's own inputs. Those examples come from Classify/Regress/MultiInference, or from
 * Predict as the serialized tf.Examples in the signature's string input (TF2 exports classify and regress as
 * predict signatures over such a tensor).
 */
import { InvalidArgument } from '../../errors.js';
import { dtypeInfo, tfTypeName, type StringData } from '../../graph/dtype.js';
import type { HostTensor } from '../../graph/host-tensor.js';
import { stringTensorBytes } from '../../graph/string-bytes.js';
import { parseExampleFeeds } from './example-parsing.js';
import { checkExampleCount, formatBytes, STRING_ELEMENT_COST, type RequestLimits } from './request-limits.js';
import { examplesFromSerialized } from './serialized-examples.js';
import { formatShape, validateInputs } from './request-validation.js';
import type { RunRequest, Signature } from './types.js';

export function modelInputs(
  signature: Signature,
  signatureName: string,
  request: Pick<RunRequest, 'inputs' | 'examples'>,
  limits: Pick<RequestLimits, 'maxInputBytes' | 'maxExamples'>,
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
    const serialized = request.inputs[parse.input] as HostTensor;
    if (serialized.rank !== 1) {
      throw new InvalidArgument(
        `Expected serialized to be a vector, got shape: ${formatShape(serialized.shape)} (input '${parse.input}' ` +
          `of signature "${signatureName}" holds serialized tf.Examples)`,
      );
    }
    checkExampleCount(serialized.size, limits.maxExamples);
    const feeds = parseExampleFeeds(parse, examplesFromSerialized(stringTensorBytes(serialized)));
    checkParsedBytes(feeds, limits.maxInputBytes);
    return feeds;
  }
  return request.inputs;
}

/** Parsed examples are priced as decoded request inputs are (request-limits.ts rule 5). */
function checkParsedBytes(feeds: Record<string, HostTensor>, maxInputBytes: number): void {
  let total = 0;
  for (const tensor of new Set(Object.values(feeds))) {
    if (tensor.dtype === 'string') {
      for (const s of tensor.data as StringData) total += STRING_ELEMENT_COST + s.byteLength;
    } else total += tensor.size * dtypeInfo(tensor.dtype).bytesPerElement;
    if (total > maxInputBytes) {
      throw new InvalidArgument(
        `the parsed tf.Examples (${tfTypeName(tensor.dtype)} ${formatShape(tensor.shape)} and before) would take ` +
          `${formatBytes(total)}, more than --max_input_bytes=${maxInputBytes}`,
      );
    }
  }
}
