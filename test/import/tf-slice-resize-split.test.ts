/**
 * StridedSlice, ResizeBilinear, ResizeNearestNeighbor, Split and SplitV as TensorFlow graphs hold them (int
 * operands as Const nodes, TF's attr names), each in a one-node TF.js graph model run by TF.js and by flowserve
 * on the same seeded input.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  convertTfjsModel,
  loadTfjsReference,
  maxScaledDiff,
  runConverted,
  runTfjs,
  seededFloats,
} from '../helpers/tfjs-reference.js';

const int = (v: number) => ({ i: String(v) });
const FLOAT = { type: 'DT_FLOAT' };
const INT32 = { type: 'DT_INT32' };

interface NodeCase {
  label: string;
  op: string;
  xShape: number[];
  /** The node's inputs in order: 'x' or an int32 constant. */
  inputs: ('x' | { shape: number[]; values: number[] })[];
  attr: Record<string, unknown>;
  outputs: number;
}

async function writeModel(dir: string, c: NodeCase): Promise<void> {
  const consts = c.inputs.flatMap((inp, i) => (inp === 'x' ? [] : [{ name: `c${i}`, ...inp }]));
  const nodes = [
    {
      name: 'x',
      op: 'Placeholder',
      attr: { dtype: FLOAT, shape: { shape: { dim: c.xShape.map((d) => ({ size: String(d) })) } } },
    },
    ...consts.map((k) => ({
      name: k.name,
      op: 'Const',
      attr: {
        dtype: INT32,
        value: { tensor: { dtype: 'DT_INT32', tensorShape: { dim: k.shape.map((d) => ({ size: String(d) })) } } },
      },
    })),
    {
      name: 'y',
      op: c.op,
      input: c.inputs.map((inp, i) => (inp === 'x' ? 'x' : `c${i}`)),
      attr: { T: FLOAT, ...c.attr },
    },
  ];
  await writeFile(
    join(dir, 'model.json'),
    JSON.stringify({
      format: 'graph-model',
      modelTopology: { node: nodes, versions: { producer: 1 } },
      // Every output of the node is a signature output (an inferred signature has only the sink tensors' :0).
      signature: {
        inputs: {
          x: { name: 'x:0', dtype: 'DT_FLOAT', tensorShape: { dim: c.xShape.map((d) => ({ size: String(d) })) } },
        },
        outputs: Object.fromEntries(
          Array.from({ length: c.outputs }, (_, i) => [`y${i}`, { name: `y:${i}`, dtype: 'DT_FLOAT' }]),
        ),
      },
      weightsManifest: [
        { paths: ['weights.bin'], weights: consts.map((k) => ({ name: k.name, shape: k.shape, dtype: 'int32' })) },
      ],
    }),
  );
  await writeFile(
    join(dir, 'weights.bin'),
    Buffer.concat(consts.map((k) => Buffer.from(new Int32Array(k.values).buffer))),
  );
}

const vec = (values: number[]) => ({ shape: [values.length], values });
const slice = (
  label: string,
  begin: number[],
  end: number[],
  strides: number[],
  masks: Record<string, number>,
): NodeCase => ({
  label: `StridedSlice ${label}`,
  op: 'StridedSlice',
  xShape: [3, 5, 6],
  inputs: ['x', vec(begin), vec(end), vec(strides)],
  attr: { Index: INT32, ...Object.fromEntries(Object.entries(masks).map(([k, v]) => [k, int(v)])) },
  outputs: 1,
});

// TF.js's stridedSlice is wrong on some mask combinations (x[-1:0:-2, :, 1] returns x[2, 0, 0:5]; a new axis
// before a shrunk one reads out of range), so those are checked against NumPy indexing in
// test/ops/strided-slice.test.ts; here, the forms TF.js gets right.
const CASES: NodeCase[] = [
  slice('x[..., ::-2, newaxis]', [0, 0, 0], [0, 0, 0], [1, -2, 1], {
    ellipsis_mask: 1,
    begin_mask: 2,
    end_mask: 2,
    new_axis_mask: 4,
  }),
  slice('x[-100:100, 1:4:2]', [-100, 1], [100, 4], [1, 2], {}),
  slice('x[:, -1]', [0, -1], [0, 0], [1, 1], { begin_mask: 1, end_mask: 1, shrink_axis_mask: 2 }),
];
for (const op of ['ResizeBilinear', 'ResizeNearestNeighbor']) {
  for (const [mode, attr] of [
    ['asymmetric', {}],
    ['align_corners', { align_corners: { b: true } }],
    ['half_pixel_centers', { half_pixel_centers: { b: true } }],
  ] as const) {
    for (const size of [
      [7, 9],
      [2, 3],
    ]) {
      CASES.push({
        label: `${op} ${mode} to ${size.join('x')}`,
        op,
        xShape: [2, 3, 5, 2],
        inputs: ['x', vec(size)],
        attr,
        outputs: 1,
      });
    }
  }
}
CASES.push({
  label: 'Split (axis first) into 3 along -2',
  op: 'Split',
  xShape: [2, 6, 4],
  inputs: [{ shape: [], values: [-2] }, 'x'],
  attr: { num_split: int(3) },
  outputs: 3,
});
CASES.push({
  label: 'SplitV with a -1 size along the last axis',
  op: 'SplitV',
  xShape: [2, 3, 6],
  inputs: ['x', vec([2, -1, 1]), { shape: [], values: [-1] }],
  attr: { num_split: int(3), Tlen: INT32 },
  outputs: 3,
});

describe('StridedSlice, Resize*, Split, SplitV imported from TF graphs, against TF.js', () => {
  const dirs: string[] = [];
  after(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  it("refuses an uneven Split and a SplitV with two -1 sizes, with TensorFlow's messages", async () => {
    const refused = async (c: NodeCase, re: RegExp) => {
      const dir = await mkdtemp(join(tmpdir(), 'flowserve-tfops-'));
      dirs.push(dir);
      await writeModel(dir, c);
      await assert.rejects(convertTfjsModel(join(dir, 'model.json')), re);
    };
    await refused(
      {
        label: '',
        op: 'Split',
        xShape: [2, 5],
        inputs: [{ shape: [], values: [1] }, 'x'],
        attr: { num_split: int(2) },
        outputs: 2,
      },
      /evenly divide the split dimension, but got split_dim 1 \(size = 5\) and num_split 2/,
    );
    await refused(
      {
        label: '',
        op: 'SplitV',
        xShape: [2, 6],
        inputs: ['x', vec([-1, -1, 2]), { shape: [], values: [1] }],
        attr: { num_split: int(3), Tlen: INT32 },
        outputs: 3,
      },
      /There can only be one -1 in the input/,
    );
  });

  for (const c of CASES) {
    it(c.label, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'flowserve-tfops-'));
      dirs.push(dir);
      await writeModel(dir, c);
      const file = join(dir, 'model.json');
      const [reference, converted] = await Promise.all([loadTfjsReference(file), convertTfjsModel(file)]);
      const n = c.xShape.reduce((a, b) => a * b, 1);
      const feed = { name: 'x:0', data: seededFloats(n, 11, -2, 2), shape: c.xShape };
      const names = Array.from({ length: c.outputs }, (_, i) => `y:${i}`);
      const expected = runTfjs(reference, feed, names);
      const actual = await runConverted(converted, feed, names);
      names.forEach((name, i) => {
        const diff = maxScaledDiff(actual[i]?.data as Float32Array, expected[i] as Float32Array);
        assert.ok(diff <= 1e-5, `${name}: max diff ${diff}`);
      });
    });
  }
});
