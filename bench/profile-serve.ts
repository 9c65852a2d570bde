/**
 * Serves the bench's softmax model in this process for --seconds, then exits cleanly, so that `node --cpu-prof` writes
 * a profile of the main thread and of each inference worker while a load generator (h2load, wrk) drives the ports it
 * prints. docs/performance.md ("Serving") says how it was used.
 *
 *   node --cpu-prof --cpu-prof-dir=DIR dist/bench/profile-serve.js [--seconds 20] [--grpc-port 8500] [--rest-port 8501] [--workers-only]
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostTensor } from '../src/graph/host-tensor.js';
import { OnnxGraphBuilder } from '../src/onnx/builder.js';
import { startServer } from '../src/serving/server.js';
import { defaultModelConfig } from '../src/serving/config/model-server-config.js';

const PIXELS = 784;
const CLASSES = 10;

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** The bench's model: y = softmax(x·W + b), signature predict_images (images → scores). */
function writeServable(base: string): void {
  const g = new OnnxGraphBuilder('mnist_softmax');
  g.input({ name: 'x', dtype: 'float32', shape: ['batch', PIXELS] });
  const w = g.constant(
    new HostTensor('float32', [PIXELS, CLASSES], new Float32Array(PIXELS * CLASSES).fill(0.01)),
    'W',
  );
  const b = g.constant(new HostTensor('float32', [CLASSES], new Float32Array(CLASSES)), 'b');
  g.op('Softmax', [g.op('Add', [g.op('MatMul', ['x', w]), b])], { axis: -1 }, 'y');
  g.output({ name: 'y', dtype: 'float32', shape: ['batch', CLASSES] });
  const version = join(base, '1');
  mkdirSync(version, { recursive: true });
  writeFileSync(join(version, 'model.onnx'), g.build());
  const tensor = (shape: number[], name: string) => ({ name, dtype: 'float32' as const, shape });
  writeFileSync(
    join(version, 'signatures.json'),
    JSON.stringify({
      format: 'flowserve.signatures/1',
      default: 'predict_images',
      signatures: {
        predict_images: {
          method: 'tensorflow/serving/predict',
          inputs: { images: tensor([-1, PIXELS], 'x') },
          outputs: { scores: tensor([-1, CLASSES], 'y') },
        },
      },
    }),
  );
}

const base = mkdtempSync(join(tmpdir(), 'flowserve-profile-serve-'));
writeServable(join(base, 'mnist-tmp'));
renameSync(join(base, 'mnist-tmp'), join(base, 'mnist'));
const server = await startServer({
  modelConfig: {
    models: [defaultModelConfig('mnist', join(base, 'mnist'))],
  },
  fileSystemPollWaitSeconds: 0,
  grpcPort: flag('--grpc-port', 8500),
  restPort: flag('--rest-port', 8501),
  host: '127.0.0.1',
  callingThreadRuns: !process.argv.includes('--workers-only'),
  log: () => {},
});
console.log(`serving on gRPC ${server.grpcPort}, REST ${server.restPort ?? '-'}`);
await new Promise((resolve) => setTimeout(resolve, flag('--seconds', 20) * 1000));
await server.close();
rmSync(base, { recursive: true, force: true });
process.exit(0);
