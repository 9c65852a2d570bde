import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Graph, withGraph } from '../../src/graph/graph.js';
import { HostTensor } from '../../src/graph/host-tensor.js';
import { constant } from '../../src/ops/convert.js';
import { matmul } from '../../src/ops/math.js';
import { globalVariablesInitializer, Variable } from '../../src/ops/variables.js';
import { Session } from '../../src/runtime/session.js';
import { latestCheckpoint, readIndex, Saver } from '../../src/train/saver.js';

const quiet = { logger: () => {}, deviceCount: { CPU: 2 } };

/** A graph with W on /cpu:0 and b (int32) on /cpu:1, plus y = x·W. */
function buildModel(
  init: { w: number[]; b: number[] },
  options: { wShape?: number[]; bDType?: 'int32' | 'float32' } = {},
) {
  const graph = new Graph();
  return withGraph(graph, () => {
    const W = graph.device(
      '/cpu:0',
      () => new Variable(constant(init.w, { shape: options.wShape ?? [2, 3], dtype: 'float32' }), { name: 'W' }),
    );
    const b = graph.device(
      '/cpu:1',
      () => new Variable(constant(init.b, { shape: [3], dtype: options.bDType ?? 'int32' }), { name: 'b' }),
    );
    const rows = (options.wShape ?? [2, 3])[0] as number;
    const x = constant(
      Array.from({ length: rows }, (_, i) => 0.1 - 0.8 * i),
      { shape: [1, rows], dtype: 'float32' },
    );
    const y = matmul(x, W.value);
    return { graph, W, b, y, init: globalVariablesInitializer(graph) };
  });
}

