/**
 * Keeps activations channels-first (NCHW) between convolutions, on a built ONNX graph.
 *
 * The lowering speaks TensorFlow's NHWC: each Conv, depthwise Conv and pool is wrapped in
 * Transpose(NHWC→NCHW) … Transpose(NCHW→NHWC), and the BiasAdd, activation and residual Add between two
 * convolutions run on NHWC tensors. ONNX Runtime's optimizer does not move those elementwise ops across the
 * Transposes (measured on the emotion model, docs/performance.md#imported-models): its NCHWc convolutions then
 * reorder their input and output on every layer and cannot fuse the bias, activation or residual sum, which
 * cost about 40 % of the run.
 *
 * This pass gives every NHWC value that is a Transpose(NCHW→NHWC) of an NCHW value, and every value computed from
 * such values by a layout-free op, an NCHW twin: elementwise ops are repeated on the NCHW inputs (constants
 * transposed to match), Pad and Concat with their axes permuted, and a Transpose(NHWC→NCHW) of a value with a twin
 * becomes the twin. Nodes whose outputs nothing reads any more are then removed, so what stays NHWC is only what a
 * layout-dependent op (Reshape, a reduction) or a graph output needs. Values and results are unchanged: each twin
 * computes exactly the transposed tensor of its original.
 */
import onnxProto from 'onnx-proto';
import { initializerLookup } from './initializer-lookup.js';
import { declareEqualResidualShapes } from './equal-shapes.js';
import { widenByConcat, type ChannelPad } from './widening-add.js';

const { onnx } = onnxProto;
type GraphProto = InstanceType<typeof onnx.GraphProto>;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];

/** Ops that compute each element from the same element of their inputs (numpy broadcasting), in ONNX opset 17. */
const UNARY = new Set([
  'Identity',
  'Relu',
  'LeakyRelu',
  'Elu',
  'Selu',
  'Sigmoid',
  'HardSigmoid',
  'Tanh',
  'Softplus',
  'Neg',
  'Abs',
  'Exp',
  'Log',
  'Sqrt',
  'Reciprocal',
  'Erf',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Not',
  'Cast',
]);
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Min', 'Max', 'Pow', 'PRelu', 'Equal', 'Greater', 'Less']);
/** Ops whose inputs past the first are scalars (bounds), so only the first input changes layout. */
const FIRST_INPUT_ONLY = new Set(['Clip']);

/** Reductions whose axes are an attribute in opset 17. */
const REDUCE = new Set(['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL2', 'ReduceLogSumExp']);

/** The NHWC axis `a` of a rank-4 value is axis NHWC_AXIS_IN_NCHW[a] of its NCHW twin. */
const NHWC_AXIS_IN_NCHW = [0, 2, 3, 1];

function perm(node: NodeProto): readonly number[] | undefined {
  const p = node.attribute?.find((a) => a.name === 'perm');
  return p?.ints?.map(Number);
}

function samePerm(a: readonly number[] | undefined, b: readonly number[]): boolean {
  return a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);
}

function intAttr(node: NodeProto, name: string): number | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  return a ? Number(a.i) : undefined;
}

/** Element size of a raw-data tensor's type (the types a constant operand of an elementwise op has). */
const BYTES: Readonly<Record<number, number>> = { 1: 4, 2: 1, 3: 1, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 16: 2 };

/**
 * An NHWC-broadcastable constant (rank ≤ 4, numpy broadcasting against a rank-4 NHWC value) as the NCHW constant
 * that broadcasts the same way against the NCHW twin; undefined when its data is not raw bytes.
 */
