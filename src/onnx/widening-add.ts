/**
 * The residual Add of a block that widens its channels, written as a channel Concat of the convolution's output
 * slices, on a built NCHW ONNX graph (after `keepChannelsFirst`).
 *
 * Iris widens its residual stream from 64 to 128 channels as `Add(Pad(shortcut, channels 0 + 64), Conv(h) + bias)`.
 * `keepChannelsFirst` writes the Pad as a 1×1 Conv copying channel c to c + before, so that ONNX Runtime's blocked
 * (NCHWc) layout is not left; that copy costs as much as a real 64→128 convolution, and the Add after it is not
 * fused into either Conv (ONNX Runtime cannot prove their shapes equal), so it is one more pass. The same sum is
 *
 *   Concat(Conv(h, W[0:before]) + b[0:before],
 *          Conv(h, W[before:before+C]) + b[before:before+C] + shortcut,
 *          Conv(h, W[before+C:]) + b[before+C:])
 *
 * with the weight and bias slices computed from constants (ONNX Runtime folds them when it creates the session):
 * the middle Add fuses into its Conv as the residual sum, and Concat along channels stays in the blocked layout when
 * every slice is a whole number of blocks. Each output element is the same sum of the same products as before, the
 * shortcut added once instead of a product by 1 plus zeros (docs/performance.md, "Imported models").
 */
import onnxProto from 'onnx-proto';
import { initializerLookup } from './initializer-lookup.js';

const { onnx } = onnxProto;
type GraphProto = InstanceType<typeof onnx.GraphProto>;
type NodeProto = onnxProto.onnx.INodeProto;

/** A channel Pad written as a 1×1 Conv: its input (NCHW) and the channels it puts before and after. */
export interface ChannelPad {
  input: string;
  channels: number;
  before: number;
  after: number;
}

/**
 * Slices are concatenated in ONNX Runtime's blocked layout only when each is a whole number of its channel blocks
 * (16 floats with AVX-512, 8 with AVX2); a multiple of 16 is one on both.
 */
const CHANNEL_BLOCK = 16;

/** The value computed as `Conv(h, W) + bias` (a constant [1, C, 1, 1] bias Add) or `Conv(h, W, B)`. */
interface BiasedConv {
  conv: NodeProto;
  /** The constant bias of shape [1, C, 1, 1] added after the Conv, when it is an Add. */
  biasAdd?: { node: NodeProto; bias: string };
}

function attr(node: NodeProto, name: string) {
  return node.attribute?.find((a) => a.name === name);
}

/**
 * Rewrites each `Add(pad, q)` whose `pad` is a channel Pad written as a Conv (`pads`, by output name) and whose `q` is
 * a dense Conv (of `outputChannels(weights)` channels, the padded width) plus constant bias, both read by that Add
 * only.
 * Returns the node list with the new nodes in the Add's place; the nodes they replace are left for the caller's
 * dead-node removal.
 */
