import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostTensor } from '../../../../src/graph/host-tensor.js';
import {
  decodeModelSpec,
  encodedModelSpec,
  encodePredictResponse,
  encodePredictResponseInTurns,
} from '../../../../src/serving/apis/grpc/predict-wire.js';
import { tensorProtoChunks, VIEWED_PAYLOAD_BYTES } from '../../../../src/serving/apis/shared/tensor-wire.js';
import { joinedInTurns } from '../../../../src/serving/request-buffers.js';
import { LOADER_OPTIONS, protobufRoot } from '../../../../src/serving/apis/shared/protos.js';
import type { ModelSpecMsg } from '../../../../src/serving/apis/shared/proto-types.js';
import { turnsWhile } from '../../../helpers/turns.js';

describe("a Predict response's ModelSpec", () => {
  it('is encoded as protobufjs encodes it, whatever spec came before', () => {
    const type = protobufRoot().lookupType('tensorflow.serving.ModelSpec');
    const specs: ModelSpecMsg[] = [
      { name: 'mnist', version: { value: '1' }, signature_name: 'predict_images' },
      { name: 'mnist', version: { value: '1' }, signature_name: 'predict_images' },
      { name: 'mnist', version: { value: '2' }, signature_name: 'predict_images' },
      { name: 'mnist', version: { value: '2' }, signature_name: '' },
      { name: 'mnist', version: { value: '2' } },
      { name: 'mnist', version_label: '' },
      { name: 'mnist' },
      { name: 'mnist', version: null },
      { name: 'iris', version: { value: '2' } },
      { name: 'mnist', version: { value: '1' }, signature_name: 'predict_images' },
    ];
    for (const spec of specs) {
      const expected = type.encode(type.fromObject(spec)).finish();
      assert.deepEqual(Buffer.from(encodedModelSpec(spec)), Buffer.from(expected), JSON.stringify(spec));
    }
  });
});

describe("a request's ModelSpec", () => {
  it('is decoded as protobufjs decodes it, whatever spec came before; the same bytes share one frozen object', () => {
    const type = protobufRoot().lookupType('tensorflow.serving.ModelSpec');
    const encode = (spec: ModelSpecMsg) => Buffer.from(type.encode(type.fromObject(spec)).finish());
    const specs: ModelSpecMsg[] = [
      { name: 'mnist', version: { value: '1' }, signature_name: 'predict_images' },
      { name: 'mnist', version: { value: '1' }, signature_name: 'predict_images' },
      { name: 'mnist', version: { value: '2' }, signature_name: 'predict_images' },
      { name: 'mnist', version_label: 'stable' },
      { name: 'mnist' },
      { name: 'iris', version: { value: '2' } },
    ];
    let previous: { bytes: Buffer; spec: ModelSpecMsg } | undefined;
    for (const spec of specs) {
      // In a larger buffer, as a request's field is.
      const bytes = encode(spec);
      const held = Buffer.concat([Buffer.from([7, 7]), bytes]).subarray(2);
      const decoded = decodeModelSpec(held);
      assert.deepEqual(decoded, type.toObject(type.decode(bytes), LOADER_OPTIONS), JSON.stringify(spec));
      assert.ok(Object.isFrozen(decoded) && (!decoded.version || Object.isFrozen(decoded.version)));
      if (previous) assert.equal(decoded === previous.spec, previous.bytes.equals(bytes), JSON.stringify(spec));
      previous = { bytes, spec: decoded };
      // The request's buffer is reused for the next read: the cache kept a copy of the bytes, not a view of them.
      held.fill(0);
    }
    const again = encode({ name: 'iris', version: { value: '2' } });
    assert.equal(decodeModelSpec(again), previous?.spec);
    assert.deepEqual(decodeModelSpec(encode({ name: 'iris', version: { value: '3' } })).version, { value: '3' });
  });
});

describe('a large Predict reply encoded in turns', () => {
  const spec: ModelSpecMsg = { name: 'm', version: { value: '3' }, signature_name: 'serving_default' };
  const big = (bytes: number, seed: number) => Buffer.from(Array.from({ length: bytes }, (_, i) => (i * seed) % 251));
  const outputs = {
    // Small and large string elements mixed, a large one first and last, and an empty one.
    text: new HostTensor(
      'string',
      [6],
      [
        big(VIEWED_PAYLOAD_BYTES, 3),
        Buffer.from('a'),
        new Uint8Array(0),
        big(3 << 20, 5),
        big(100, 7),
        big(VIEWED_PAYLOAD_BYTES + 1, 11),
      ],
    ),
    floats: new HostTensor(
      'float32',
      [3, 1 << 16],
      Float32Array.from({ length: 3 << 16 }, (_, i) => i / 7),
    ),
    ints: new HostTensor(
      'int32',
      [1 << 16],
      Int32Array.from({ length: 1 << 16 }, (_, i) => i - 1000),
    ),
    small: new HostTensor('float64', [2], Float64Array.from([1.5, -2])),
  };

  for (const tensorContent of [false, true]) {
    it(`gives the bytes encodePredictResponse gives (tensorContent ${tensorContent}), the large payloads as views`, async () => {
      const response = { outputs, model_spec: spec, tensorContent };
      const inTurns = await encodePredictResponseInTurns(response);
      assert.deepEqual(inTurns, encodePredictResponse(response));
      // Sent as it is once encoded.
      assert.equal(encodePredictResponse({ ...response, encoded: inTurns }), inTurns);
      const elements = outputs.text.data as Uint8Array[];
      const viewed = tensorProtoChunks(outputs.text, tensorContent).filter((chunk) => elements.includes(chunk));
      assert.equal(viewed.length, 3, 'the three string elements of 64 KiB or more');
      const floats = outputs.floats.data as Float32Array;
      assert.equal(tensorProtoChunks(outputs.floats, tensorContent)[1]?.buffer, floats.buffer);
    });
  }

  it('copies a slice a turn', async () => {
    const { turns, value: joined } = await turnsWhile(() =>
      joinedInTurns([big(5 << 20, 3), big(10, 5), big(3 << 20, 7)]),
    );
    assert.equal(joined.byteLength, (8 << 20) + 10);
    assert.ok(turns >= 6, `${turns} turns to take and copy 8 MiB`);
  });
});