function toChannelsFirst(t: TensorProto, name: string): TensorProto | undefined {
  const rank = t.dims?.length ?? 0;
  const size = BYTES[t.dataType ?? 0];
  if (rank > 4 || !size || !t.rawData || t.rawData.length === 0) return undefined;
  if (rank === 0) return undefined;
  const dims = [...Array<number>(4 - rank).fill(1), ...(t.dims ?? []).map(Number)];
  const [n, h, w, c] = dims as [number, number, number, number];
  const src = t.rawData;
  const out = new Uint8Array(src.length);
  // dst[n, c, h, w] = src[n, h, w, c]
  for (let i0 = 0; i0 < n; i0++) {
    for (let i3 = 0; i3 < c; i3++) {
      for (let i1 = 0; i1 < h; i1++) {
        for (let i2 = 0; i2 < w; i2++) {
          const from = (((i0 * h + i1) * w + i2) * c + i3) * size;
          const to = (((i0 * c + i3) * h + i1) * w + i2) * size;
          out.set(src.subarray(from, from + size), to);
        }
      }
    }
  }
  return onnx.TensorProto.create({ name, dataType: t.dataType, dims: [n, c, h, w], rawData: out });
}

export function keepChannelsFirst(graph: GraphProto): void {
  const initializers = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const producer = new Map<string, NodeProto>();
  for (const node of graph.node) for (const out of node.output ?? []) producer.set(out, node);
  /** The initializer a value is, looking through Identity (frozen variables are Identity(initializer)). */
  const constant = initializerLookup(initializers, producer);
  const graphOutputs = new Set(graph.output.map((o) => o.name ?? ''));
  /** NHWC value → its NCHW twin. */
  const twin = new Map<string, string>();
  /** Uses of a value that now read another (a Transpose(NHWC→NCHW) of a value that has a twin reads the twin). */
  const alias = new Map<string, string>();
  const converted = new Map<string, string>();
  /** NHWC values that are the Transpose of their twin already. */
  const transposedBack = new Set<string>();
  /** Nodes that read NCHW values as they should: twins, rewritten reductions, transposes that became aliases. */
  const settled = new Set<NodeProto>();
  /** Channel Pads written as a Conv, by the Conv's output. */
  const channelPads = new Map<string, ChannelPad>();
  let counter = 0;
  const fresh = (hint: string) => `${hint}__nchw${counter++}`;
  /** The NCHW operand for an NHWC operand: its twin, a scalar as is, or a transposed constant. */
  const operand = (name: string): string | undefined => {
    if (name === '') return undefined;
    const t = twin.get(name);
    if (t) return t;
    const c = constant(name);
    if (!c) return undefined;
    const dims = c.dims ?? [];
    if (dims.length > 4) return undefined;
    if (dims.every((d) => Number(d) === 1)) return name;
    let done = converted.get(name);
    if (!done) {
      const nchw = toChannelsFirst(c, fresh(name));
      if (!nchw) return undefined;
      graph.initializer.push(nchw);
      done = nchw.name as string;
      converted.set(name, done);
    }
    return done;
  };

  const nodes: NodeProto[] = [];
  for (const node of graph.node) {
    const input = (node.input = (node.input ?? []).map((i) => alias.get(i) ?? i));
    const output = node.output ?? [];
    const opType = node.opType ?? '';
    nodes.push(node);
    const [x] = input as [string];
    const [y] = output as [string];
    const p = opType === 'Transpose' ? perm(node) : undefined;
    if (samePerm(p, NCHW_TO_NHWC)) {
      twin.set(y, x);
      transposedBack.add(y);
      continue;
    }
    if (samePerm(p, NHWC_TO_NCHW) && twin.has(x)) {
      if (!graphOutputs.has(y)) {
        alias.set(y, twin.get(x) as string);
        settled.add(node);
      }
      continue;
    }
    if (output.length !== 1) continue;
    let inputs: (string | undefined)[] | undefined;
    let attribute = node.attribute ?? [];
    if (UNARY.has(opType) || FIRST_INPUT_ONLY.has(opType)) {
      if (twin.has(x)) inputs = [twin.get(x), ...input.slice(1)];
    } else if (BINARY.has(opType) && input.some((i) => twin.has(i))) {
      inputs = input.map(operand);
    } else if (opType === 'Pad' && twin.has(x)) {
      const pads = constant(input[1] as string);
      if (pads && pads.dataType === 7 && pads.rawData?.length === 64) {
        const v = new BigInt64Array(pads.rawData.slice().buffer);
        const permuted = [0, 3, 1, 2, 4, 7, 5, 6].map((i) => Number(v[i]));
        const asConv = channelPadAsConv(node, twin.get(x) as string, permuted, graph, producer, constant, fresh);
        if (asConv) {
          channelPads.set(asConv.output?.[0] as string, {
            input: twin.get(x) as string,
            channels: Number(graph.initializer.find((t) => t.name === asConv.input?.[1])?.dims?.[1]),
            before: permuted[1] as number,
            after: permuted[5] as number,
          });
          nodes.push(asConv);
          producer.set(asConv.output?.[0] as string, asConv);
          settled.add(node);
          settled.add(asConv);
          twin.set(y, asConv.output?.[0] as string);
          continue;
        }
        const padsName = fresh('pads');
        graph.initializer.push(
          onnx.TensorProto.create({
            name: padsName,
            dataType: 7,
            dims: [8],
            rawData: new Uint8Array(new BigInt64Array(permuted.map(BigInt)).buffer),
          }),
        );
        inputs = [twin.get(x), padsName, ...input.slice(2)];
      }
    } else if (opType === 'Concat' && input.every((i) => twin.has(i))) {
      const axis = intAttr(node, 'axis') ?? 0;
      inputs = input.map((i) => twin.get(i));
      attribute = attribute.map((a) =>
        a.name === 'axis' ? onnx.AttributeProto.create({ ...a, i: NHWC_AXIS_IN_NCHW[(axis + 4) % 4] }) : a,
      );
    }
    if (REDUCE.has(opType) && twin.has(x) && intAttr(node, 'keepdims') === 0) {
      if (reduceChannelsFirst(node, twin.get(x) as string)) settled.add(node);
      continue;
    }
    if (!inputs || inputs.some((i) => i === undefined)) continue;
    const out = fresh(y);
    settled.add(node);
    nodes.push(
      onnx.NodeProto.create({
        opType,
        domain: node.domain,
        input: inputs as string[],
        output: [out],
        name: `${node.name}_nchw`,
        attribute,
      }),
    );
    twin.set(y, out);
    // Later passes over twins (a channel Pad's channel count) look up what computed them.
    producer.set(out, nodes[nodes.length - 1] as NodeProto);
    settled.add(nodes[nodes.length - 1] as NodeProto);
  }
  declareTransposedRanks(graph);
  const live = withoutDeadNodes(nhwcWhereNeeded(nodes, twin, transposedBack, settled, graphOutputs), [...graphOutputs]);
  // The widening Adds are rewritten on live nodes only: a value read by one live node is read once.
  graph.node = withoutDeadNodes(
    widenByConcat(graph, live, channelPads, graphOutputs, (w) => convOutputChannels(w, producer, constant)),
    [...graphOutputs],
  );
  const read = new Set([...graph.node.flatMap((n) => n.input ?? []), ...graphOutputs]);
  graph.initializer = graph.initializer.filter((t) => read.has(t.name ?? ''));
  declareEqualResidualShapes(graph);
}

