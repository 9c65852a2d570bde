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
import type { HostTensor } from '../../../../graph/host-tensor.js';
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
  type V2Parameters,
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

/**
 * Decodes and admits a request. Raw inputs that fit in one turn are decoded at once and the result comes back as a
 * value, with no promise per input or per request (the common case, and the one whose cost per request matters);
 * typed contents and larger blobs are decoded over turns, and the result then comes as a promise.
 */
export function decodeInferRequest(
  core: ServingCore,
  wire: ModelInferWire,
  callDeadline: number | undefined,
): DecodedInferRequest | Promise<DecodedInferRequest> {
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
  const headers: InputHeaderWire[] = [];
  for (let i = 0; i < wire.inputs.ranges.length; i++) {
    headers.push(readInputHeader(bytes, wire.inputs.ranges[i] as [number, number], i));
  }
  checkV2InputNames(
    target,
    headers.map((h) => h.name),
  );
  const inputs: V2Input[] = [];
  const done = () => decodedRequest(wire, parameters, inputs, target, raw, deadline);
  for (let i = 0; i < headers.length; i++) {
    const header = headers[i] as InputHeaderWire;
    if (!raw) return decodeFrom(i, target, wire, headers, inputs).then(done);
    refuseContentsBesideRaw(header);
    const [start, end] = wire.rawInputContents.ranges[i] as [number, number];
    if (end - start > LARGE_INPUT_BYTES) return decodeFrom(i, target, wire, headers, inputs).then(done);
    const input = admitAndDecodeRaw(target, header, { bytes, start, end }, i);
    if (input instanceof Promise) {
      return input.then((first) => decodeFrom(i + 1, target, wire, headers, inputs, first)).then(done);
    }
    inputs.push(input);
  }
  return done();
}

/** A request whose inputs come raw may not also give an input typed contents. */
function refuseContentsBesideRaw(header: InputHeaderWire): void {
  if (header.contents) {
    throw new InvalidArgument(
      `input '${header.name}': contents must not be given when the request uses raw_input_contents`,
    );
  }
}

/** The decoded request, once every input is (the requested outputs are read after the inputs, as they always were). */
function decodedRequest(
  wire: ModelInferWire,
  parameters: V2Parameters | undefined,
  inputs: V2Input[],
  target: V2InferTarget,
  raw: boolean,
  deadline: number | undefined,
): DecodedInferRequest {
  return {
    request: {
      modelName: wire.modelName,
      modelVersion: wire.modelVersion,
      ...(wire.id ? { id: wire.id } : {}),
      ...(parameters ? { parameters } : {}),
      inputs,
      outputs: readRequestedOutputs(wire.bytes, wire.outputs),
    },
    target,
    inputsCameRaw: raw,
    ...(deadline === undefined ? {} : { deadline }),
  };
}

/** Inputs `from` on, decoded in turns of their own (typed contents, or a large blob first): appended to `inputs`. */
async function decodeFrom(
  from: number,
  target: V2InferTarget,
  wire: ModelInferWire,
  headers: readonly InputHeaderWire[],
  inputs: V2Input[],
  before?: V2Input,
): Promise<void> {
  if (before) inputs.push(before);
  const raw = wire.rawInputContents.count > 0;
  for (let i = from; i < headers.length; i++) {
    const header = headers[i] as InputHeaderWire;
    if (raw) refuseContentsBesideRaw(header);
    if (raw) {
      const [start, end] = wire.rawInputContents.ranges[i] as [number, number];
      if (end - start > LARGE_INPUT_BYTES) await setImmediate();
      inputs.push(await admitAndDecodeRaw(target, header, { bytes: wire.bytes, start, end }, i));
      continue;
    }
    const source = header.contents;
    if ((source?.end ?? 0) - (source?.start ?? 0) > LARGE_INPUT_BYTES) await setImmediate();
    inputs.push(await admitAndDecodeTyped(target, header, source));
  }
}

/** Step 4's checks before the data is read: shape, datatype, and what the shape alone costs. */
function admitHeader(target: V2InferTarget, header: InputHeaderWire): { dtype: DType; expected: number } {
  const where = `input '${header.name}'`;
  checkWireShape(header.shape, where);
  const expected = boundedElementCount(header.shape, Number.MAX_SAFE_INTEGER);
  // Datatype and shape against the signature first: measuring reads the data as that datatype.
  const dtype = checkV2InputHeader(target, header);
  // What the shape alone costs (strings: STRING_ELEMENT_COST each, their bytes not yet known) is admitted before
  // the data is walked, so that walking is bounded by an admissible shape rather than by the message's size.
  const least = expected * (dtype === 'string' ? STRING_ELEMENT_COST : dtypeInfo(dtype).bytesPerElement);
  if (!(least <= target.admission.limits.maxInputBytes)) chargeV2Input(target, header, dtype, 0);
  return { dtype, expected };
}

/** Step 4 for raw_input_contents[`index`]: a value, or a promise for a blob copied over several turns. */
function admitAndDecodeRaw(
  target: V2InferTarget,
  header: InputHeaderWire,
  source: ContentsSource,
  index: number,
): V2Input | Promise<V2Input> {
  const { dtype, expected } = admitHeader(target, header);
  // Only BYTES blobs can be malformed inside (their element framing); the field's name is spelled out for them.
  const what = dtype === 'string' ? `input '${header.name}' (raw_input_contents[${index}])` : '';
  const measured = measureRaw(source, dtype, expected, what);
  chargeV2Input(target, header, dtype, measured.stringBytes ?? 0);
  if (measured.elements !== expected) {
    const rawField = `raw_input_contents[${index}]`;
    throw new InvalidArgument(sizeMismatch(header, dtype, measured.elements, expected, source, rawField));
  }
  const tensor = decodeRaw(source, dtype, header.shape, expected);
  if (tensor instanceof Promise) return tensor.then((t) => v2Input(header, t));
  return v2Input(header, tensor);
}

/** Step 4 for an input's typed contents. */
async function admitAndDecodeTyped(
  target: V2InferTarget,
  header: InputHeaderWire,
  source: ContentsSource | undefined,
): Promise<V2Input> {
  const { dtype, expected } = admitHeader(target, header);
  const where = `input '${header.name}'`;
  const measured = await measureTyped(source, dtype, header.datatype, expected, where);
  chargeV2Input(target, header, dtype, measured.stringBytes ?? 0);
  if (measured.elements !== expected) {
    throw new InvalidArgument(sizeMismatch(header, dtype, measured.elements, expected, source, undefined));
  }
  return v2Input(header, await decodeTyped(source, dtype, header.shape, expected));
}

function v2Input(header: InputHeaderWire, tensor: HostTensor): V2Input {
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
