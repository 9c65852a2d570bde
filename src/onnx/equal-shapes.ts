/**
 * Declares, on a built NCHW ONNX graph, that the two operands of a residual Add have the same shape when the graph
 * computes them so, as symbolic dims ONNX Runtime can compare.
 *
 * ONNX Runtime fuses a residual Add into the convolution computing one operand (its NCHWc `Sum` input, no pass of
 * its own) only when it can prove both operands the same shape. With an input of unknown height and width (imported
 * models declare none, as TF Serving enforces none) it proves that only along chains of convolutions that keep the
 * size; a shortcut that downsamples by a MaxPool beside a convolution that downsamples the same way (iris, at every
 * stage) is not proven, and each such Add runs as a pass of its own over both operands
 * (docs/performance.md, "Imported models").
 *
 * Here every NCHW value gets a spatial signature: the graph input it comes from and the windowed ops (Conv, MaxPool,
 * AveragePool) that changed its height and width on the way, each with its kernel, strides, pads, dilations and
 * ceil mode. Ops that keep the size (a stride-1 window padded by its extent, elementwise ops and channel Concats of
 * one signature) keep the signature, anything else gets none. Values of one signature have the same height and
 * width, whatever the input's: the same ops turned the same dims into them. An Add of two computed operands of one
 * signature gets both operands declared [N, ?, H, W] with shared dim names; nothing else is declared.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type GraphProto = InstanceType<typeof onnx.GraphProto>;
type NodeProto = onnxProto.onnx.INodeProto;

const NHWC_TO_NCHW = [0, 3, 1, 2];

/** Ops whose output has the height and width of each of their computed (non-constant) inputs. */
const SAME_SIZE = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Min',
  'Max',
  'Relu',
  'LeakyRelu',
  'Elu',
  'Sigmoid',
  'Tanh',
  'Clip',
  'Identity',
]);

function ints(node: NodeProto, name: string): number[] | undefined {
  return node.attribute?.find((a) => a.name === name)?.ints?.map(Number);
}

function int(node: NodeProto, name: string): number | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  return a ? Number(a.i) : undefined;
}

/**
 * The key of a 2-D window op's effect on height and width, or '' when it keeps them (stride 1, padded by the
 * window's extent), or undefined when the op's attributes are not all known (auto_pad, a missing kernel shape).
 */
function windowKey(node: NodeProto): string | undefined {
  const autoPad = node.attribute?.find((a) => a.name === 'auto_pad');
  if (autoPad?.s && new TextDecoder().decode(autoPad.s) !== 'NOTSET') return undefined;
  const kernel = ints(node, 'kernel_shape');
  if (kernel?.length !== 2) return undefined;
  const strides = ints(node, 'strides') ?? [1, 1];
  const pads = ints(node, 'pads') ?? [0, 0, 0, 0];
  const dilations = ints(node, 'dilations') ?? [1, 1];
  const ceil = int(node, 'ceil_mode') ?? 0;
  if (strides.length !== 2 || pads.length !== 4 || dilations.length !== 2) return undefined;
  const keeps = [0, 1].every(
    (i) =>
      strides[i] === 1 &&
      (pads[i] as number) + (pads[i + 2] as number) === (dilations[i] as number) * ((kernel[i] as number) - 1),
  );
  if (keeps && ceil === 0) return '';
  // The op does not matter: a Conv and a MaxPool of one window turn the same height and width into the same.
  return `window(k${kernel},s${strides},p${pads},d${dilations},c${ceil})`;
}