/**
 * The output channel count of a Conv's float32 weights: an initializer, or a Transpose or a Reshape (to constant
 * dims) of values computed from initializers, as the lowering writes TensorFlow's HWIO filters and PRelu's slopes.
 */
function convOutputChannels(
  w: string,
  producer: ReadonlyMap<string, NodeProto>,
  constant: (name: string) => TensorProto | undefined,
): number | undefined {
  const direct = constant(w);
  if (direct) return direct.dataType === 1 && direct.dims?.length === 4 ? Number(direct.dims[0]) : undefined;
  const node = producer.get(w);
  if (node?.opType === 'Transpose') {
    const source = constant(node.input?.[0] ?? '');
    const axis = perm(node)?.[0];
    if (!source || source.dataType !== 1 || source.dims?.length !== 4 || axis === undefined) return undefined;
    return Number(source.dims[axis]);
  }
  if (node?.opType === 'Reshape') {
    const shape = constant(node.input?.[1] ?? '');
    if (!shape || shape.dataType !== 7 || shape.rawData?.length !== 32) return undefined;
    const first = Number(new BigInt64Array(shape.rawData.slice().buffer)[0]);
    return first > 0 ? first : undefined;
  }
  return undefined;
}

/** Ops whose output has as many channels as each of their non-constant inputs (NCHW, axis 1). */
const SAME_CHANNELS = new Set([...UNARY, ...BINARY, 'MaxPool', 'AveragePool', 'Clip']);

