import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InvalidArgument } from '../../../src/errors.js';
import {
  describeDeviceLoadFailure,
  executionProvidersFor,
  ModelLoadError,
  servingDeviceName,
  WorkerPool,
} from '../../../src/serving/worker/worker-pool.js';
import { affineModel, rows, tempRepo, type TempRepo } from '../core/model-fixtures.js';

const ORT_NO_ADAPTER =
  '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::' +
  'Initialize(...)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. ' +
  'Failed to get a WebGPU adapter: No supported adapters\n';

describe('serving devices in the worker pool', () => {
  it('maps devices to execution providers and names', () => {
    assert.deepEqual(executionProvidersFor('cpu'), ['cpu']);
    assert.deepEqual(executionProvidersFor('gpu'), ['webgpu']);
    assert.equal(servingDeviceName('gpu'), '/device:GPU:0');
    assert.equal(servingDeviceName('cpu'), '/device:CPU:0');
  });

  it("shortens ONNX Runtime's missing-adapter error", () => {
    assert.equal(
      describeDeviceLoadFailure('gpu', ORT_NO_ADAPTER),
      'no WebGPU adapter (Failed to get a WebGPU adapter: No supported adapters)',
    );
    assert.equal(describeDeviceLoadFailure('gpu', 'protobuf parsing failed'), 'protobuf parsing failed');
    const err = new ModelLoadError('/m/1/model.onnx', 'gpu', 'no WebGPU adapter (x)');
    assert.ok(err instanceof InvalidArgument);
    assert.equal(err.message, 'Could not load ONNX model /m/1/model.onnx on /device:GPU:0: no WebGPU adapter (x)');
  });

  describe('loading', () => {
    let repo: TempRepo;
    let pool: WorkerPool;
    let path: string;

    before(async () => {
      repo = await tempRepo();
      pool = new WorkerPool({ size: 2, intraOpNumThreads: 1 });
      path = join(await repo.addVersion('affine', 1, affineModel(2, 1)), 'model.onnx');
    });

    after(async () => {
      await pool.close();
      await repo.remove();
    });

    it('a cpu model is created with the CPU execution provider', async () => {
      const model = await pool.loadModel(path);
      assert.equal(model.device, 'cpu');
      assert.deepEqual(model.executionProviders, ['cpu']);
      const { y } = await model.run({ x: rows([1, 2, 3, 4]) }, ['y']);
      assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9]);
      await model.unload();
    });

    it('a gpu model is created with the WebGPU execution provider (no adapter: a clear load error)', async () => {
      let model;
      try {
        model = await pool.loadModel(path, { device: 'gpu' });
      } catch (err) {
        // No GPU (this development machine): ONNX Runtime's WebGPU EP found no adapter, which proves it was asked.
        assert.ok(err instanceof ModelLoadError, String(err));
        assert.equal(err.device, 'gpu');
        assert.match(err.reason, /^no WebGPU adapter \(Failed to get a WebGPU adapter: .+\)$/);
        assert.match(err.message, /^Could not load ONNX model .*model\.onnx on \/device:GPU:0: no WebGPU adapter/);
      }
      if (model) {
        // A machine with a WebGPU adapter: the model serves from the GPU.
        assert.deepEqual(model.executionProviders, ['webgpu']);
        const { y } = await model.run({ x: rows([1, 2, 3, 4]) }, ['y']);
        assert.deepEqual(y?.toNumbers(), [3, 5, 7, 9]);
        await model.unload();
      }
      // The pool keeps serving CPU models either way.
      assert.equal(pool.size, 2);
      const cpu = await pool.loadModel(path, { device: 'cpu' });
      const { y } = await cpu.run({ x: rows([0, 0, 0, 0]) }, ['y']);
      assert.deepEqual(y?.toNumbers(), [1, 1, 1, 1]);
      await cpu.unload();
    });
  });
});
