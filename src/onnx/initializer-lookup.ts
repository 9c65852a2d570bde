/**
 * The initializer a graph value is, looking through Identity nodes: frozen variables are lowered as
 * Identity(initializer), and the passes that fold constants into other ops need the tensor behind them.
 */
import type onnxProto from 'onnx-proto';

type TensorProto = onnxProto.onnx.ITensorProto;
type NodeProto = onnxProto.onnx.INodeProto;

/** A lookup of values to their initializer (undefined when a value is computed), through up to 64 Identities. */
export function initializerLookup(
  initializers: ReadonlyMap<string, TensorProto>,
  producer: ReadonlyMap<string, NodeProto>,
): (name: string) => TensorProto | undefined {
  return (name) => {
    for (let seen = 0; seen < 64; seen++) {
      const t = initializers.get(name);
      if (t) return t;
      const p = producer.get(name);
      if (!p || p.opType !== 'Identity') return undefined;
      name = p.input?.[0] ?? '';
    }
    return undefined;
  };
}