/**
 * The channel count of an NCHW activation computed by a float32 convolution (through pooling and elementwise
 * ops); undefined when none is found. The pass sees no value shapes, only the graph.
 */
function float32Channels(
  value: string,
  producer: ReadonlyMap<string, NodeProto>,
  constant: (name: string) => TensorProto | undefined,
): number | undefined {
  const queue = [value];
  for (let seen = 0; seen < 64 && queue.length > 0; seen++) {
    const node = producer.get(queue.shift() as string);
    if (node?.opType === 'Conv') {
      const channels = convOutputChannels(node.input?.[1] ?? '', producer, constant);
      if (channels !== undefined) return channels;
    } else if (node && SAME_CHANNELS.has(node.opType ?? '')) {
      queue.push(
        ...(node.input ?? []).filter((i, n) => i !== '' && !constant(i) && (n === 0 || node.opType !== 'Clip')),
      );
    }
  }
  return undefined;
}

/**
 * A zero Pad of the channel axis only (the shortcut of a residual block that widens its channels, as in iris) as
 * a 1×1 convolution whose weights copy channel c to channel c + before: ONNX Runtime keeps a Conv in its blocked
 * (NCHWc) layout and fuses the residual Add into it, where a Pad leaves that layout and takes every later residual
 * Add and activation of the block chain out with it (docs/performance.md#imported-models). Same values for finite
 * inputs (each output is one input times 1 plus zeros); a non-finite activation spreads to the pixel's other
 * channels, as the next convolution would spread it anyway.
 */
function channelPadAsConv(
  node: NodeProto,
  nchw: string,
  pads: readonly number[],
  graph: GraphProto,
  producer: ReadonlyMap<string, NodeProto>,
  constant: (name: string) => TensorProto | undefined,
  fresh: (hint: string) => string,
): NodeProto | undefined {
  const mode = node.attribute?.find((a) => a.name === 'mode');
  const modeName = mode?.s ? new TextDecoder().decode(mode.s) : 'constant';
  const value = node.input?.[2] ? constant(node.input[2]) : undefined;
  if (modeName !== 'constant' || (node.input?.[2] && !isZeroScalar(value))) return undefined;
  const [, before, , , , after] = pads as [number, number, number, number, number, number, number, number];
  if (pads.some((p, i) => i !== 1 && i !== 5 && p !== 0) || before < 0 || after < 0) return undefined;
  const channels = float32Channels(nchw, producer, constant);
  if (!channels) return undefined;
  const out = channels + before + after;
  const weights = new Float32Array(out * channels);
  for (let c = 0; c < channels; c++) weights[(c + before) * channels + c] = 1;
  const name = fresh('channel_pad_weights');
  graph.initializer.push(
    onnx.TensorProto.create({
      name,
      dataType: 1,
      dims: [out, channels, 1, 1],
      rawData: new Uint8Array(weights.buffer),
    }),
  );
  return onnx.NodeProto.create({
    opType: 'Conv',
    input: [nchw, name],
    output: [fresh(node.output?.[0] ?? 'pad')],
    name: `${node.name}_as_conv`,
    attribute: [
      onnx.AttributeProto.create({ name: 'kernel_shape', type: onnx.AttributeProto.AttributeType.INTS, ints: [1, 1] }),
    ],
  });
}

function isZeroScalar(t: TensorProto | undefined): boolean {
  if (!t?.rawData || t.rawData.length === 0) return false;
  return t.rawData.every((byte) => byte === 0);
}

/**
 * Every other reader of an NHWC value that has a twin (a Reshape, a graph output) reads one Transpose of the twin
 * instead, so the NHWC chain that computed the value dies, and no layer runs twice.
 */
