import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LATENCY_BUCKETS_MICROS, ServingMetrics } from '../../../src/serving/metrics/serving-metrics.js';

describe('ServingMetrics', () => {
  it('exports request counts and latencies under TF Serving names', async () => {
    const metrics = new ServingMetrics();
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
      /^flowserve_requests_total\{model_name="m",version="2",API="Predict",entrypoint="REST",status="OK"\} 1$/m,
    );
    // Only successful requests enter the latency histogram, in microseconds.
    assert.match(
      body,
      /^:tensorflow:serving:request_latency_count\{model_name="m",API="Predict",entrypoint="REST"\} 1$/m,
    );
    assert.match(
      body,
      /^:tensorflow:serving:request_latency_sum\{model_name="m",API="Predict",entrypoint="REST"\} 2000$/m,
    );
  });

  it('uses TF Serving latency buckets (10 µs × 1.8^i) and reports version states as numbers', async () => {
    assert.equal(LATENCY_BUCKETS_MICROS.length, 33);
    assert.equal(LATENCY_BUCKETS_MICROS[0], 10);
    assert.equal(LATENCY_BUCKETS_MICROS[2], 32.4);
    const metrics = new ServingMetrics();
    metrics.setVersionState('m', 3, 'AVAILABLE');
    metrics.recordLoad('m', '/models/m/3', true, 0.5);
    metrics.setQueueDepth('m', 3, 'serving_default', 4);
    const body = await metrics.registry.metrics();
    assert.match(body, /^flowserve_model_version_state\{model_name="m",version="3"\} 30$/m);
    assert.match(
      body,
      /^:tensorflow:cc:saved_model:load_attempt_count\{model_path="\/models\/m\/3",status="success"\} 1$/m,
    );
    assert.match(body, /^:tensorflow:cc:saved_model:load_latency\{model_path="\/models\/m\/3"\} 500000$/m);
    assert.match(body, /^flowserve_batch_queue_depth\{model_name="m",version="3",signature="serving_default"\} 4$/m);
  });
});
