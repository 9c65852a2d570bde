/**
 * Classify, Regress and MultiInference requests with their `input` (the tf.Examples) left as bytes until the
 * examples have been counted against the limit. A generic decoder builds several objects per example before
 * anything can count them: 38 MB of one-feature examples took 11 s of event loop to decode. Counting walks the
 * wire without decoding; only an admitted Input is decoded (by protobufjs, as before).
 * ClassificationRequest / RegressionRequest: 1 model_spec, 2 input. MultiInferenceRequest: 1 tasks, 2 input.
 * Input: 1 example_list, 2 example_list_with_context; both lists hold their examples in field 1.
 */
import protobuf from 'protobufjs';
import { InvalidArgument } from '../../../errors.js';
import { checkExampleCount } from '../../core/request-limits.js';
import type { InferenceTaskMsg, InputMsg, ModelSpecMsg } from '../shared/proto-types.js';
import { LOADER_OPTIONS, protobufRoot } from '../shared/protos.js';

const WIRE_BYTES = 2;

export interface ExampleRequestWire {
  model_spec?: ModelSpecMsg;
  /** The Input message's bytes; undefined when the request has none. */
  input?: Uint8Array;
}

export interface MultiInferenceRequestWire {
  tasks: InferenceTaskMsg[];
  input?: Uint8Array;
}

const types = new Map<string, protobuf.Type>();

function decodeMessage<T>(name: string, bytes: Uint8Array): T {
  let type = types.get(name);
  if (!type) types.set(name, (type = protobufRoot().lookupType(name)));
  try {
    return type.toObject(type.decode(bytes), LOADER_OPTIONS) as T;
  } catch (err) {
    throw new InvalidArgument(`malformed ${name}: ${(err as Error).message}`);
  }
}

/** Visits the length-delimited occurrences of top-level fields; other wire types are skipped. */
function forEachField(bytes: Uint8Array, visit: (field: number, value: Uint8Array) => void): void {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if ((tag & 7) === WIRE_BYTES) visit(tag >>> 3, reader.bytes());
    else reader.skipType(tag & 7);
  }
}

export function decodeExampleRequest(buffer: Buffer): ExampleRequestWire {
  const request: ExampleRequestWire = {};
  forEachField(buffer, (field, value) => {
    if (field === 1) request.model_spec = decodeMessage<ModelSpecMsg>('tensorflow.serving.ModelSpec', value);
    else if (field === 2) request.input = value;
  });
  return request;
}

export function decodeMultiInferenceRequest(buffer: Buffer): MultiInferenceRequestWire {
  const request: MultiInferenceRequestWire = { tasks: [] };
  forEachField(buffer, (field, value) => {
    if (field === 1) request.tasks.push(decodeMessage<InferenceTaskMsg>('tensorflow.serving.InferenceTask', value));
    else if (field === 2) request.input = value;
  });
  return request;
}

/**
 * Examples in an Input, counted on the wire without slicing them; stops once past `stopAfter`, so a request with
 * millions of examples costs no more than one over the limit.
 */
export function countExamples(input: Uint8Array, stopAfter = Infinity): number {
  let count = 0;
  forEachField(input, (field, list) => {
    if ((field !== 1 && field !== 2) || count > stopAfter) return;
    const reader = protobuf.Reader.create(list);
    while (reader.pos < reader.len && count <= stopAfter) {
      const tag = reader.uint32();
      if (tag >>> 3 === 1) count++;
      reader.skipType(tag & 7);
    }
  });
  return count;
}

/** The request's Input, decoded once its example count is within `maxExamples`. */
export function admitInput(request: ExampleRequestWire | MultiInferenceRequestWire, maxExamples: number): InputMsg {
  if (!request.input) return {};
  let count: number;
  try {
    count = countExamples(request.input, maxExamples);
  } catch (err) {
    throw new InvalidArgument(`malformed Input: ${(err as Error).message}`);
  }
  checkExampleCount(count, maxExamples);
  return decodeMessage<InputMsg>('tensorflow.serving.Input', request.input);
}
