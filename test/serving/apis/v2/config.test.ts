import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NotFound } from '../../../../src/errors.js';
import { defaultBatchingParameters } from '../../../../src/serving/config/batching-parameters.js';
import { parseModelServerConfig } from '../../../../src/serving/config/model-server-config.js';
import { createServingCore, type ServingCoreImpl } from '../../../../src/serving/core/index.js';
import { modelConfigV2, tritonDataType } from '../../../../src/serving/apis/v2/config.js';
import { affineModel, tempRepo, type TempRepo } from '../../core/model-fixtures.js';

const quiet = () => undefined;

async function serve(repo: TempRepo, batching: boolean, policy = ''): Promise<ServingCoreImpl> {
  const core = await createServingCore({
    modelConfig: parseModelServerConfig(
      `model_config_list { config { name: "affine" base_path: "${repo.basePath('affine')}" model_platform: "tensorflow" ${policy} } }`,
    ),
    fileSystemPollWaitSeconds: 0,
    numWorkers: 2,
    maxNumLoadRetries: 0,
    ...(batching
      ? {
          batching: {
            ...defaultBatchingParameters(),
            maxBatchSize: 16,
            maxExecutionBatchSize: 16,
            batchTimeoutMicros: 2500,
            allowedBatchSizes: [4, 16],
          },
        }
      : {}),
    log: quiet,
  });
  await core.ready();
  return core;
}

describe('model configuration extension', () => {
  let repo: TempRepo;
  before(async () => {
    repo = await tempRepo();
    await repo.addVersion('affine', 1, affineModel(2, 1));
    await repo.addVersion('affine', 2, affineModel(3, 1));
  });
  after(() => repo.remove());

  it('with batching: max_batch_size and dynamic_batching from the batching parameters, dims without the batch dim', async () => {
    const core = await serve(repo, true);
    try {
      const config = modelConfigV2(core, 'affine');
      assert.equal(config.name, 'affine');
      assert.equal(config.platform, 'onnxruntime_onnx');
      assert.equal(config.backend, 'onnxruntime');
      assert.equal(config.max_batch_size, 16);
      assert.deepEqual(config.dynamic_batching, { max_queue_delay_microseconds: 2500, preferred_batch_size: [4, 16] });
      assert.deepEqual(
        config.input.map((i) => [i.name, i.data_type, i.dims]),
        [['x', 'TYPE_FP32', [4]]],
      );
      assert.deepEqual(
        config.output.map((o) => [o.name, o.data_type, o.dims]),
        [['y', 'TYPE_FP32', [4]]],
      );
      assert.deepEqual(config.version_policy, { latest: { num_versions: 1 } });
      assert.deepEqual(config.instance_group, [{ name: 'affine', kind: 'KIND_CPU', count: 2, gpus: [] }]);
      assert.deepEqual(config.model_transaction_policy, { decoupled: false });
    } finally {
      await core.close();
    }
  });

  it('without batching: max_batch_size 0, full dims, no dynamic_batching; the version policy as configured', async () => {
    const core = await serve(repo, false, 'model_version_policy { specific { versions: 1 versions: 2 } }');
    try {
      const config = modelConfigV2(core, 'affine', '1');
      assert.equal(config.max_batch_size, 0);
      assert.equal(config.dynamic_batching, undefined);
      assert.deepEqual(config.input[0]?.dims, [-1, 4]);
      assert.deepEqual(config.version_policy, { specific: { versions: [1, 2] } });
      assert.throws(() => modelConfigV2(core, 'affine', '9'), NotFound);
      assert.throws(() => modelConfigV2(core, 'other'), NotFound);
    } finally {
      await core.close();
    }
  });

  it("names every dtype with model_config.proto's DataType, BYTES as TYPE_STRING", () => {
    assert.equal(tritonDataType('float16'), 'TYPE_FP16');
    assert.equal(tritonDataType('int64'), 'TYPE_INT64');
    assert.equal(tritonDataType('bool'), 'TYPE_BOOL');
    assert.equal(tritonDataType('string'), 'TYPE_STRING');
    assert.equal(tritonDataType('uint16'), 'TYPE_UINT16');
  });
});