function nhwcWhereNeeded(
  nodes: readonly NodeProto[],
  twin: ReadonlyMap<string, string>,
  transposedBack: ReadonlySet<string>,
  settled: ReadonlySet<NodeProto>,
  graphOutputs: ReadonlySet<string>,
): NodeProto[] {
  const out: NodeProto[] = [];
  const last: NodeProto[] = [];
  const transposed = new Map<string, string>();
  const transpose = (from: string, to: string) =>
    onnx.NodeProto.create({
      opType: 'Transpose',
      input: [from],
      output: [to],
      name: `${to}_transpose`,
      attribute: [
        onnx.AttributeProto.create({ name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: NCHW_TO_NHWC }),
      ],
    });
  const nhwc = (value: string): string => {
    let name = transposed.get(value);
    if (!name) {
      name = `${value}__nhwc`;
      out.push(transpose(twin.get(value) as string, name));
      transposed.set(value, name);
    }
    return name;
  };
  const needsNhwc = (v: string) => twin.has(v) && !transposedBack.has(v);
  for (const node of nodes) {
    if (!settled.has(node)) node.input = (node.input ?? []).map((i) => (needsNhwc(i) ? nhwc(i) : i));
    if (settled.has(node)) {
      // A twinned node whose output is a graph output: the output becomes the Transpose of the twin.
      const [y] = node.output ?? [];
      if (y !== undefined && graphOutputs.has(y) && needsNhwc(y) && twin.get(y) !== y) {
        node.output = [`${y}__unused`];
        // After the twin, which follows this node.
        last.push(transpose(twin.get(y) as string, y));
      }
    }
    out.push(node);
  }
  return [...out, ...last];
}

/**
 * A reduction without keepdims of an NHWC value whose kept axes stay in the same order in NCHW (the global
 * pooling over H and W, above all) gives the same result reading the NCHW twin with its axes mapped.
 */
function reduceChannelsFirst(node: NodeProto, nchw: string): boolean {
  const attrs = node.attribute ?? [];
  const axesAttr = attrs.find((a) => a.name === 'axes');
  const axes = axesAttr ? (axesAttr.ints ?? []).map((a) => (Number(a) + 4) % 4) : [0, 1, 2, 3];
  const kept = [0, 1, 2, 3].filter((a) => !axes.includes(a)).map((a) => NHWC_AXIS_IN_NCHW[a] as number);
  if (!kept.every((a, i) => i === 0 || a > (kept[i - 1] as number))) return false;
  node.input = [nchw, ...(node.input ?? []).slice(1)];
  const mapped = axes.map((a) => NHWC_AXIS_IN_NCHW[a] as number).sort((a, b) => a - b);
  node.attribute = [
    ...attrs.filter((a) => a.name !== 'axes'),
    onnx.AttributeProto.create({ name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: mapped }),
  ];
  return true;
}

/**
 * A graph input declared without a shape (imported models accept any shape, as TF Serving does) gets its rank
 * declared when a Transpose reads it: the Transpose runs on that rank only, so no input that could have run is
 * refused, and ONNX Runtime's shape inference then knows the channel count of every convolution's output, which
 * its NCHWc pooling needs (without it each MaxPool reorders its input and output).
 */
function declareTransposedRanks(graph: GraphProto): void {
  for (const input of graph.input) {
    const tensorType = input.type?.tensorType;
    if (!tensorType || tensorType.shape) continue;
    const reader = graph.node.find((n) => n.opType === 'Transpose' && n.input?.[0] === input.name);
    const rank = reader ? perm(reader)?.length : undefined;
    if (rank) tensorType.shape = { dim: Array.from({ length: rank }, () => ({})) };
  }
}

/** The nodes needed for `outputs`, in their order. */
function withoutDeadNodes(nodes: readonly NodeProto[], outputs: readonly string[]): NodeProto[] {
  const needed = new Set(outputs);
  const keep: boolean[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i] as NodeProto;
    keep[i] = (node.output ?? []).some((o) => needed.has(o));
    if (keep[i]) for (const input of node.input ?? []) needed.add(input);
  }
  return nodes.filter((_, i) => keep[i]);
}