export function declareEqualResidualShapes(graph: GraphProto): void {
  const constants = new Set(graph.initializer.map((t) => t.name ?? ''));
  const inputs = new Map(graph.input.map((i, n) => [i.name ?? '', n]));
  const signature = new Map<string, string>();
  const producer = new Map<string, NodeProto>();
  for (const node of graph.node) for (const out of node.output ?? []) producer.set(out, node);
  /** Values with a signature computed by a float32 Conv, or from one by pooling and size-keeping ops. */
  const float32 = new Set<string>();
  /** Whether a Conv's weights are float32: an initializer, or computed from one by Transpose, Reshape, Identity, Slice. */
  const float32Weights = (w: string): boolean => {
    for (let seen = 0; seen < 16; seen++) {
      const t = graph.initializer.find((i) => i.name === w);
      if (t) return t.dataType === onnx.TensorProto.DataType.FLOAT;
      const p = producer.get(w);
      if (!p || !['Transpose', 'Reshape', 'Identity', 'Slice'].includes(p.opType ?? '')) return false;
      w = p.input?.[0] ?? '';
    }
    return false;
  };
  /**
   * An initializer (or an Identity of one: a frozen variable) whose last two dims, those of height and width against
   * an NCHW value, are 1; a scalar too.
   */
  const spatiallyOne = (name: string): boolean => {
    for (let seen = 0; seen < 16; seen++) {
      const t = graph.initializer.find((i) => i.name === name);
      if (t)
        return (t.dims ?? [])
          .map(Number)
          .slice(-2)
          .every((d) => d === 1);
      const p = producer.get(name);
      if (p?.opType !== 'Identity') return false;
      name = p.input?.[0] ?? '';
    }
    return false;
  };
  for (const node of graph.node) {
    const [y] = node.output ?? [];
    if (y === undefined || (node.output?.length ?? 0) !== 1) continue;
    const input = node.input ?? [];
    const computed = input.filter((i) => i !== '' && !constants.has(i));
    if (computed.length === 0) {
      constants.add(y);
      continue;
    }
    let sig: string | undefined;
    const p = node.opType === 'Transpose' ? ints(node, 'perm') : undefined;
    if (p && p.join() === NHWC_TO_NCHW.join() && inputs.has(input[0] ?? '')) {
      sig = `input${inputs.get(input[0] ?? '')}`;
    } else if (['Conv', 'MaxPool', 'AveragePool'].includes(node.opType ?? '')) {
      const from = signature.get(input[0] ?? '');
      const key = windowKey(node);
      if (from !== undefined && key !== undefined) sig = key === '' ? from : `${from} ${key}`;
    } else if (SAME_SIZE.has(node.opType ?? '') || (node.opType === 'Concat' && int(node, 'axis') === 1)) {
      const sigs = new Set(computed.map((i) => signature.get(i)));
      // A constant operand must not widen the height or width by broadcasting: its last two dims are 1.
      if (input.some((i) => i !== '' && constants.has(i) && !spatiallyOne(i))) sigs.add(undefined);
      if (sigs.size === 1 && !sigs.has(undefined)) sig = [...sigs][0];
    }
    if (sig === undefined) continue;
    signature.set(y, sig);
    if (node.opType === 'Conv' ? float32Weights(input[1] ?? '') : computed.some((i) => float32.has(i))) float32.add(y);
  }

  const ids = new Map<string, number>();
  const declared = new Set([...graph.valueInfo, ...graph.input, ...graph.output].map((v) => v.name ?? ''));
  const declare = (value: string, sig: string) => {
    if (declared.has(value)) return;
    declared.add(value);
    let id = ids.get(sig);
    if (id === undefined) ids.set(sig, (id = ids.size));
    const source = sig.split(' ')[0] as string;
    graph.valueInfo.push(
      onnx.ValueInfoProto.create({
        name: value,
        type: {
          tensorType: {
            elemType: onnx.TensorProto.DataType.FLOAT,
            shape: {
              dim: [
                { dimParam: `flowserve_batch_of_${source}` },
                {},
                { dimParam: `flowserve_height_${id}` },
                { dimParam: `flowserve_width_${id}` },
              ],
            },
          },
        },
      }),
    );
  };
  for (const node of graph.node) {
    if (node.opType !== 'Add' || node.input?.length !== 2) continue;
    const [a, b] = node.input as [string, string];
    const sig = signature.get(a);
    if (sig === undefined || sig !== signature.get(b) || !float32.has(a) || !float32.has(b)) continue;
    declare(a, sig);
    declare(b, sig);
  }
}