export function widenByConcat(
  graph: GraphProto,
  nodes: readonly NodeProto[],
  pads: ReadonlyMap<string, ChannelPad>,
  graphOutputs: ReadonlySet<string>,
  outputChannels: (weights: string) => number | undefined,
): NodeProto[] {
  if (pads.size === 0) return [...nodes];
  const initializers = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const producer = new Map<string, NodeProto>();
  const readers = new Map<string, number>();
  for (const node of nodes) {
    for (const out of node.output ?? []) producer.set(out, node);
    for (const i of node.input ?? []) readers.set(i, (readers.get(i) ?? 0) + 1);
  }
  /** The initializer a value is, looking through Identity (frozen variables are Identity(initializer)). */
  const constant = initializerLookup(initializers, producer);
  const onlyReader = (value: string) => readers.get(value) === 1 && !graphOutputs.has(value);
  let counter = 0;
  /** The nodes of the rewrite in progress, in order. */
  let added: NodeProto[] = [];
  const fresh = (hint: string) => `${hint}__widen${counter++}`;
  const int64s = (values: readonly number[]): string => {
    const name = fresh('slice');
    graph.initializer.push(
      onnx.TensorProto.create({
        name,
        dataType: 7,
        dims: [values.length],
        rawData: new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer),
      }),
    );
    return name;
  };
  const slice = (value: string, axis: number, from: number, to: number): string => {
    const out = fresh(value);
    added.push(
      onnx.NodeProto.create({
        opType: 'Slice',
        input: [value, int64s([from]), int64s([to]), int64s([axis])],
        output: [out],
        name: `${out}_slice`,
      }),
    );
    return out;
  };

  /**
   * Channels `from .. to` of a [1, C, 1, 1] bias: a constant of its own when the bias holds raw float32 data (so
   * later passes see its shape), else a Slice, which ONNX Runtime folds.
   */
  const biasSlice = (bias: string, from: number, to: number): string => {
    const t = constant(bias);
    if (t?.dataType !== 1 || !t.rawData || t.rawData.length === 0) return slice(bias, 1, from, to);
    const name = fresh(bias);
    graph.initializer.push(
      onnx.TensorProto.create({
        name,
        dataType: 1,
        dims: [1, to - from, 1, 1],
        rawData: t.rawData.slice(from * 4, to * 4),
      }),
    );
    return name;
  };

  /** `q` as a dense Conv plus bias whose weights have `channels` outputs, or undefined. */
  const biasedConv = (q: string, channels: number): BiasedConv | undefined => {
    let node = producer.get(q);
    let biasAdd: BiasedConv['biasAdd'];
    if (node?.opType === 'Add') {
      const [a, b] = node.input as [string, string];
      const bias = constant(b) ? b : constant(a) ? a : undefined;
      const dims = bias ? constant(bias)?.dims?.map(Number) : undefined;
      const x = bias === b ? a : b;
      if (!bias || !dims || dims.length !== 4 || dims.some((d, i) => d !== (i === 1 ? channels : 1))) return undefined;
      if (!onlyReader(x)) return undefined;
      biasAdd = { node, bias };
      node = producer.get(x);
    }
    if (node?.opType !== 'Conv' || (node.output?.length ?? 0) !== 1) return undefined;
    const group = attr(node, 'group');
    if (group && Number(group.i) !== 1) return undefined;
    // A Conv of fewer channels would broadcast in the Add: only one of the same width splits into slices.
    if (outputChannels(node.input?.[1] ?? '') !== channels) return undefined;
    return { conv: node, ...(biasAdd ? { biasAdd } : {}) };
  };

  const out: NodeProto[] = [];
  for (const node of nodes) {
    const rewritten = node.opType === 'Add' && node.output?.length === 1 ? rewrite(node) : undefined;
    if (rewritten) out.push(...rewritten);
    else out.push(node);
  }
  return out;

  function rewrite(add: NodeProto): NodeProto[] | undefined {
    const [a, b] = (add.input ?? []) as [string, string];
    const padded = pads.has(a) ? a : pads.has(b) ? b : undefined;
    if (!padded) return undefined;
    const pad = pads.get(padded) as ChannelPad;
    const q = padded === a ? b : a;
    const total = pad.before + pad.channels + pad.after;
    if (!onlyReader(padded) || !onlyReader(q)) return undefined;
    const segments = [
      [0, pad.before],
      [pad.before, pad.before + pad.channels],
      [pad.before + pad.channels, total],
    ] as const;
    if (segments.some(([from, to]) => (to - from) % CHANNEL_BLOCK !== 0)) return undefined;
    const found = biasedConv(q, total);
    if (!found) return undefined;
    const { conv, biasAdd } = found;
    const [h, weights, convBias] = (conv.input ?? []) as [string, string, string | undefined];
    added = [];
    const parts: string[] = [];
    for (const [from, to] of segments) {
      if (to === from) continue;
      const partInputs = [h, slice(weights, 0, from, to)];
      if (convBias) partInputs.push(slice(convBias, 0, from, to));
      let value = fresh(add.output?.[0] ?? 'widened');
      added.push(
        onnx.NodeProto.create({
          opType: 'Conv',
          input: partInputs,
          output: [value],
          name: `${conv.name}_channels_${from}_${to}`,
          attribute: conv.attribute ?? [],
        }),
      );
      const addTo = (other: string, label: string) => {
        const sum = fresh(value);
        added.push(
          onnx.NodeProto.create({ opType: 'Add', input: [value, other], output: [sum], name: `${sum}_${label}` }),
        );
        value = sum;
      };
      if (biasAdd) addTo(biasSlice(biasAdd.bias, from, to), 'bias');
      if (from === pad.before) addTo(pad.input, 'shortcut');
      parts.push(value);
    }
    added.push(
      onnx.NodeProto.create({
        opType: 'Concat',
        input: parts,
        output: [add.output?.[0] as string],
        name: `${add.name}_as_concat`,
        attribute: [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 })],
      }),
    );
    return added;
  }
}
