/**
 * The dtype and static shape of a GraphDef tensor, read off the graph itself. Formats whose signatures name
 * tensors without describing them need this: the legacy SessionBundle's TensorBinding is a name only (TF
 * Serving's bundle_shim fills TensorInfo "thinly, with name only"), and a frozen GraphDef has no signatures.
 *
 * Rules, in order, for output `i` of node `n`:
 * 1. `_output_shapes` (written by TF with add_shapes=True) gives the shape.
 * 2. Ops whose outputs are typed by attrs: `dtype` (Placeholder, Const, Variable…), `T` (Identity and
 *    element-wise ops), `DstT` (Cast), `out_type`, `output_type`; ParseExample(V2)'s dense outputs by `Tdense`
 *    and `dense_shapes` (a batch of examples: [-1, ...dense_shape]).
 * 3. Shapes: Placeholder's `shape` (where a GraphDef older than version 21 meant "unknown" by an empty shape,
 *    as TensorFlow reads it), a Const's value, a variable's `shape`; pass-through ops (Identity, Snapshot,
 *    StopGradient, PlaceholderWithDefault, ReadVariableOp) take their input's; element-wise binary ops broadcast.
 * Anything else is unknown (dtype undefined, shape undefined = unknown rank); callers decide whether that matters.
 */
import type { DType } from '../graph/dtype.js';
import type { HostTensor } from '../graph/host-tensor.js';
import { broadcastShapes, type Dim } from '../graph/shape.js';
import { parseTensorRef } from './graph-def.js';
import { attrValueOfTf, type TfAttrValue } from './tf-attrs.js';
import type { NodeDefMsg } from './tf-messages.js';

export interface GraphTensorInfo {
  dtype: DType | undefined;
  /** undefined = unknown rank. */
  shape: Dim[] | undefined;
}

const PASS_THROUGH = new Set(['Identity', 'Snapshot', 'StopGradient', 'PlaceholderWithDefault', 'ReadVariableOp']);
const ELEMENTWISE_BINARY = new Set(['Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Div', 'Maximum', 'Minimum', 'Pow']);
const DTYPE_ATTRS = ['dtype', 'T', 'DstT', 'out_type', 'output_type'];
/** Guards against cycles and very deep chains: beyond this, the shape is reported unknown. */
const MAX_DEPTH = 256;

export class GraphTensorInfoReader {
  private readonly byName: ReadonlyMap<string, NodeDefMsg>;

  /** `producer`: the GraphDef's versions.producer (0 when absent). */
  constructor(
    nodes: readonly NodeDefMsg[],
    private readonly producer = 0,
  ) {
    this.byName = new Map(nodes.map((n) => [n.name ?? '', n]));
  }

  hasNode(name: string): boolean {
    return this.byName.has(name);
  }

  /** Dtype and shape of `tensorName` (`x:0`, `x`); both undefined when the node is not in the graph. */
  infoOf(tensorName: string): GraphTensorInfo {
    return this.info(tensorName, 0);
  }

  private info(ref: string, depth: number): GraphTensorInfo {
    const { node: nodeName, index } = parseTensorRef(ref);
    const node = this.byName.get(nodeName);
    if (!node || depth > MAX_DEPTH) return { dtype: undefined, shape: undefined };
    const attr = (key: string): TfAttrValue => {
      const value = node.attr?.[key];
      try {
        return value ? attrValueOfTf(value, `node '${nodeName}' attr '${key}'`) : undefined;
      } catch {
        return undefined;
      }
    };
    const op = node.op ?? '';
    const dataInputs = (node.input ?? []).filter((r) => !r.startsWith('^'));
    const recorded = attr('_output_shapes');
    const recordedShape = Array.isArray(recorded) ? (recorded[index] as Dim[] | undefined) : undefined;

    if (op === 'ParseExample' || op === 'ParseExampleV2') {
      const parsed = parseExampleOutput(op, index, attr);
      return { dtype: parsed.dtype, shape: recordedShape ?? parsed.shape };
    }
    let dtype: DType | undefined;
    for (const key of DTYPE_ATTRS) {
      const v = attr(key);
      if (typeof v === 'string' && !v.startsWith('DataType(')) {
        dtype = v as DType;
        break;
      }
    }
    let shape = recordedShape;
    if (!shape) {
      if (op === 'Const') shape = (attr('value') as HostTensor | undefined)?.shape.slice();
      else if (op === 'Placeholder') {
        shape = attr('shape') as Dim[] | undefined;
        if (shape?.length === 0 && this.producer < 21) shape = undefined;
      } else if (/^Variable(V2)?$/.test(op)) shape = attr('shape') as Dim[] | undefined;
      else if (PASS_THROUGH.has(op) && dataInputs[0]) {
        const input = this.info(dataInputs[0], depth + 1);
        shape = input.shape ?? (op === 'PlaceholderWithDefault' ? (attr('shape') as Dim[] | undefined) : undefined);
        dtype ??= input.dtype;
      } else if (ELEMENTWISE_BINARY.has(op) && dataInputs.length === 2) {
        const [a, b] = dataInputs.map((r) => this.info(r, depth + 1).shape);
        if (a && b) {
          try {
            shape = broadcastShapes(nodeName, a, b);
          } catch {
            shape = undefined;
          }
        }
      }
    }
    return { dtype, shape };
  }
}

/** ParseExample outputs: sparse_indices, sparse_values, sparse_shapes (Nsparse each), then dense_values (Ndense). */
function parseExampleOutput(op: string, index: number, attr: (key: string) => TfAttrValue): GraphTensorInfo {
  const numSparse = Number(attr(op === 'ParseExample' ? 'Nsparse' : 'num_sparse') ?? 0);
  const sparseTypes = (attr('sparse_types') as DType[] | undefined) ?? [];
  if (index < numSparse) return { dtype: 'int64', shape: [null, 2] };
  if (index < 2 * numSparse) return { dtype: sparseTypes[index - numSparse], shape: [null] };
  if (index < 3 * numSparse) return { dtype: 'int64', shape: [2] };
  const dense = index - 3 * numSparse;
  const dtypes = (attr('Tdense') as DType[] | undefined) ?? [];
  const shapes = (attr('dense_shapes') as (Dim[] | undefined)[] | undefined) ?? [];
  const denseShape = shapes[dense];
  return { dtype: dtypes[dense], shape: denseShape ? [null, ...denseShape] : undefined };
}
