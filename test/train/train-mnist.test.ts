import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import ort from 'onnxruntime-node';
import { registerTrainCommand } from '../../src/cli/train.js';
import { AlreadyExists } from '../../src/errors.js';
import { loadMnist, type MnistDataset } from '../../src/data/mnist.js';
import { Graph, withGraph } from '../../src/graph/graph.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { Session } from '../../src/runtime/session.js';
import { MAX_STEPS_PER_EXECUTION } from '../../src/runtime/unrolled-step.js';
import { softmaxRegression } from '../../src/train/models.js';
import { latestCheckpoint, Saver } from '../../src/train/saver.js';
import { discoverGpus, type GpuProbeResult } from '../../src/devices/webgpu.js';
import {
  defaultIntraOpThreads,
  defaultStepsPerExecution,
  trainingDeviceCount,
  trainMnist,
} from '../../src/train/train-mnist.js';

/** Runs `flowserve train …` in this process; `lines` gets what it printed, also when it throws. */
async function runTrainCli(argv: string[], lines: string[]): Promise<void> {
  const log = console.log;
  console.log = (line: string) => lines.push(String(line));
  try {
    const program = new Command().exitOverride();
    registerTrainCommand(program);
    await program.parseAsync(argv, { from: 'user' });
  } finally {
    console.log = log;
  }
}

/**
 * The bytes of a checkpoint's data shards, in name order: one shard per device holding variables (two when the
 * weights are on GPU:0 and global_step on the CPU).
 */
async function checkpointData(checkpointDir: string, prefix: string): Promise<Buffer> {
  const files = (await readdir(checkpointDir)).filter((f) => f.startsWith(prefix)).sort();
  assert.ok(files.length > 0, `no data shard ${prefix}* in ${checkpointDir}`);
  return Buffer.concat(await Promise.all(files.map((f) => readFile(path.join(checkpointDir, f)))));
}

