import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgument } from '../../src/errors.js';
import { Graph, withGraph, type Tensor } from '../../src/graph/graph.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { constant } from '../../src/ops/convert.js';
import { add, matmul } from '../../src/ops/math.js';
import { placeholder } from '../../src/ops/source.js';
import { Variable } from '../../src/ops/variables.js';
import { Session } from '../../src/runtime/session.js';
import { cpu, fakeGpu, useFakeGpus } from './fake-gpu.js';

useFakeGpus(1);

const CPU0 = '/job:localhost/replica:0/task:0/device:CPU:0';
const CPU1 = '/job:localhost/replica:0/task:0/device:CPU:1';
const GPU0 = '/job:localhost/replica:0/task:0/device:GPU:0';

/** Reference matmul in float64 JS loops. */
function refMatmul(a: number[][], b: number[][]): number[][] {
  return a.map((row) => (b[0] as number[]).map((_, j) => row.reduce((s, v, k) => s + v * (b[k] as number[])[j]!, 0)));
}

function randomMatrix(rows: number, cols: number, seed: number): number[][] {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  return Array.from({ length: rows }, () => Array.from({ length: cols }, next));
}

function close(actual: unknown, expected: number[][], tol = 1e-5): void {
  const a = actual as number[][];
  assert.equal(a.length, expected.length);
  a.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - expected[i]![j]!) <= tol, `[${i}][${j}] ${v}`)));
}

