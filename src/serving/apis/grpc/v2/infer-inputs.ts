/**
 * From a ModelInferRequest's wire form to the v2 core's request, admitting before allocating. In order:
 *  1. request parameters (at most MAX_ENTRIES), the model version and signature they address (resolveV2Target);
 *  2. the number of inputs against the signature's, and of raw blobs against the inputs, from the counts alone;
 *  3. every input's header: names exactly the signature's (checkV2InputNames), data either all raw or all typed;
 *  4. per input: its data measured on the wire (no allocation per element), its header admitted (datatype, shape,
 *     batch size, --max_input_bytes), the data's size checked against shape × datatype, and only then decoded.
 * Every refusal is INVALID_ARGUMENT naming the input, what was sent and what was expected.
 */
import { setImmediate } from 'node:timers/promises';
import { InvalidArgument } from '../../../../errors.js';
import { dtypeInfo, type DType } from '../../../../graph/dtype.js';
import { boundedElementCount, checkWireShape, STRING_ELEMENT_COST } from '../../../core/request-limits.js';
import type { ServingCore } from '../../../core/types.js';
import {
  chargeV2Input,
  checkV2InputHeader,
  checkV2InputNames,
  requestDeadlineV2,
  resolveV2Target,
  type V2InferRequest,
  type V2InferTarget,
  type V2Input,
} from '../../v2/infer.js';
import {
  checkCount,
  readInputHeader,
  readParameters,
  readRequestedOutputs,
  type InputHeaderWire,
  type ModelInferWire,
} from './infer-request-wire.js';
import { decodeRaw, decodeTyped, measureRaw, measureTyped, type ContentsSource } from './tensor-contents.js';

/** Inputs larger than this are decoded in a turn of the event loop of their own. */
const LARGE_INPUT_BYTES = 1024 * 1024;

export interface DecodedInferRequest {
  request: V2InferRequest;
  target: V2InferTarget;
  /** The inputs came in raw_input_contents (the outputs then go back raw). */
  inputsCameRaw: boolean;
  /** The request's deadline: the call's, or earlier by the `timeout` parameter. */
  deadline?: number;
}

export async function decodeInferRequest(
  core: ServingCore,
  wire: ModelInferWire,
  callDeadline: number | undefined,
): Promise<DecodedInferRequest> {
  const { bytes } = wire;
  const parameters = readParameters(bytes, wire.parameters, 'request');
  const deadline = requestDeadlineV2(parameters, callDeadline);
  const target = resolveV2Target(core, wire.modelName, wire.modelVersion, parameters);
  const expected = Object.keys(target.signature.inputs).length;
  checkCount(wire.inputs, expected, 'inputs', `model '${target.modelName}' (signature '${target.signatureName}')`);
  checkCount(wire.outputs, Object.keys(target.signature.outputs).length, 'requested outputs', 'the signature');
  const raw = wire.rawInputContents.count > 0;
  if (raw && wire.rawInputContents.count !== wire.inputs.count) {
    throw new InvalidArgument(
      `ModelInferRequest has ${wire.rawInputContents.count} raw_input_contents for ${wire.inputs.count} inputs; ` +
        `raw_input_contents[i] holds inputs[i], one each`,
    );
  }
  const headers = wire.inputs.ranges.map((range, i) => readInputHeader(bytes, range, i));
  checkV2InputNames(
    target,
    headers.map((h) => h.name),
  );
  const inputs: V2Input[] = [];
  for (let i = 0; i < headers.length; i++) {
    const header = headers[i] as InputHeaderWire;
    if (raw && header.contents) {
      throw new InvalidArgument(
        `input '${header.name}': contents must not be given when the request uses raw_input_contents`,
      );
    }
    const [start, end] = raw ? (wire.rawInputContents.ranges[i] as [number, number]) : [0, 0];
    const source = raw ? { bytes, start, end } : header.contents;
    if ((source?.end ?? 0) - (source?.start ?? 0) > LARGE_INPUT_BYTES) await setImmediate();
    inputs.push(await admitAndDecode(target, header, source, raw ? `raw_input_contents[${i}]` : undefined));
  }
  return {
    request: {
      modelName: wire.modelName,
      modelVersion: wire.modelVersion,
      ...(wire.id ? { id: wire.id } : {}),
      ...(parameters ? { parameters } : {}),
      inputs,
      outputs: readRequestedOutputs(bytes, wire.outputs),
    },
    target,
    inputsCameRaw: raw,
    ...(deadline === undefined ? {} : { deadline }),
  };
}

/** Step 4 for one input; `rawField` names its raw blob, undefined for typed contents. */
async function admitAndDecode(
  target: V2InferTarget,
  header: InputHeaderWire,
  source: ContentsSource | undefined,
  rawField: string | undefined,
): Promise<V2Input> {
  const where = `input '${header.name}'`;
  checkWireShape(header.shape, where);
  const expected = boundedElementCount(header.shape, Number.MAX_SAFE_INTEGER);
  // Datatype and shape against the signature first: measuring reads the data as that datatype.
  const dtype = checkV2InputHeader(target, header);
  // What the shape alone costs (strings: STRING_ELEMENT_COST each, their bytes not yet known) is admitted before
  // the data is walked, so that walking is bounded by an admissible shape rather than by the message's size.
  const least = expected * (dtype === 'string' ? STRING_ELEMENT_COST : dtypeInfo(dtype).bytesPerElement);
  if (!(least <= target.admission.limits.maxInputBytes)) chargeV2Input(target, header, dtype, 0);
  const measured = rawField
    ? measureRaw(source as ContentsSource, dtype, expected, `${where} (${rawField})`)
    : await measureTyped(source, dtype, header.datatype, expected, where);
  chargeV2Input(target, header, dtype, measured.stringBytes ?? 0);
  if (measured.elements !== expected) {
    throw new InvalidArgument(sizeMismatch(header, dtype, measured.elements, expected, source, rawField));
  }
  const tensor = rawField
    ? await decodeRaw(source as ContentsSource, dtype, header.shape, expected)
    : await decodeTyped(source, dtype, header.shape, expected);
  return { name: header.name, datatype: header.datatype, shape: header.shape, tensor };
}

function sizeMismatch(
  header: InputHeaderWire,
  dtype: DType,
  got: number,
  expected: number,
  source: ContentsSource | undefined,
  rawField: string | undefined,
): string {
  const tensor = `input '${header.name}' (${header.datatype} [${header.shape.join(',')}])`;
  if (rawField && dtype !== 'string') {
    const bytes = (source as ContentsSource).end - (source as ContentsSource).start;
    const needed = expected * dtypeInfo(dtype).bytesPerElement;
    return `${tensor}: ${rawField} holds ${bytes} bytes, expected ${needed}`;
  }
  const what = rawField ? `${rawField} holds` : 'contents hold';
  // Counting stops one past what the shape needs.
  const count = got > expected ? `more than ${expected}` : String(got);
  return `${tensor}: ${what} ${count} elements, expected ${expected}`;
}
