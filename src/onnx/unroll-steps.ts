/**
 * Unrolls a training step's ONNX model K times, so that one ONNX Runtime run does K consecutive steps (Keras'
 * `steps_per_execution`). A softmax step is ~35 nodes of a few microseconds each: the fixed cost of a run (binding
 * feeds, the variables in, the updated variables out as new buffers) is a large share of it
 * (docs/performance.md#training).
 *
 * Copy k of the step reads its own per-step inputs (the batch: `stepInputName(k, name)`), the variables that copy
 * k − 1 updated (copy 0: the model's own inputs), and the inputs every copy shares (variables the step reads but
 * does not update). Initializers are shared, not copied. The outputs are each copy's per-step outputs (loss,
 * accuracy: `stepOutputName(k, name)`) and the last copy's updated values under their original names. Every node
 * computes what it computed in the one-step model from the same values, so the results are the same bits.
 */
import onnxProto from 'onnx-proto';
import { InvalidArgument, Unimplemented } from '../errors.js';

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;

/** A value the step updates: `input` is its value before the step, `output` its value after. */
export interface CarriedValue {
  /** The graph input that holds the value before the step (absent: the step writes it without reading it). */
  input?: string;
  /** The graph output that holds the value after the step. */
  output: string;
}

export interface UnrollSpec {
  /** Steps per run (≥ 1). */
  steps: number;
  /** Graph inputs each step gets a value of its own for (the batch). */
  perStepInputs: readonly string[];
  /** Graph outputs returned for every step (loss, accuracy). */
  perStepOutputs: readonly string[];
  /** Values chained from one step to the next (variables and optimizer slots with their updates). */
  carried: readonly CarriedValue[];
}

/**
 * Names of copy k's values. `#` cannot appear in a TensorFlow op name or in the lowering's temporaries, so a
 * prefixed name never equals a name of the one-step model.
 */
function prefixOf(k: number): string {
  return `step#${k}/`;
}

/** The unrolled model's input that feeds `name` to step k. */
export function stepInputName(k: number, name: string): string {
  return prefixOf(k) + name;
}

/** The unrolled model's output that holds step k's value of `name`. */
export function stepOutputName(k: number, name: string): string {
  return prefixOf(k) + name;
}

/** Refuses a graph whose nodes hold subgraphs: their references to outer values would need renaming too. */
function checkNoSubgraphs(nodes: readonly NodeProto[]): void {
  for (const n of nodes) {
    for (const a of n.attribute ?? []) {
      if (a.g || (a.graphs?.length ?? 0) > 0) {
        throw new Unimplemented(`unrolling steps: node '${n.name ?? n.opType}' (${n.opType}) has a subgraph`);
      }
    }
  }
}

/** The ONNX model of `spec.steps` consecutive steps of `model` (see the module comment). */
export function unrollSteps(model: Uint8Array, spec: UnrollSpec): Uint8Array {
  const K = spec.steps;
  if (!Number.isSafeInteger(K) || K < 1) throw new InvalidArgument(`steps must be a positive integer, got ${K}`);
  const proto = onnx.ModelProto.decode(model);
  const graph = proto.graph;
  if (!graph) throw new InvalidArgument('unrolling steps: the model has no graph');
  const nodes = graph.node ?? [];
  checkNoSubgraphs(nodes);

  const inputNames = new Set((graph.input ?? []).map((v) => v.name as string));
  const outputNames = new Set((graph.output ?? []).map((v) => v.name as string));
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name as string));
  const produced = new Set(nodes.flatMap((n) => (n.output ?? []).filter((o) => o !== '')));
  const perStepInputs = new Set(spec.perStepInputs);
  const carriedByInput = new Map<string, string>();
  const carriedOutputs = new Set<string>();
  for (const name of spec.perStepInputs) {
    if (!inputNames.has(name)) throw new InvalidArgument(`unrolling steps: '${name}' is not an input of the model`);
  }
  for (const name of spec.perStepOutputs) {
    if (!outputNames.has(name)) throw new InvalidArgument(`unrolling steps: '${name}' is not an output of the model`);
  }
  for (const { input, output } of spec.carried) {
    if (!outputNames.has(output) || !produced.has(output)) {
      throw new InvalidArgument(`unrolling steps: carried value '${output}' is not an output a node computes`);
    }
    if (carriedOutputs.has(output)) throw new InvalidArgument(`unrolling steps: '${output}' is carried twice`);
    carriedOutputs.add(output);
    if (input === undefined) continue;
    if (!inputNames.has(input) || perStepInputs.has(input) || carriedByInput.has(input)) {
      throw new InvalidArgument(`unrolling steps: carried input '${input}' is not a distinct input of the model`);
    }
    carriedByInput.set(input, output);
  }

  // Copy k's name of a value the step computes: the last copy writes the carried outputs under their own names.
  const producedName = (k: number, name: string) =>
    k === K - 1 && carriedOutputs.has(name) ? name : prefixOf(k) + name;
  // Copy k's name of a value it reads.
  const readName = (k: number, name: string): string => {
    if (name === '' || initializers.has(name)) return name;
    if (produced.has(name)) return producedName(k, name);
    if (perStepInputs.has(name)) return stepInputName(k, name);
    const carried = carriedByInput.get(name);
    if (carried !== undefined && k > 0) return producedName(k - 1, carried);
    return name; // a shared input, or a carried one's value before the first step
  };

  const unrolledNodes: NodeProto[] = [];
  for (let k = 0; k < K; k++) {
    for (const n of nodes) {
      unrolledNodes.push(
        onnx.NodeProto.create({
          ...n,
          name: n.name ? prefixOf(k) + n.name : '',
          input: (n.input ?? []).map((name) => readName(k, name)),
          output: (n.output ?? []).map((name) => (name === '' ? '' : producedName(k, name))),
        }),
      );
    }
  }

  const inputsByName = new Map((graph.input ?? []).map((v) => [v.name as string, v]));
  const outputsByName = new Map((graph.output ?? []).map((v) => [v.name as string, v]));
  const inputs = (graph.input ?? []).filter((v) => !perStepInputs.has(v.name as string));
  for (let k = 0; k < K; k++) {
    for (const name of spec.perStepInputs) {
      inputs.push(onnx.ValueInfoProto.create({ ...inputsByName.get(name), name: stepInputName(k, name) }));
    }
  }
  const outputs = spec.carried.map(({ output }) => outputsByName.get(output) as onnxProto.onnx.IValueInfoProto);
  for (let k = 0; k < K; k++) {
    for (const name of spec.perStepOutputs) {
      const wanted = stepOutputName(k, name);
      const value = readName(k, name);
      // A per-step output that is not copy k's own node output (a carried output of the last copy, or an input)
      // gets it through an Identity.
      if (value !== wanted)
        unrolledNodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [value], output: [wanted] }));
      outputs.push(onnx.ValueInfoProto.create({ ...outputsByName.get(name), name: wanted }));
    }
  }

  proto.graph = onnx.GraphProto.create({
    ...graph,
    name: `${graph.name ?? 'graph'}_x${K}`,
    node: unrolledNodes,
    input: inputs,
    output: outputs,
    // Shape hints of intermediate values are optional; ONNX Runtime infers them again.
    valueInfo: [],
  });
  return onnx.ModelProto.encode(proto).finish();
}