describe('Session placement', () => {
  it('logs the device mapping and TF-format lines, and returns the placement', async () => {
    const g = new Graph();
    const c = withGraph(g, () =>
      matmul(
        constant([1, 2, 3, 4, 5, 6], { shape: [2, 3], name: 'a' }),
        constant([1, 2, 3, 4, 5, 6], { shape: [3, 2], name: 'b' }),
      ),
    );
    const lines: string[] = [];
    const sess = new Session(g, { logDevicePlacement: true, logger: (l) => lines.push(l) });
    const out = await sess.run(c);
    assert.deepEqual(out?.toArray(), [
      [22, 28],
      [49, 64],
    ]);
    assert.deepEqual(lines, [
      'Device mapping:',
      `${GPU0} -> device: 0, name: Fake GPU, pci bus id: 0000:00:00.0, compute capability: 9.0`,
      `MatMul: (MatMul): ${GPU0}`,
      `a: (Const): ${GPU0}`,
      `b: (Const): ${GPU0}`,
    ]);
    assert.deepEqual(
      [...sess.placement()].map(([op, d]) => `${op.name}@${d.name}`),
      [`a@${GPU0}`, `b@${GPU0}`, `MatMul@${GPU0}`],
    );
    await sess.close();
  });

  it('a CPU-only machine prints "Device mapping: no known devices."', async () => {
    const g = new Graph();
    const c = withGraph(g, () => add(constant(1, { name: 'x' }), constant(2, { name: 'y' })));
    const lines: string[] = [];
    const sess = new Session(g, { logDevicePlacement: true, deviceCount: { GPU: 0 }, logger: (l) => lines.push(l) });
    assert.equal((await sess.run(c))?.toArray(), 3);
    assert.deepEqual(lines, [
      'Device mapping: no known devices.',
      `Add: (Add): ${CPU0}`,
      `x: (Const): ${CPU0}`,
      `y: (Const): ${CPU0}`,
    ]);
    await sess.close();
  });

  it('soft placement: the fallback line goes to the session logger; without it, the error surfaces at run', async () => {
    const g = new Graph();
    const c = withGraph(g, () => {
      const a = constant([[1, 2]], { name: 'a' });
      const b = constant([[3], [4]], { name: 'b' });
      return g.device('/gpu:1', () => matmul(a, b));
    });
    const lines: string[] = [];
    const soft = new Session(g, { allowSoftPlacement: true, logger: (l) => lines.push(l) });
    assert.deepEqual((await soft.run(c))?.toArray(), [[11]]);
    assert.deepEqual(lines, [`Soft placement: op 'MatMul' requested /device:GPU:1, placed on ${GPU0}`]);
    await soft.close();
    const hard = new Session(g, { logger: () => {} });
    await assert.rejects(
      hard.run(c),
      (e: unknown) =>
        e instanceof InvalidArgument &&
        e.message.startsWith(
          'Cannot assign a device for operation MatMul: node MatMul was explicitly assigned to /device:GPU:1',
        ),
    );
    await hard.close();
  });

  it('a graph split over CPU:0 and CPU:1 gives the same numbers, shows the transfer and hits the cache', async () => {
    const A = randomMatrix(4, 5, 1);
    const B = randomMatrix(5, 3, 2);
    const C = randomMatrix(4, 3, 3);
    const build = (g: Graph, split: boolean): { x: Tensor; y: Tensor } =>
      withGraph(g, () => {
        const x = placeholder('float64', { shape: [4, 5], name: 'x' });
        const b = constant(B, { dtype: 'float64', name: 'B' });
        const c = constant(C, { dtype: 'float64', name: 'C' });
        const p = g.device(split ? '/cpu:0' : '', () => matmul(x, b, { name: 'p' }));
        const y = g.device(split ? '/cpu:1' : '', () => add(p, c, { name: 'y' }));
        return { x, y };
      });
    const expected = refMatmul(A, B).map((row, i) => row.map((v, j) => v + C[i]![j]!));

    const g1 = new Graph();
    const one = build(g1, false);
    const s1 = new Session(g1, { deviceCount: { GPU: 0 }, logger: () => {} });
    const r1 = await s1.run(one.y, new Map([[one.x, HostTensor.from('float64', A)]]));
    close(r1?.toArray(), expected, 1e-12);
    assert.equal(s1.lastRunMetadata?.transfers.length, 0);

    const g2 = new Graph();
    const two = build(g2, true);
    const s2 = new Session(g2, { deviceCount: { CPU: 2, GPU: 0 }, logger: () => {} });
    const feeds = new Map([[two.x, HostTensor.from('float64', A)]]);
    const r2 = await s2.run(two.y, feeds);
    assert.deepEqual(r2?.toArray(), r1?.toArray());
    const meta = s2.lastRunMetadata;
    assert.equal(meta?.cacheHit, false);
    assert.deepEqual(
      meta?.transfers.map((t) => [t.tensor, t.from, t.to, t.bytes]),
      [['p:0', CPU0, CPU1, 4 * 3 * 8]],
    );
    assert.deepEqual(new Set(meta?.partitions.map((p) => p.device)), new Set([CPU0, CPU1]));
    const r3 = await s2.run(two.y, feeds);
    assert.equal(s2.lastRunMetadata?.cacheHit, true);
    assert.deepEqual(r3?.toArray(), r1?.toArray());
    await s1.close();
    await s2.close();
  });

  it('runs GPU and CPU partitions in one step (fake GPU on the CPU EP), variables colocated', async () => {
    const g = new Graph();
    const { v, y, init } = withGraph(g, () => {
      const v = g.device('/cpu:0', () => new Variable(constant([1, 2], { dtype: 'float32' }), { name: 'v' }));
      const y = add(v.value, constant([10, 20], { dtype: 'float32' }), { name: 'y' });
      return { v, y, init: v.initializer };
    });
    const sess = new Session(g, { devices: [cpu(0), fakeGpu(0)], logger: () => {} });
    await sess.run(init);
    assert.deepEqual((await sess.run(y))?.toArray(), [11, 22]);
    const placement = sess.placement();
    assert.equal(placement.get(v.op)?.name, CPU0);
    assert.equal(placement.get(y.op)?.name, GPU0);
    assert.deepEqual(
      sess.lastRunMetadata?.transfers.map((t) => [t.tensor, t.to]),
      [['v/read:0', GPU0]],
    );
    await sess.close();
  });
});