describe('trainMnist', () => {
  let dir: string;
  let data: MnistDataset;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'flowserve-train-'));
    data = loadMnist({ trainLimit: 3000, testLimit: 1000 });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('softmax regression on 3,000 images reaches < 15% error on 1,000 test images within seconds', async () => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const result = await trainMnist({
      model: 'softmax',
      epochs: 5,
      batchSize: 100,
      learningRate: 0.5,
      optimizer: 'sgd',
      seed: 1,
      dataset: data,
      quiet: true,
      checkpointDir: path.join(dir, 'ckpt'),
      exportBase: path.join(dir, 'export'),
      version: 3,
    });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    assert.ok(result.testError < 0.15, `test error ${result.testError}`);
    // The steps' CPU time (what bench:train compares with PyTorch's) is part of what the whole call used.
    assert.ok(
      result.cpuSeconds > 0 && result.cpuSeconds <= (cpu.user + cpu.system) / 1e6,
      `steps' CPU ${result.cpuSeconds}s of the call's ${(cpu.user + cpu.system) / 1e6}s`,
    );
    assert.equal(result.testExamples, 1000);
    assert.equal(result.steps, 150);
    assert.equal(result.history.loss.length, 150);
    assert.ok(seconds < 15, `took ${seconds}s`);
    assert.ok((result.history.loss.at(-1) as number) < (result.history.loss[0] as number));

    // Checkpoint, curves and export are where the result says.
    assert.equal(result.checkpointPath, path.join(dir, 'ckpt', 'model.ckpt-150'));
    assert.equal(await latestCheckpoint(path.join(dir, 'ckpt')), result.checkpointPath);
    assert.match(await readFile(path.join(dir, 'ckpt', 'curves.svg'), 'utf8'), /^<svg/);
    assert.equal(result.exportDir, path.join(dir, 'export', '00000003'));

    // The checkpoint restores into a fresh graph and gives the exported model's outputs.
    const graph = new Graph();
    const model = withGraph(graph, () => softmaxRegression({ graph }));
    const session = new Session(graph, { logger: () => {} });
    await new Saver({ varList: model.variables }).restore(session, result.checkpointPath as string);
    const x = data.test.images.subarray(0, 5 * 784);
    const fromCheckpoint = (await session.run(model.scores, {
      'x:0': new HostTensor('float32', [5, 784], x),
    })) as HostTensor;
    await session.close();
    const exported = await ort.InferenceSession.create(path.join(dir, 'export', '00000003', 'model.onnx'));
    const out = await exported.run({ x: new ort.Tensor('float32', x, [5, 784]) });
    await exported.release();
    const got = (out.y as ort.Tensor).data as Float32Array;
    const want = fromCheckpoint.data as Float32Array;
    want.forEach((v, i) => assert.ok(Math.abs(v - (got[i] as number)) <= 1e-6, `score ${i}: ${v} vs ${got[i]}`));
  });

  it('the same seed reproduces a run to the bit: the MLP, and the CNN (its filter gradients are 3-D convolutions)', async () => {
    // The CNN stays on the CPU, where its filter gradients are one 3-D Conv each (a software GPU would take minutes).
    const models = [
      { model: 'mlp', batchSize: 100, trainLimit: 500, steps: 5 },
      { model: 'cnn', batchSize: 50, trainLimit: 200, steps: 4, deviceCount: { GPU: 0 } },
    ] as const;
    for (const { model, steps, ...options } of models) {
      const run = (seed: number, name: string) =>
        trainMnist({
          model,
          ...options,
          epochs: 1,
          learningRate: 1e-3,
          optimizer: 'adam',
          seed,
          dataset: data,
          testLimit: 200,
          quiet: true,
          checkpointDir: path.join(dir, `${model}-${name}`),
        });
      const [a, b] = [await run(7, 'a'), await run(7, 'b')];
      await run(8, 'c');
      assert.equal(a.history.loss.length, steps);
      assert.deepEqual(b.history.loss, a.history.loss, model);
      assert.deepEqual(b.history.accuracy, a.history.accuracy, model);
      assert.equal(b.testError, a.testError, model);
      const shard = (name: string) => checkpointData(path.join(dir, `${model}-${name}`), `model.ckpt-${steps}.data-`);
      assert.ok((await shard('a')).equals(await shard('b')), `${model}: checkpoints differ for the same seed`);
      assert.ok(!(await shard('a')).equals(await shard('c')), `${model}: checkpoints equal for different seeds`);
    }
  });

  it('the softmax regression trains on one intra-op thread by default, the MLP and the CNN on every core', () => {
    assert.equal(defaultIntraOpThreads('softmax'), 1);
    assert.equal(defaultIntraOpThreads('mlp'), availableParallelism());
    assert.equal(defaultIntraOpThreads('cnn'), availableParallelism());
  });

  it('the softmax regression trains to the same bits on one intra-op thread (the default) and on two', async () => {
    const run = (intraOpNumThreads: number) =>
      trainMnist({
        model: 'softmax',
        epochs: 1,
        batchSize: 100,
        learningRate: 0.5,
        optimizer: 'sgd',
        seed: 3,
        dataset: data,
        testLimit: 500,
        quiet: true,
        deviceCount: { GPU: 0 },
        intraOpNumThreads,
      });
    const one = await run(1);
    const two = await run(2);
    assert.deepEqual(two.history.loss, one.history.loss);
    assert.deepEqual(two.history.accuracy, one.history.accuracy);
    assert.equal(two.testError, one.testError);
  });

  it('several steps per execution train to the same bits as one: losses, accuracies, variables, test error', async () => {
    // 2,350 images: 23 full batches and one of 50. With 10 steps per run the last 4 run one at a time; with 4 the
    // half batch is inside the last unrolled run.
    const run = (model: 'softmax' | 'mlp', name: string, stepsPerExecution: number) =>
      trainMnist({
        model,
        epochs: 1,
        batchSize: 100,
        learningRate: model === 'softmax' ? 0.5 : 1e-3,
        optimizer: model === 'softmax' ? 'sgd' : 'adam',
        seed: 5,
        dataset: data,
        trainLimit: 2350,
        testLimit: 300,
        quiet: true,
        deviceCount: { GPU: 0 },
        stepsPerExecution,
        checkpointDir: path.join(dir, name),
      });
    const shard = async (name: string) => {
      const files = (await readdir(path.join(dir, name))).filter((f) => f.startsWith('model.ckpt-24.data-')).sort();
      assert.ok(files.length > 0, `no data shard in ${name}`);
      return Buffer.concat(await Promise.all(files.map((f) => readFile(path.join(dir, name, f)))));
    };
    for (const [model, k] of [
      ['softmax', 10],
      ['softmax', 4],
      ['mlp', 4],
    ] as const) {
      const one = await run(model, `${model}-k1`, 1);
      const many = await run(model, `${model}-k${k}`, k);
      assert.equal(many.steps, 24);
      assert.deepEqual(many.history.loss, one.history.loss, `${model}, ${k} steps per run: losses`);
      assert.deepEqual(many.history.accuracy, one.history.accuracy, `${model}, ${k} steps per run: accuracies`);
      assert.equal(many.testError, one.testError);
      // Progress saw every step: the epoch summary counts 24 steps and the same mean loss.
      assert.equal(many.history.epochs[0]?.steps, 24);
      assert.equal(many.history.epochs[0]?.loss, one.history.epochs[0]?.loss);
      assert.ok((await shard(`${model}-k${k}`)).equals(await shard(`${model}-k1`)), `${model}: variables differ`);
    }
    await assert.rejects(run('softmax', 'k0', 0), /stepsPerExecution must be an integer from 1 to 100, got 0/);
  });

  it('every model runs several steps per execution by default, within the limit', () => {
    for (const model of ['softmax', 'mlp', 'cnn'] as const) {
      const k = defaultStepsPerExecution(model);
      assert.ok(Number.isSafeInteger(k) && k > 1 && k <= MAX_STEPS_PER_EXECUTION, `${model}: ${k}`);
    }
  });

  it('the CLI refuses an existing export version before loading data, naming --overwrite', async () => {
    const base = path.join(dir, 'existing');
    await mkdir(path.join(base, '00000003'), { recursive: true });
    const lines: string[] = [];
    // A data folder that does not exist: had the data loaded first, the error would be about it.
    const argv = ['train', 'mnist', '--export_base', base, '--version', '3', '--data_dir', path.join(dir, 'none')];
    await assert.rejects(runTrainCli(argv, lines), (err: unknown) => {
      assert.ok(err instanceof AlreadyExists, String(err));
      assert.equal(
        err.message,
        `export version directory ${path.join(base, '00000003')} already exists; pass --overwrite to replace it`,
      );
      return true;
    });
    assert.deepEqual(lines, [], 'nothing is printed before the check');
  });

  it('the CLI takes --steps_per_execution: the same test error as one step per run, 101 refused', async () => {
    const cli = async (k: string) => {
      const lines: string[] = [];
      const limits = ['--epochs', '1', '--train_limit', '1050', '--test_limit', '300', '--seed', '4'];
      const options = ['--steps_per_execution', k, '--device_count', 'GPU=0', '--quiet'];
      await runTrainCli(['train', 'mnist', ...limits, ...options], lines);
      return lines.find((l) => l.startsWith('Test error:'));
    };
    const many = await cli('4');
    assert.match(many ?? '', /^Test error: \d+\.\d\d% \(300 images\)$/);
    assert.equal(many, await cli('1'));
    await assert.rejects(cli('101'), /stepsPerExecution must be an integer from 1 to 100, got 101/);
  });

  it('the CLI trains, prints the test error and the export path', async () => {
    const lines: string[] = [];
    await runTrainCli(
      [
        'train',
        'mnist',
        '--model',
        'softmax',
        '--epochs',
        '1',
        '--train-limit',
        '1000',
        '--test-limit',
        '500',
        '--export-base',
        path.join(dir, 'cli'),
        '--version',
        '2',
        '--device-count',
        'GPU=0',
        '--quiet',
      ],
      lines,
    );
    assert.ok(
      lines.some((l) => /^Test error: \d+\.\d\d% \(500 images\)$/.test(l)),
      lines.join('\n'),
    );
    assert.ok(!lines.some((l) => l.startsWith('Training')), `--quiet printed a header:\n${lines.join('\n')}`);
    assert.ok(lines.includes(`Exported model to ${path.join(dir, 'cli', '00000002')}`), lines.join('\n'));
    // --device-count GPU=0 (ConfigProto.device_count) keeps training on the CPU where a GPU exists.
    assert.ok(lines.includes('Devices: /job:localhost/replica:0/task:0/device:CPU:0'), lines.join('\n'));
    assert.deepEqual((await readdir(path.join(dir, 'cli', '00000002'))).sort(), [
      'model.onnx',
      'signatures.json',
      'variables',
    ]);
  });
  it('trains on the CPU by default when the only GPU is a software adapter, and says why', async () => {
    const adapter = (software: boolean): GpuProbeResult => ({
      available: true,
      reason: 'test',
      source: 'probe',
      ms: 1,
      adapter: {
        name: software ? 'llvmpipe (LLVM 15.0.6, 256 bits)' : 'NVIDIA H200',
        pciBusId: '',
        computeCapability: '',
        driver: '',
        software,
      },
    });
    const probes: Record<string, GpuProbeResult> = {
      none: { available: false, reason: 'no adapter', source: 'probe', ms: 1 },
      hardware: adapter(false),
      software: adapter(true),
    };
    for (const [kind, probe] of Object.entries(probes)) {
      const lines: string[] = [];
      const counts = await trainingDeviceCount(
        undefined,
        (l) => lines.push(l),
        () => Promise.resolve(probe),
      );
      if (kind === 'software') {
        assert.deepEqual(counts, { GPU: 0 });
        assert.match(lines.join('\n'), /GPU:0 is a software adapter \(llvmpipe[^)]*\).*training on the CPU/);
      } else {
        assert.equal(counts, undefined, kind);
        assert.deepEqual(lines, [], kind);
      }
    }
    // An explicit choice wins without a probe: the software adapter trains when asked to.
    const asked = await trainingDeviceCount(
      { GPU: 1 },
      () => assert.fail('logged'),
      () => assert.fail('probed'),
    );
    assert.deepEqual(asked, { GPU: 1 });
  });

  it('the CLI on this machine: a software GPU adapter leaves training on the CPU unless --device_count asks for it', async (t) => {
    const probe = await discoverGpus();
    if (!probe.available || !probe.adapter?.software) {
      t.skip(`no software GPU adapter here (${probe.reason})`);
      return;
    }
    const lines: string[] = [];
    const common = ['mnist', '--model', 'softmax', '--epochs', '1', '--train_limit', '300', '--test_limit', '100'];
    await runTrainCli(['train', ...common], lines);
    assert.ok(
      lines.some((l) => l.startsWith('GPU:0 is a software adapter')),
      lines.join('\n'),
    );
    assert.ok(lines.includes('Devices: /job:localhost/replica:0/task:0/device:CPU:0'), lines.join('\n'));
    const onGpu: string[] = [];
    await runTrainCli(['train', ...common, '--device_count', 'GPU=1', '--quiet'], onGpu);
    assert.ok(!onGpu.some((l) => l.startsWith('GPU:0 is a software adapter')), onGpu.join('\n'));
    assert.ok(
      onGpu.some((l) => l.startsWith('Devices:') && l.includes('GPU:0')),
      onGpu.join('\n'),
    );
  });
});
