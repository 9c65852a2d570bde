import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeModelSpec, encodedModelSpec } from '../../../../src/serving/apis/grpc/predict-wire.js';
import { LOADER_OPTIONS, protobufRoot } from '../../../../src/serving/apis/shared/protos.js';
import type { ModelSpecMsg } from '../../../../src/serving/apis/shared/proto-types.js';

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
