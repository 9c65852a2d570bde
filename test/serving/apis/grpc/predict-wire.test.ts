import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodedModelSpec } from '../../../../src/serving/apis/grpc/predict-wire.js';
import type { ModelSpecMsg } from '../../../../src/serving/apis/shared/proto-types.js';
import { protobufRoot } from '../../../../src/serving/apis/shared/protos.js';

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
