import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from '../../src/index.js';

const quiet = { logger: () => {} };

function chapterGraph() {
  const g = new fs.Graph();
  const c = fs.withGraph(g, () => {
    const a = fs.constant([1, 2, 3, 4, 5, 6], { shape: [2, 3], name: 'a' });
    const b = fs.constant([1, 2, 3, 4, 5, 6], { shape: [3, 2], name: 'b' });
    return fs.matmul(a, b);
  });
  return { g, c };
}

/** Whether some cached partition runs a model with its variables baked in (waits for a freeze in progress). */
async function hasFrozenStep(sess: fs.Session): Promise<boolean> {
  type Step = { frozen?: unknown; freezing?: Promise<void> };
  const cache = (sess as unknown as { cache: Map<string, Promise<{ steps: Step[] }>> }).cache;
  for (const executable of cache.values()) {
    for (const step of (await executable).steps) {
      await step.freezing;
      if (step.frozen) return true;
    }
  }
  return false;
}

describe('Session', () => {
  it("runs the chapter's matmul and prints the placement like TensorFlow", async () => {
    const { g, c } = chapterGraph();
    const lines: string[] = [];
    // CPU behaviour (device_count {GPU: 0}); test/gpu/placement.test.ts has the same example with a GPU.
    const sess = new fs.Session(g, { logDevicePlacement: true, deviceCount: { GPU: 0 }, logger: (l) => lines.push(l) });
    const out = await sess.run(c);
    assert.deepEqual(out?.toArray(), [
      [22, 28],
      [49, 64],
    ]);
    assert.deepEqual(lines, [
      'Device mapping: no known devices.',
      'MatMul: (MatMul): /job:localhost/replica:0/task:0/device:CPU:0',
      'a: (Const): /job:localhost/replica:0/task:0/device:CPU:0',
      'b: (Const): /job:localhost/replica:0/task:0/device:CPU:0',
    ]);
    await sess.close();
  });

  it('returns fetches in the structure they were given', async () => {
    const { g, c } = chapterGraph();
    const sess = new fs.Session(g, quiet);
    const a = g.tensor('a:0');
    const [ra, rc] = await sess.run([a, c]);
    assert.deepEqual(ra?.shape, [2, 3]);
    assert.deepEqual(rc?.shape, [2, 2]);
    const rec = await sess.run({ product: c });
    assert.deepEqual(rec.product?.toNumbers(), [22, 28, 49, 64]);
    await sess.close();
  });

  it('checks feeds against the placeholder dtype and shape, naming the tensor', async () => {
    const g = new fs.Graph();
    const [x, y] = fs.withGraph(g, () => {
      const x = fs.placeholder('float32', { shape: [-1, 2], name: 'x' });
      return [x, fs.add(x, 1)] as const;
    });
    const sess = new fs.Session(g, quiet);
    await assert.rejects(sess.run(y), /You must feed a value for placeholder tensor 'x'/);
    await assert.rejects(
      sess.run(y, { 'x:0': [1, 2] }),
      /Cannot feed value of shape \[2\] for Tensor 'x:0', which has shape \[\?,2\]/,
    );
    await assert.rejects(
      sess.run(y, new Map([[x, fs.HostTensor.from('float64', [[1, 2]])]])),
      /Cannot feed value of dtype float64 for Tensor 'x:0', which has dtype float32/,
    );
    await assert.rejects(sess.run(y, { 'z:0': [[1, 2]] }), /'z:0'/);
    const out = await sess.run(y, {
      'x:0': [
        [1, 2],
        [3, 4],
      ],
    });
    assert.deepEqual(out?.toNumbers(), [2, 3, 4, 5]);
    await sess.close();
  });

  it('lets any tensor be fed, replacing what computes it', async () => {
    const { g, c } = chapterGraph();
    const sess = new fs.Session(g, quiet);
    const out = await sess.run(c, {
      'a:0': [
        [1, 0, 0],
        [0, 1, 0],
      ],
    });
    assert.deepEqual(out?.toNumbers(), [1, 2, 3, 4]);
    await sess.close();
  });

  it('keeps variable values across runs and errors on an uninitialised read', async () => {
    const g = new fs.Graph();
    const { v, bump } = fs.withGraph(g, () => {
      const v = new fs.Variable([1, 2], { name: 'counter' });
      const bump = v.assignAdd(fs.constant([10, 10]));
      return { v, bump };
    });
    const sess = new fs.Session(g, quiet);
    await assert.rejects(sess.run(v.value), /Attempting to use uninitialized value counter/);
    await sess.run(fs.globalVariablesInitializer(g));
    assert.deepEqual((await sess.run(v.value))?.toNumbers(), [1, 2]);
    await sess.run(bump);
    await sess.run(bump);
    assert.deepEqual((await sess.run(v.value))?.toNumbers(), [21, 22]);
    assert.deepEqual((await sess.readVariable(v)).toNumbers(), [21, 22]);
    await sess.close();
  });

  it('sees a variable update after its readers ran often enough to bake the value in', async () => {
    const g = new fs.Graph();
    const { v, y, set } = fs.withGraph(g, () => {
      const v = new fs.Variable([[1, 2]], { name: 'w' });
      const x = fs.placeholder('float32', { shape: [-1, 1], name: 'x' });
      const y = fs.matmul(x, v.value);
      const set = v.assign(fs.constant([[5, 7]]));
      return { v, x, y, set };
    });
    // On the CPU: baking in needs the value on the host, and a GPU variable stays in device memory.
    const sess = new fs.Session(g, { ...quiet, deviceCount: { GPU: 0 } });
    await sess.run(fs.globalVariablesInitializer(g));
    // Enough identical runs for the read-only partition to switch to a model with w baked in.
    for (let i = 0; i < 10; i++) assert.deepEqual((await sess.run(y, { 'x:0': [[2]] }))?.toNumbers(), [2, 4]);
    assert.ok(await hasFrozenStep(sess), 'the read-only partition should now run with w baked in');
    assert.deepEqual((await sess.run(y, { 'x:0': [[2]] }))?.toNumbers(), [2, 4]);
    await sess.run(set);
    assert.deepEqual((await sess.run(y, { 'x:0': [[2]] }))?.toNumbers(), [10, 14]);
    sess.writeVariable(v, fs.HostTensor.from('float32', [[1, 1]]));
    assert.deepEqual((await sess.run(y, { 'x:0': [[3]] }))?.toNumbers(), [3, 3]);
    await sess.close();
  });

  it('hits the executable cache on the second run with the same signature', async () => {
    const { g, c } = chapterGraph();
    const sess = new fs.Session(g, quiet);
    await sess.run(c);
    assert.equal(sess.lastRunMetadata?.cacheHit, false);
    await sess.run(c);
    assert.equal(sess.lastRunMetadata?.cacheHit, true);
    await sess.close();
  });

  it('runs alternating signatures (feeds, fetches, targets) each with its own executable', async () => {
    const g = new fs.Graph();
    const [x, y, doubled, tripled] = fs.withGraph(g, () => {
      const x = fs.placeholder('float32', { shape: [null], name: 'x' });
      const y = fs.placeholder('float32', { shape: [null], name: 'y' });
      return [x, y, fs.mul(x, fs.constant(2)), fs.mul(y, fs.constant(3))] as const;
    });
    const sess = new fs.Session(g, quiet);
    const both = new Map<fs.Tensor, number[]>([
      [x, [1, 2]],
      [y, [3]],
    ]);
    for (let i = 0; i < 3; i++) {
      // Same fetch, other feeds; other fetch, same feeds; both fetches in either order: never the last call's key.
      assert.deepEqual((await sess.run(doubled, { 'x:0': [i] })).toNumbers(), [2 * i]);
      assert.deepEqual((await sess.run(doubled, both)).toNumbers(), [2, 4]);
      assert.deepEqual((await sess.run(tripled, both)).toNumbers(), [9]);
      const [d, t] = await sess.run([doubled, tripled], both);
      const [t2, d2] = await sess.run([tripled, doubled], both);
      assert.deepEqual([d?.toNumbers(), t?.toNumbers(), t2?.toNumbers(), d2?.toNumbers()], [[2, 4], [9], [9], [2, 4]]);
    }
    assert.equal(sess.lastRunMetadata?.cacheHit, true);
    await assert.rejects(sess.run(tripled, { 'x:0': [1] }), /must feed a value for placeholder tensor 'y'/);
    await sess.close();
  });

  it('lowers a 2-D matmul without transposes to an ONNX MatMul, which ONNX Runtime fuses with its bias Add', async () => {
    const g = new fs.Graph();
    const [x, z] = fs.withGraph(g, () => {
      const x = fs.placeholder('float32', { shape: [null, 3], name: 'x' });
      const w = fs.constant([1, 2, 3, 4, 5, 6], { shape: [3, 2] });
      return [x, fs.add(fs.matmul(x, w), fs.constant([10, 20]))] as const;
    });
    const sess = new fs.Session(g, quiet);
    assert.deepEqual((await sess.run(z, new Map([[x, [[1, 1, 1]]]]))).toNumbers(), [19, 32]);
    type Step = { lowered: { model: Uint8Array } };
    const cache = (sess as unknown as { cache: Map<string, Promise<{ steps: Step[] }>> }).cache;
    const [executable] = [...cache.values()];
    const model = Buffer.from(((await executable)?.steps[0] as Step).lowered.model).toString('latin1');
    assert.ok(model.includes('MatMul') && !model.includes('Gemm'), 'the lowered partition holds a MatMul, no Gemm');
    await sess.close();
  });

  it('splits a graph over two devices with the same numbers and an explicit transfer', async () => {
    const build = (split: boolean) => {
      const g = new fs.Graph();
      const y = fs.withGraph(g, () => {
        const a = fs.constant([1, 2, 3, 4], { shape: [2, 2], name: 'a' });
        const h = g.device(split ? '/cpu:1' : '/cpu:0', () => fs.matmul(a, a, { name: 'h' }));
        return g.device('/cpu:0', () => fs.add(fs.matmul(h, a, { name: 'out' }), h));
      });
      return { g, y };
    };
    const one = build(false);
    const two = build(true);
    // Two logical CPUs and no GPU: with a GPU, the unpinned Const `a` would go to GPU:0 and add transfers.
    const s1 = new fs.Session(one.g, { ...quiet, deviceCount: { CPU: 2, GPU: 0 } });
    const s2 = new fs.Session(two.g, { ...quiet, deviceCount: { CPU: 2, GPU: 0 } });
    const r1 = await s1.run(one.y);
    const r2 = await s2.run(two.y);
    // Reference: a = [[1,2],[3,4]]; h = a·a = [[7,10],[15,22]]; h·a + h.
    assert.deepEqual(r2?.toNumbers(), [44, 64, 96, 140]);
    assert.deepEqual(r1?.toNumbers(), r2?.toNumbers());
    assert.equal(s1.lastRunMetadata?.transfers.length, 0);
    const transfers = s2.lastRunMetadata?.transfers ?? [];
    assert.ok(
      transfers.some((t) => t.tensor === 'h:0' && t.from.endsWith('CPU:1') && t.to.endsWith('CPU:0') && t.bytes === 16),
    );
    assert.equal(new Set(s2.lastRunMetadata?.partitions.map((p) => p.device)).size, 2);
    await s1.close();
    await s2.close();
  });

  it('puts a constant into the partition that uses it, not into a stage of its own', async () => {
    const g = new fs.Graph();
    const y = fs.withGraph(g, () => {
      const x = fs.constant([1, 2, 3, 4], { shape: [2, 2], name: 'x' });
      const a = g.device('/cpu:0', () => fs.matmul(x, x, { name: 'a' }));
      const b = g.device('/cpu:1', () => fs.relu(a, { name: 'b' }));
      // `late` is used only after the CPU:1 step: it belongs to CPU:0's stage-2 partition.
      return g.device('/cpu:0', () => fs.add(b, fs.constant([1, 1], { name: 'late' }), { name: 'y' }));
    });
    const sess = new fs.Session(g, { ...quiet, deviceCount: { CPU: 2, GPU: 0 } });
    try {
      assert.deepEqual((await sess.run(y)).toNumbers(), [8, 11, 16, 23]);
      assert.deepEqual(sess.lastRunMetadata?.partitions, [
        { device: '/job:localhost/replica:0/task:0/device:CPU:0', stage: 0, ops: ['x', 'a'] },
        { device: '/job:localhost/replica:0/task:0/device:CPU:1', stage: 1, ops: ['b'] },
        { device: '/job:localhost/replica:0/task:0/device:CPU:0', stage: 2, ops: ['late', 'y'] },
      ]);
    } finally {
      await sess.close();
    }
  });

  it('makes a callable that builds its executable up front and runs it with positional feeds', async () => {
    const g = new fs.Graph();
    const { x, y, v, bump } = fs.withGraph(g, () => {
      const x = fs.placeholder('float32', { shape: [null, 2], name: 'x' });
      const v = new fs.Variable([10, 20], { name: 'acc' });
      return { x, y: fs.add(x, v.value), v, bump: v.assignAdd(fs.constant([1, 1])) };
    });
    const sess = new fs.Session(g, quiet);
    await sess.run(fs.globalVariablesInitializer(g));
    const call = await sess.makeCallable([y, bump.op], [x]);
    // Built by makeCallable: run() with the same signature finds it in the cache on its first call.
    const [first] = await sess.run([y, bump.op], { 'x:0': [[0, 0]] });
    assert.equal(sess.lastRunMetadata?.cacheHit, true);
    assert.deepEqual(first?.toNumbers(), [10, 20]);
    const [sum, none] = await call([[1, 2]]);
    assert.deepEqual(sum?.toNumbers(), [12, 23]);
    assert.equal(none, null);
    assert.deepEqual((await call(fs.HostTensor.from('float32', [[0, 0]])))[0]?.toNumbers(), [12, 22]);
    assert.deepEqual((await sess.readVariable(v)).toNumbers(), [13, 23]);
    const one = await sess.makeCallable(y, ['x:0']);
    assert.deepEqual((await one([[0, 0]])).toNumbers(), [13, 23]);
    await assert.rejects(call([1, 2]), /Cannot feed value of shape \[2\] for Tensor 'x:0', which has shape \[\?,2\]/);
    await assert.rejects(call(), /The callable takes 1 feed value\(s\) \(x:0\), got 0/);
    await assert.rejects(sess.makeCallable(y, [x, 'x:0']), /Tensor 'x:0' is in the feed list twice/);
    await assert.rejects(sess.makeCallable(y), /You must feed a value for placeholder tensor 'x'/);
    await sess.close();
    await assert.rejects(one([[0, 0]]), /closed Session/);
  });

  it('refuses to run after close', async () => {
    const { g, c } = chapterGraph();
    const sess = new fs.Session(g, quiet);
    await sess.close();
    await assert.rejects(sess.run(c), /closed Session/);
  });

  it('reports every error as a rejected promise, never a throw from run itself', async () => {
    const { g, c } = chapterGraph();
    const sess = new fs.Session(g, quiet);
    const other = fs.withGraph(new fs.Graph(), () => fs.constant([1], { name: 'elsewhere' }));
    const calls = [
      () => sess.run(other),
      () => sess.run(c, { 'nothing:0': [1] }),
      () => sess.run(c, new Map([[other, fs.HostTensor.from('float32', [1])]])),
      () => sess.run([c], undefined, [null as unknown as fs.Operation]),
    ];
    for (const call of calls) {
      let pending: Promise<unknown> | undefined;
      assert.doesNotThrow(() => (pending = call()));
      await assert.rejects(pending as Promise<unknown>, fs.FlowserveError);
    }
    await sess.close();
    await assert.rejects(sess.run(c), /closed Session/);
  });

  it("reads the caller's feed Map when run is called: changing it afterwards changes nothing", async () => {
    const g = new fs.Graph();
    const [x, y] = fs.withGraph(g, () => {
      const x = fs.placeholder('float32', { shape: [-1, 2], name: 'x' });
      return [x, fs.mul(x, 10)] as const;
    });
    const sess = new fs.Session(g, quiet);
    try {
      const feeds = new Map([[x, fs.HostTensor.from('float32', [[1, 2]])]]);
      // The first run builds its executable before it computes; the second finds it cached.
      for (const cacheHit of [false, true]) {
        const pending = sess.run(y, feeds);
        feeds.set(x, fs.HostTensor.from('float32', [[7, 7]]));
        assert.deepEqual((await pending).toNumbers(), [10, 20]);
        assert.equal(sess.lastRunMetadata?.cacheHit, cacheHit);
        feeds.set(x, fs.HostTensor.from('float32', [[1, 2]]));
      }
    } finally {
      await sess.close();
    }
  });

  it('gives a fed tensor back when it is fetched, alone or with what it computes', async () => {
    const g = new fs.Graph();
    const [x, y] = fs.withGraph(g, () => {
      const x = fs.placeholder('float32', { shape: [2], name: 'x' });
      return [x, fs.add(x, 1)] as const;
    });
    const sess = new fs.Session(g, quiet);
    try {
      const fed = fs.HostTensor.from('float32', [3, 4]);
      for (let i = 0; i < 2; i++) {
        assert.equal(await sess.run(x, new Map([[x, fed]])), fed);
        const [gotX, gotY] = await sess.run([x, y], new Map([[x, fed]]));
        assert.equal(gotX, fed);
        assert.deepEqual(gotY?.toNumbers(), [4, 5]);
      }
    } finally {
      await sess.close();
    }
  });
});
