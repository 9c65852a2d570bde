import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LATENCY_BUCKETS_MICROS,
  ServingMetrics,
  UNKNOWN_MODEL_LABEL,
} from '../../../src/serving/metrics/serving-metrics.js';

describe('ServingMetrics', () => {
  it('request counts are exact whenever they are read, by a scrape or straight from the registry', async () => {
    const metrics = new ServingMetrics();
    metrics.setConfiguredModels(['m']);
    const count = async () => {
      const metric = metrics.registry.getSingleMetric('flowserve_requests_total');
      const values = (await metric?.get())?.values ?? [];
      return values.reduce((sum, v) => sum + v.value, 0);
    };
    for (let i = 0; i < 3; i++)
      metrics.recordRequest({ model: 'm', version: 1, api: 'Predict', status: 'OK', latencySeconds: 0 });
    assert.equal(await count(), 3);
    metrics.recordRequest({ model: 'm', version: 1, api: 'Predict', status: 'OK', latencySeconds: 0 });
    assert.match(
      (await metrics.exposition()).body,
      /^:tensorflow:serving:request_count\{model_name="m",status="OK"\} 4$/m,
    );
    assert.equal(await count(), 4);
  });

  it('exports request counts and latencies under TF Serving names', async () => {
    const metrics = new ServingMetrics();
    metrics.setConfiguredModels(['m']);
    metrics.recordRequest({
      model: 'm',
      version: 2,
      api: 'Predict',
      entrypoint: 'REST',
      status: 'OK',
      latencySeconds: 0.002,
    });
    metrics.recordRequest({ model: 'm', api: 'Predict', status: 'NOT_FOUND', latencySeconds: 0.001 });
    const { body, contentType } = await metrics.exposition();
    assert.match(contentType, /^text\/plain/);
    assert.match(body, /^:tensorflow:serving:request_count\{model_name="m",status="OK"\} 1$/m);
    assert.match(body, /^:tensorflow:serving:request_count\{model_name="m",status="NOT_FOUND"\} 1$/m);
    assert.match(
      body,
      /^flowserve_requests_total\{model_name="m",version="2",API="Predict",entrypoint="REST",protocol="v1",status="OK"\} 1$/m,
    );
    // Only successful requests enter the latency histogram, in microseconds.
    assert.match(
      body,
      /^:tensorflow:serving:request_latency_count\{model_name="m",API="Predict",entrypoint="REST",protocol="v1"\} 1$/m,
    );
    assert.match(
      body,
      /^:tensorflow:serving:request_latency_sum\{model_name="m",API="Predict",entrypoint="REST",protocol="v1"\} 2000$/m,
    );
  });

  it('uses TF Serving latency buckets (10 µs × 1.8^i) and reports version states as numbers', async () => {
    assert.equal(LATENCY_BUCKETS_MICROS.length, 33);
    assert.equal(LATENCY_BUCKETS_MICROS[0], 10);
    assert.equal(LATENCY_BUCKETS_MICROS[2], 32.4);
    const metrics = new ServingMetrics();
    metrics.setVersionState('m', 3, 'AVAILABLE');
    metrics.recordLoad('m', '/models/m/3', true, 0.5);
    metrics.queueDepthCell('m', 3, 'serving_default').depth = 4;
    const body = await metrics.registry.metrics();
    assert.match(body, /^flowserve_model_version_state\{model_name="m",version="3"\} 30$/m);
    assert.match(
      body,
      /^:tensorflow:cc:saved_model:load_attempt_count\{model_path="\/models\/m\/3",status="success"\} 1$/m,
    );
    assert.match(body, /^:tensorflow:cc:saved_model:load_latency\{model_path="\/models\/m\/3"\} 500000$/m);
    assert.match(body, /^flowserve_batch_queue_depth\{model_name="m",version="3",signature="serving_default"\} 4$/m);
  });

  it("reads a batch queue's depth when scraped, and counts batches in series held by their scheduler", async () => {
    const metrics = new ServingMetrics();
    const depth = metrics.queueDepthCell('m', 2, 'serving_default');
    assert.equal(metrics.queueDepthCell('m', 2, 'serving_default'), depth, 'one cell per queue');
    const gauge = /^flowserve_batch_queue_depth\{model_name="m",version="2",signature="serving_default"\} (\d+)$/m;
    assert.equal(gauge.exec(await metrics.registry.metrics())?.[1], '0');
    depth.depth = 7;
    assert.equal(gauge.exec(await metrics.registry.metrics())?.[1], '7');
    const batches = metrics.batchObserver('m', 'batch_threads');
    batches.observe({ inputSize: 11, processedSize: 11, queuingSeconds: 0.0005 });
    batches.observe({ inputSize: 5, processedSize: 8, queuingSeconds: 0.001 });
    batches.observe({ inputSize: 6, processedSize: 8, queuingSeconds: 0.001 });
    const body = await metrics.registry.metrics();
    assert.match(body, /^:tensorflow:serving:batching_session:input_batch_size_count\{model_name="m"\} 3$/m);
    assert.match(body, /^:tensorflow:serving:batching_session:input_batch_size_sum\{model_name="m"\} 22$/m);
    assert.match(body, /^:tensorflow:serving:batching_session:processed_batch_size_sum\{model_name="m"\} 27$/m);
    assert.match(
      body,
      /^:tensorflow:serving:batching_session:padding_size_sum\{model_name="m",execution_batch_size="8"\} 5$/m,
    );
    assert.match(
      body,
      /^:tensorflow:serving:batching_session:padding_size_count\{model_name="m",execution_batch_size="11"\} 1$/m,
    );
    assert.match(
      body,
      /^:tensorflow:serving:batching_session:queuing_latency_sum\{thread_pool_name="batch_threads"\} 2500$/m,
    );
    metrics.forgetVersion('m', 2);
    assert.doesNotMatch(await metrics.registry.metrics(), /^flowserve_batch_queue_depth\{/m);
  });

  it('requests for models that are not configured share one label: 5,000 random names add no series', async () => {
    const metrics = new ServingMetrics();
    metrics.setConfiguredModels(['m']);
    metrics.recordRequest({ model: 'm', version: 1, api: 'Predict', status: 'OK', latencySeconds: 0.001 });
    const before = (await metrics.registry.metrics()).length;
    for (let i = 0; i < 5000; i++) {
      const model = `random-${i}-${Math.random().toString(36).slice(2)}`;
      metrics.recordRequest({ model, version: i, api: 'Predict', status: 'NOT_FOUND', latencySeconds: 0.001 });
    }
    const body = await metrics.registry.metrics();
    assert.doesNotMatch(body, /random-/);
    assert.ok(
      body.includes(`:tensorflow:serving:request_count{model_name="${UNKNOWN_MODEL_LABEL}",status="NOT_FOUND"} 5000`),
    );
    // One new series per metric at most (the unknown label), not one per name.
    assert.ok(body.length - before < 1000, `metrics page grew by ${body.length - before} bytes`);
  });

  it('a version that ends takes its request, queue, state, load and warmup series with it', async () => {
    const metrics = new ServingMetrics();
    metrics.setConfiguredModels(['m']);
    for (let version = 1; version <= 50; version++) {
      metrics.setVersionState('m', version, 'AVAILABLE');
      metrics.queueDepthCell('m', version, 'serving_default').depth = 1;
      metrics.recordRequest({ model: 'm', version, api: 'Predict', status: 'OK', latencySeconds: 0.001 });
      metrics.recordRequest({ model: 'm', version, api: 'Classify', status: 'INVALID_ARGUMENT', latencySeconds: 0 });
      metrics.observeWarmup(`/models/m/${version}`, 'OK', 0.001);
      metrics.recordLoad('m', `/models/m/${version}`, true, 0.5);
      // Another model's version of the same number keeps its series.
      if (version === 1) metrics.recordLoad('other', '/models/other/1', true, 0.5);
      if (version > 1) metrics.forgetVersion('m', version - 1);
    }
    const body = await metrics.registry.metrics();
    assert.equal(body.match(/^flowserve_requests_total\{/gm)?.length, 2);
    assert.equal(body.match(/^flowserve_model_version_state\{/gm)?.length, 1);
    assert.equal(body.match(/^flowserve_batch_queue_depth\{/gm)?.length, 1);
    assert.equal(body.match(/^:tensorflow:cc:saved_model:load_attempt_count\{/gm)?.length, 2);
    assert.match(body, /load_attempt_count\{model_path="\/models\/other\/1",status="success"\} 1/);
    assert.equal(body.match(/^:tensorflow:serving:model_warmup_latency_count\{/gm)?.length, 1);
    assert.match(
      body,
      /^flowserve_requests_total\{model_name="m",version="50",API="Predict",entrypoint="GRPC",protocol="v1",status="OK"\} 1$/m,
    );
    // The model-level counters keep counting across versions.
    assert.match(body, /^:tensorflow:serving:request_count\{model_name="m",status="OK"\} 50$/m);
  });
});
