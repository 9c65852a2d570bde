/** Unit tests of the API codecs: TensorProto, tf.Example mapping, REST JSON, float formatting, error mapping. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgument, NotFound } from '../../../src/errors.js';
import { HostTensor } from '../../../src/graph/host-tensor.js';
import { toGrpcStatus } from '../../../src/serving/apis/grpc/status.js';
import { formatFloat } from '../../../src/serving/apis/rest/json-format.js';
import { readJson, type JsonObject } from '../../../src/serving/apis/rest/json-reader.js';
import { decodePredictBody, encodePredictResponse } from '../../../src/serving/apis/rest/json-tensors.js';
import { examplesFromInput, examplesToInputs } from '../../../src/serving/apis/shared/examples.js';
import { targetFromSpec } from '../../../src/serving/apis/shared/model-spec.js';
import {
  decodedBytesHeld,
  decodeTensorProto,
  encodeTensorProto,
} from '../../../src/serving/apis/shared/tensor-proto.js';
import { classifierSignatures } from './fixtures.js';
import { textArray } from '../../helpers/text-elements.js';

const shape = (...dims: number[]) => ({ dim: dims.map((size) => ({ size: String(size) })) });

test('tensor_content is read as little-endian bytes of the whole shape', () => {
  const bytes = Buffer.from(new Float32Array([1.5, -2, 3, 4]).buffer);
  const t = decodeTensorProto({ dtype: 1, tensor_shape: shape(2, 2), tensor_content: bytes }, 'x');
  assert.deepEqual(t.shape, [2, 2]);
  assert.deepEqual(t.toNumbers(), [1.5, -2, 3, 4]);
});

test('tensor_content of the wrong length is a parsing error naming the alias', () => {
  assert.throws(
    () => decodeTensorProto({ dtype: 1, tensor_shape: shape(3), tensor_content: Buffer.alloc(8) }, 'images'),
    (err: unknown) => err instanceof InvalidArgument && /tensor parsing error: images/.test(err.message),
  );
});

test('typed fields broadcast the last value and zero-fill when empty', () => {
  assert.deepEqual(
    decodeTensorProto({ dtype: 1, tensor_shape: shape(2, 2), float_val: [7] }, 'x').toNumbers(),
    [7, 7, 7, 7],
  );
  assert.deepEqual(
    decodeTensorProto({ dtype: 3, tensor_shape: shape(3), int_val: [1, 2] }, 'x').toNumbers(),
    [1, 2, 2],
  );
  assert.deepEqual(decodeTensorProto({ dtype: 9, tensor_shape: shape(2), int64_val: [] }, 'x').toNumbers(), [0, 0]);
  const s = decodeTensorProto({ dtype: 7, tensor_shape: shape(2), string_val: [Buffer.from('hé')] }, 's');
  assert.deepEqual(textArray(s), ['hé', 'hé']);
});

test('encoding uses typed fields by default and tensor_content on request; both decode back', () => {
  const t = HostTensor.from('int64', [[1n, -2n]]);
  const typed = encodeTensorProto(t);
  assert.deepEqual(typed.int64_val, ['1', '-2']);
  assert.deepEqual(decodeTensorProto(typed, 'y').toNumbers(), [1, -2]);
  const f = HostTensor.from('float32', [0.25, 8]);
  const raw = encodeTensorProto(f, { tensorContent: true });
  assert.equal(raw.float_val, undefined);
  assert.deepEqual(decodeTensorProto(raw, 'y').toNumbers(), [0.25, 8]);
});

test('ModelSpec: an empty Int64Value still means version 0; missing name is INVALID_ARGUMENT', () => {
  assert.deepEqual(targetFromSpec({ name: 'm', version: {}, version_choice: 'version' }).selector, {
    name: 'm',
    version: 0,
  });
  assert.deepEqual(targetFromSpec({ name: 'm', version_label: 'canary' }).selector, { name: 'm', label: 'canary' });
  assert.throws(() => targetFromSpec({ name: '' }), /ModelSpec has no name specified/);
  assert.throws(() => targetFromSpec(undefined), /Missing ModelSpec/);
});

test('tf.Examples fill the signature input by feature name; the example wins over the context', () => {
  const sig = classifierSignatures().signatures.serving_default!;
  const examples = examplesFromInput({
    example_list_with_context: {
      context: { features: { feature: { x: { float_list: { value: [9, 9, 9, 9] } } } } },
      examples: [{ features: { feature: { x: { float_list: { value: [1, 2, 3, 4] } } } } }, {}],
    },
  });
  const inputs = examplesToInputs(examples, sig, 'serving_default');
  assert.deepEqual(inputs.inputs?.shape, [2, 4]);
  assert.deepEqual(inputs.inputs?.toNumbers(), [1, 2, 3, 4, 9, 9, 9, 9]);
  assert.throws(() => examplesFromInput({}), /Input is empty/);
  assert.throws(
    () => examplesToInputs([{ x: { kind: 'int64_list', values: [1n, 2n, 3n, 4n] } }], sig, 'serving_default'),
    /Data types don't match/,
  );
});

const parseBody = async (text: string) => (await readJson(Buffer.from(text))) as JsonObject;

test('REST JSON: float literals round as Number() does, in small and large arrays, nested or flat', async () => {
  const literals = [
    '0.12345678901234567',
    '-0.98765432109876543',
    '1.0000000000000002',
    '2.2250738585072011e-308',
    '4.9e-324',
    '-0',
    '123456789012345678901234567890',
    '3.4028235677973366e38',
    '1E-7',
    '7',
  ];
  const expected = literals.map(Number);
  for (const dtype of ['float32', 'float64'] as const) {
    const specs = { x: { name: 'x', dtype, shape: [-1, -1] } };
    const round = (values: number[]) => (dtype === 'float32' ? values.map(Math.fround) : values);
    // One row: read with one JSON.parse; 2,000 rows (past PARSED_ARRAY_MAX_BYTES): read literal by literal.
    for (const rows of [1, 2000]) {
      const body = `{"instances": [${Array.from({ length: rows }, () => `[${literals.join(', ')}]`).join(',')}]}`;
      const decoded = await decodePredictBody(await parseBody(body), specs);
      const values = decoded.inputs.x?.toNumbers() ?? [];
      assert.equal(values.length, rows * literals.length);
      assert.deepEqual(values.slice(-literals.length), round(expected), `${dtype}, ${rows} rows`);
      assert.ok(Object.is(values[literals.indexOf('-0')], -0), `${dtype}: -0 keeps its sign`);
    }
  }
});

test('REST JSON: row and columnar requests, b64 strings, NaN tokens', async () => {
  const specs = { x: { name: 'x', dtype: 'float32' as const, shape: [-1, 2] } };
  const row = await decodePredictBody(await parseBody('{"instances": [[1, NaN], [3, -Infinity]]}'), specs);
  assert.equal(row.format, 'row');
  assert.deepEqual(row.inputs.x?.toNumbers(), [1, NaN, 3, -Infinity]);
  const col = await decodePredictBody(await parseBody('{"inputs": {"x": [[1, 2]]}}'), specs);
  assert.equal(col.format, 'columnar');
  assert.deepEqual(col.inputs.x?.shape, [1, 2]);
  const strings = { s: { name: 's', dtype: 'string' as const, shape: [-1] } };
  const b64 = await decodePredictBody(await parseBody('{"instances": [{"b64": "aGk="}, "yo"]}'), strings);
  assert.deepEqual(textArray(b64.inputs.s), ['hi', 'yo']);
  await assert.rejects(decodePredictBody(await parseBody('{"instances": [[1, 2], [3]]}'), specs), /unexpected size/);
  await assert.rejects(
    decodePredictBody(await parseBody('{"instances": [["a", 2]]}'), specs),
    /not of expected type: float/,
  );
  await assert.rejects(readJson(Buffer.from('')), /The document is empty/);
  await assert.rejects(readJson(Buffer.from('{"a": ')), /JSON Parse error/);
});

test('REST JSON outputs: predictions per instance, outputs as a whole, _bytes as b64', () => {
  const y = HostTensor.from('float32', [[0.1, 3]]);
  assert.equal(encodePredictResponse('row', { y }), '{"predictions": [[0.1, 3.0]]}');
  assert.equal(encodePredictResponse('columnar', { y }), '{"outputs": [[0.1, 3.0]]}');
  const out_bytes = HostTensor.from('string', ['hi']);
  assert.equal(encodePredictResponse('columnar', { out_bytes }), '{"outputs": [{"b64": "aGk="}]}');
  // Elements that are not UTF-8 text have no JSON string: they are written as {"b64": …} under any alias.
  const mixed = new HostTensor('string', [2], [Buffer.from('hi'), Uint8Array.of(0xff, 0x00)]);
  assert.equal(encodePredictResponse('columnar', { mixed }), '{"outputs": ["hi", {"b64": "/wA="}]}');
});

test('floats print as TF Serving does: shortest %g that round-trips, .0 on whole numbers', () => {
  assert.equal(formatFloat(Math.fround(0.1), true), '0.1');
  assert.equal(formatFloat(3, true), '3.0');
  assert.equal(formatFloat(9e6, true), '9e+06');
  assert.equal(formatFloat(Math.fround(0.123456789), true), '0.123456791');
  assert.equal(formatFloat(NaN, true), 'NaN');
});

test('errors map to their gRPC code; long messages are truncated', () => {
  assert.deepEqual(toGrpcStatus(new NotFound('gone')), { code: 5, details: 'gone' });
  assert.equal(toGrpcStatus(new Error('boom')).code, 2);
  const long = toGrpcStatus(new InvalidArgument('x'.repeat(2000)));
  assert.equal(long.details.length, 1024 + '...TRUNCATED'.length);
});

test('decodedBytesHeld: the bytes a numeric TensorProto decodes to, only when the proto holds them all', () => {
  const shape = (...sizes: number[]) => ({ dim: sizes.map((size) => ({ size })) });
  const content = new Uint8Array(24);
  assert.equal(decodedBytesHeld({ dtype: 1, tensor_shape: shape(2, 3), tensor_content: content }, 30), 24);
  // tensor_content of another length than the shape needs: the decode refuses it, nothing is prepared.
  assert.equal(decodedBytesHeld({ dtype: 1, tensor_shape: shape(2, 2), tensor_content: content }, 30), undefined);
  // Packed values: the proto's own bytes must hold every element (not one value repeated over a large shape).
  assert.equal(decodedBytesHeld({ dtype: 1, tensor_shape: shape(1000), float_val: [1] }, 4000), 4000);
  assert.equal(decodedBytesHeld({ dtype: 1, tensor_shape: shape(100_000, 784), float_val: [1] }, 4000), undefined);
  assert.equal(decodedBytesHeld({ dtype: 7, tensor_shape: shape(4), string_val: [] }, 4000), undefined);
  assert.equal(decodedBytesHeld({ dtype: 1, tensor_shape: shape(-1, 4) }, 4000), undefined);
  assert.equal(decodedBytesHeld({ dtype: 1234, tensor_shape: shape(4) }, 4000), undefined);
});