describe('Saver', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'flowserve-saver-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function savedCheckpoint(name: string, step = 7) {
    const m = buildModel({ w: [0.25, -1.5, 3e-8, 1 / 3, 7, -0.125], b: [1, -2, 2147483647] });
    const sess = new Session(m.graph, quiet);
    await sess.run(m.init);
    const ckpt = await new Saver({ sharded: true }).save(sess, path.join(dir, name, 'model.ckpt'), {
      globalStep: step,
    });
    const y = (await sess.run(m.y)) as HostTensor;
    await sess.close();
    return { ckpt, y };
  }

  it('writes one shard per device, an index and the checkpoint file; restore reproduces outputs exactly', async () => {
    const { ckpt, y } = await savedCheckpoint('roundtrip');
    assert.equal(ckpt, path.join(dir, 'roundtrip', 'model.ckpt-7'));
    const files = (await readdir(path.join(dir, 'roundtrip'))).sort();
    assert.deepEqual(files, [
      'checkpoint',
      'model.ckpt-7.data-00000-of-00002',
      'model.ckpt-7.data-00001-of-00002',
      'model.ckpt-7.index',
    ]);
    const state = await readFile(path.join(dir, 'roundtrip', 'checkpoint'), 'utf8');
    assert.equal(state, 'model_checkpoint_path: "model.ckpt-7"\nall_model_checkpoint_paths: "model.ckpt-7"\n');
    const index = await readIndex(ckpt);
    assert.deepEqual(index.variables.W?.shape, [2, 3]);
    assert.equal(index.variables.b?.dtype, 'int32');
    assert.notEqual(index.variables.W?.shard, index.variables.b?.shard);

    const fresh = buildModel({ w: [0, 0, 0, 0, 0, 0], b: [0, 0, 0] });
    const sess = new Session(fresh.graph, quiet);
    await new Saver().restore(sess, ckpt);
    const w = await sess.readVariable(fresh.W);
    assert.deepEqual(
      Array.from(w.data as Float32Array),
      Array.from(Float32Array.from([0.25, -1.5, 3e-8, 1 / 3, 7, -0.125])),
    );
    assert.deepEqual((await sess.readVariable(fresh.b)).toNumbers(), [1, -2, 2147483647]);
    const y2 = (await sess.run(fresh.y)) as HostTensor;
    assert.deepEqual(Array.from(y2.data as Float32Array), Array.from(y.data as Float32Array));
    await sess.close();
  });

  it('keeps only the last maxToKeep checkpoints and latestCheckpoint names the newest', async () => {
    const m = buildModel({ w: [1, 2, 3, 4, 5, 6], b: [1, 2, 3] });
    const sess = new Session(m.graph, quiet);
    await sess.run(m.init);
    const saver = new Saver({ maxToKeep: 2 });
    const prefix = path.join(dir, 'keep', 'model.ckpt');
    for (const step of [10, 20, 30, 40]) await saver.save(sess, prefix, { globalStep: step });
    await sess.close();
    const indexes = (await readdir(path.join(dir, 'keep'))).filter((f) => f.endsWith('.index')).sort();
    assert.deepEqual(indexes, ['model.ckpt-30.index', 'model.ckpt-40.index']);
    const data = (await readdir(path.join(dir, 'keep'))).filter((f) => f.includes('.data-'));
    assert.equal(data.length, 4);
    assert.ok(data.every((f) => f.startsWith('model.ckpt-30') || f.startsWith('model.ckpt-40')));
    const state = await readFile(path.join(dir, 'keep', 'checkpoint'), 'utf8');
    assert.match(state, /^model_checkpoint_path: "model.ckpt-40"\n/);
    assert.match(state, /all_model_checkpoint_paths: "model.ckpt-30"\nall_model_checkpoint_paths: "model.ckpt-40"\n$/);
    assert.equal(await latestCheckpoint(path.join(dir, 'keep')), path.join(dir, 'keep', 'model.ckpt-40'));
    assert.equal(await latestCheckpoint(path.join(dir, 'nothing-here')), null);
  });

  it('a truncated shard is an error naming the variable and the file', async () => {
    const { ckpt } = await savedCheckpoint('truncated');
    const index = await readIndex(ckpt);
    const shard = path.join(dir, 'truncated', index.shards[index.variables.W?.shard ?? 0]?.file ?? '');
    await truncate(shard, 10);
    const fresh = buildModel({ w: [0, 0, 0, 0, 0, 0], b: [0, 0, 0] });
    const sess = new Session(fresh.graph, quiet);
    await assert.rejects(new Saver().restore(sess, ckpt), (err: Error) => {
      assert.equal(err.name, 'DataLoss');
      assert.match(err.message, /'W'/);
      assert.ok(err.message.includes(shard), err.message);
      assert.match(err.message, /truncated/);
      return true;
    });
    assert.equal(sess.isInitialized(fresh.b), false, 'a failed restore writes nothing');
    await sess.close();
  });

  it('a checksum mismatch is an error naming the variable and the file', async () => {
    const { ckpt } = await savedCheckpoint('corrupt');
    const index = await readIndex(ckpt);
    const entry = index.variables.b;
    assert.ok(entry);
    const shard = path.join(dir, 'corrupt', index.shards[entry.shard]?.file ?? '');
    const bytes = await readFile(shard);
    bytes[entry.offset + 1] = (bytes[entry.offset + 1] as number) ^ 0x40;
    await writeFile(shard, bytes);
    const fresh = buildModel({ w: [0, 0, 0, 0, 0, 0], b: [0, 0, 0] });
    const sess = new Session(fresh.graph, quiet);
    await assert.rejects(new Saver().restore(sess, ckpt), (err: Error) => {
      assert.equal(err.name, 'DataLoss');
      assert.match(err.message, /'b'.*checksum mismatch/);
      assert.ok(err.message.includes(shard), err.message);
      return true;
    });
    await sess.close();
  });

  it('a variable missing from the checkpoint is an error naming it and the index file', async () => {
    const { ckpt } = await savedCheckpoint('missing');
    const fresh = buildModel({ w: [0, 0, 0, 0, 0, 0], b: [0, 0, 0] });
    withGraph(fresh.graph, () => new Variable(constant([1], { dtype: 'float32' }), { name: 'extra' }));
    const sess = new Session(fresh.graph, quiet);
    await assert.rejects(new Saver().restore(sess, ckpt), (err: Error) => {
      assert.equal(err.name, 'NotFound');
      assert.match(err.message, /Key extra not found/);
      assert.ok(err.message.includes(`${ckpt}.index`), err.message);
      return true;
    });
    await sess.close();
  });

  it('a dtype or shape mismatch is an error naming the variable and the file', async () => {
    const { ckpt } = await savedCheckpoint('mismatch');
    const wrongDType = buildModel({ w: [0, 0, 0, 0, 0, 0], b: [0, 0, 0] }, { bDType: 'float32' });
    const sess1 = new Session(wrongDType.graph, quiet);
    await assert.rejects(new Saver().restore(sess1, ckpt), (err: Error) => {
      assert.equal(err.name, 'InvalidArgument');
      assert.match(err.message, /'b'.*int32.*float32/);
      assert.ok(err.message.includes(`${ckpt}.index`), err.message);
      return true;
    });
    await sess1.close();
    const wrongShape = buildModel({ w: [0, 0, 0, 0, 0, 0], b: [0, 0, 0] }, { wShape: [3, 2] });
    const sess2 = new Session(wrongShape.graph, quiet);
    await assert.rejects(new Saver().restore(sess2, ckpt), (err: Error) => {
      assert.equal(err.name, 'InvalidArgument');
      assert.match(err.message, /'W'.*shape \[2, 3\].*shape \[3, 2\]/);
      assert.ok(err.message.includes(`${ckpt}.index`), err.message);
      return true;
    });
    await sess2.close();
  });
});
