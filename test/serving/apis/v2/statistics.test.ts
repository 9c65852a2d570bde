import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InvalidArgument, NotFound } from '../../../../src/errors.js';
import { defaultBatchingParameters } from '../../../../src/serving/config/batching-parameters.js';
import { parseModelServerConfig } from '../../../../src/serving/config/model-server-config.js';
import { createServingCore, type ServingCoreImpl } from '../../../../src/serving/core/index.js';
import { inferV2 } from '../../../../src/serving/apis/v2/infer.js';
import { modelStatisticsV2, type V2ModelStatistics } from '../../../../src/serving/apis/v2/statistics.js';
import { affineModel, eventually, rows, tempRepo, type TempRepo } from '../../core/model-fixtures.js';

const quiet = () => undefined;

function configFor(repo: TempRepo): string {
  return `model_config_list { config { name: "affine" base_path: "${repo.basePath('affine')}" model_platform: "tensorflow" } }`;
}

function only(stats: V2ModelStatistics[]): V2ModelStatistics {
  assert.equal(stats.length, 1);
  return stats[0] as V2ModelStatistics;
}

describe('statistics extension without batching', () => {
  let repo: TempRepo;
  let core: ServingCoreImpl;

  before(async () => {
    repo = await tempRepo();
    await repo.addVersion('affine', 1, affineModel(2, 1));
    core = await createServingCore({
      modelConfig: parseModelServerConfig(configFor(repo)),
      fileSystemPollWaitSeconds: 0.05,
      numWorkers: 1,
      maxNumLoadRetries: 0,
      log: quiet,
    });
    await core.ready();
  });

  after(async () => {
    await core.close();
    await repo.remove();
  });

  it('lists a loaded version with every counter perf_analyzer reads at zero before any request', () => {
    const stats = only(modelStatisticsV2(core, 'affine').model_stats);
    assert.equal(stats.name, 'affine');
    assert.equal(stats.version, '1');
    assert.equal(stats.inference_count, 0);
    assert.equal(stats.execution_count, 0);
    assert.equal(stats.last_inference, 0);
    for (const key of [
      'success',
      'fail',
      'queue',
      'compute_input',
      'compute_infer',
      'compute_output',
      'cache_hit',
      'cache_miss',
    ] as const) {
      assert.deepEqual(stats.inference_stats[key], { count: 0, ns: 0 }, key);
    }
    assert.deepEqual(stats.batch_stats, []);
  });

  it('counts five requests (three v1, two v2) as five successes, five items and five batch-1 executions', async () => {
    const startedMs = Date.now();
    for (let i = 0; i < 3; i++) await core.run({ model: { name: 'affine' }, inputs: { x: rows([i, 1, 2, 3]) } });
    for (let i = 0; i < 2; i++) {
      await inferV2(core, {
        modelName: 'affine',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 4], tensor: rows([1, 2, 3, 4], [5, 6, 7, 8]) }],
      });
    }
    const stats = only(modelStatisticsV2(core, 'affine', '1').model_stats);
    const s = stats.inference_stats;
    assert.equal(s.success.count, 5);
    assert.equal(s.fail.count, 0);
    for (const key of ['queue', 'compute_input', 'compute_infer', 'compute_output'] as const) {
      assert.equal(s[key].count, 5, key);
    }
    // Without batching each request is one execution of Triton's batch size 1, whatever its rows.
    assert.equal(stats.inference_count, 5);
    assert.equal(stats.execution_count, 5);
    assert.equal(stats.batch_stats.length, 1);
    assert.equal(stats.batch_stats[0]?.batch_size, 1);
    assert.equal(stats.batch_stats[0]?.compute_infer.count, 5);
    assert.ok(s.compute_infer.ns > 0, 'the ONNX Runtime runs took time');
    // The stages are parts of each request's time in the core.
    const stages = s.queue.ns + s.compute_input.ns + s.compute_infer.ns + s.compute_output.ns;
    assert.ok(stages <= s.success.ns, `stages ${stages} ns within the requests' ${s.success.ns} ns`);
    assert.ok(stats.last_inference >= startedMs && stats.last_inference <= Date.now());
    assert.deepEqual(stats.inference_stats.cache_hit, { count: 0, ns: 0 });
  });

  it('counts a request that fails after its version resolved as a failure, not a success', async () => {
    const before = only(modelStatisticsV2(core, 'affine').model_stats).inference_stats;
    await assert.rejects(core.run({ model: { name: 'affine' }, inputs: { x: rows([1, 2, 3]) } }), InvalidArgument);
    const after = only(modelStatisticsV2(core, 'affine').model_stats).inference_stats;
    assert.equal(after.fail.count, before.fail.count + 1);
    assert.equal(after.success.count, before.success.count);
  });

  it('answers unknown models and versions with NOT_FOUND, and all models without a name', () => {
    assert.throws(() => modelStatisticsV2(core, 'nope'), NotFound);
    assert.throws(() => modelStatisticsV2(core, 'affine', '7'), NotFound);
    assert.deepEqual(
      modelStatisticsV2(core).model_stats.map((m) => [m.name, m.version]),
      [['affine', '1']],
    );
  });

  it('drops the counters of a version once it is unloaded', async () => {
    await core.run({ model: { name: 'affine' }, inputs: { x: rows([1, 2, 3, 4]) } });
    await repo.addVersion('affine', 2, affineModel(3, 0));
    await eventually(() => core.status('affine').some((s) => s.version === 1 && s.state === 'END'));
    assert.deepEqual(
      modelStatisticsV2(core, 'affine').model_stats.map((m) => [m.version, m.inference_count]),
      [['2', 0]],
    );
    assert.equal(core.versionStatistics('affine', 1).inferenceCount, 0);
  });
});

describe('statistics extension with batching', () => {
  let repo: TempRepo;
  let core: ServingCoreImpl;

  before(async () => {
    repo = await tempRepo();
    await repo.addVersion('affine', 1, affineModel(2, 1));
    core = await createServingCore({
      modelConfig: parseModelServerConfig(configFor(repo)),
      fileSystemPollWaitSeconds: 0,
      numWorkers: 1,
      maxNumLoadRetries: 0,
      batching: {
        ...defaultBatchingParameters(),
        maxBatchSize: 8,
        maxExecutionBatchSize: 8,
        batchTimeoutMicros: 50_000,
        numBatchThreads: 1,
      },
      log: quiet,
    });
    await core.ready();
  });

  after(async () => {
    await core.close();
    await repo.remove();
  });

  it('counts items per row and fewer executions than items when requests share batches', async () => {
    const requests = Array.from({ length: 12 }, (_, i) =>
      core.run({ model: { name: 'affine' }, inputs: { x: rows([i, 0, 0, 0]) } }),
    );
    requests.push(core.run({ model: { name: 'affine' }, inputs: { x: rows([1, 1, 1, 1], [2, 2, 2, 2]) } }));
    const results = await Promise.all(requests);
    assert.deepEqual(results[3]?.outputs.y?.toNumbers(), [7, 1, 1, 1]);
    const stats = only(modelStatisticsV2(core, 'affine').model_stats);
    assert.equal(stats.inference_stats.success.count, 13);
    assert.equal(stats.inference_count, 14, '12 one-row requests and one of two rows');
    assert.ok(stats.execution_count < stats.inference_count, `${stats.execution_count} executions`);
    assert.ok(stats.execution_count >= 2, 'at most 8 rows a batch');
    const rowsRun = stats.batch_stats.reduce((n, b) => n + b.batch_size * b.compute_infer.count, 0);
    assert.equal(rowsRun, 14, 'batch_stats account for every row');
    assert.equal(
      stats.batch_stats.reduce((n, b) => n + b.compute_infer.count, 0),
      stats.execution_count,
    );
    for (const b of stats.batch_stats) assert.ok(b.batch_size >= 1 && b.batch_size <= 8, `batch size ${b.batch_size}`);
    assert.ok(stats.inference_stats.queue.ns > 0, 'requests waited for their batch');
  });
});
