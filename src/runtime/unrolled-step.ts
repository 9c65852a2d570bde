/**
 * K consecutive runs of one partition as one ONNX Runtime run (Session.makeStepsCallable): the partition's model
 * unrolled K times by onnx/unroll-steps.ts, the variables it updates chained from one copy to the next. The K
 * batches go in as K inputs of their own (no stacking copy); each step's fetches come back; only the last step's
 * variable values come out of ONNX Runtime, so the K − 1 intermediate ones are never copied into new buffers.
 */
import { Internal, InvalidArgument, Unimplemented } from '../errors.js';
import type { Operation, Tensor } from '../graph/graph.js';
import { HostTensor } from '../graph/host-tensor.js';
import { stepInputName, stepOutputName, unrollSteps, type CarriedValue } from '../onnx/unroll-steps.js';
import { compileModel, type CompiledModel, type RuntimeTensor } from './ort.js';
import type { PartitionStep } from './step.js';

/**
 * The most steps one execution may hold. The unrolled model grows with K (K copies of every node) and so does the
 * time ONNX Runtime takes to create its session; the measured gains stop well before this (docs/performance.md).
 */
export const MAX_STEPS_PER_EXECUTION = 100;

/** Why `step` cannot be unrolled, or undefined when it can. */
export function whyNotUnrollable(step: PartitionStep): string | undefined {
  if (step.lowered.partition.device.residentOutputs) {
    return `its partition runs on ${step.lowered.partition.device.name}, whose variables stay in device memory`;
  }
  const updated = new Set<Operation>();
  for (const { tensor } of step.lowered.outputs) {
    if (!tensor.op.def.variableUpdate) continue;
    const variable = tensor.op.inputs[0]?.op as Operation;
    if (updated.has(variable)) return `variable '${variable.name}' is updated twice in one step`;
    updated.add(variable);
  }
  return undefined;
}

/** One step's fetched values, in the order of the fetches given to `build`. */
export type StepFetches = HostTensor[];

export class UnrolledStep {
  private constructor(
    private readonly step: PartitionStep,
    readonly steps: number,
    private readonly compiled: CompiledModel,
    /** Per fetch: the one-step model's output name that holds it, or the fed tensor it is. */
    private readonly fetchSources: readonly ({ output: string } | { fed: Tensor })[],
  ) {}

  /** Unrolls `step` (one partition on the host, see whyNotUnrollable) `steps` times and compiles it. */
  static async build(step: PartitionStep, steps: number, fetches: readonly Tensor[]): Promise<UnrolledStep> {
    const why = whyNotUnrollable(step);
    if (why) throw new Unimplemented(`cannot run several steps in one execution: ${why}`);
    const { lowered } = step;
    const fetchSources = fetches.map((tensor): { output: string } | { fed: Tensor } => {
      const output = lowered.outputs.find((o) => o.tensor === tensor);
      if (output) return { output: output.name };
      if (lowered.inputs.some((i) => i.source.kind === 'feed' && i.source.tensor === tensor)) return { fed: tensor };
      throw new Internal(`fetch '${tensor.name}' is not computed by the step's partition`);
    });
    const variableInput = new Map<Operation, string>();
    for (const { name, source } of lowered.inputs)
      if (source.kind === 'variable') variableInput.set(source.variable, name);
    const carried: CarriedValue[] = lowered.outputs
      .filter((o) => o.tensor.op.def.variableUpdate)
      .map(({ name, tensor }) => {
        const input = variableInput.get(tensor.op.inputs[0]?.op as Operation);
        return input === undefined ? { output: name } : { input, output: name };
      });
    const model = unrollSteps(lowered.model, {
      steps,
      perStepInputs: lowered.inputs.filter((i) => i.source.kind === 'feed').map((i) => i.name),
      perStepOutputs: [...new Set(fetchSources.flatMap((s) => ('output' in s ? [s.output] : [])))],
      carried,
    });
    const compiled = await compileModel(model, step.compileOptions).catch((err: unknown) => {
      throw new Internal(`ONNX Runtime could not load the ${steps}-step model: ${(err as Error).message}`, {
        cause: err,
      });
    });
    return new UnrolledStep(step, steps, compiled, fetchSources);
  }

  /**
   * Runs `feeds.length` (= steps) steps: `feeds[k]` holds step k's fed values, `variable` gives a variable's
   * current value. Resolves to each step's fetches and the variables' values after the last step.
   */
  async run(
    feeds: readonly ReadonlyMap<Tensor, HostTensor>[],
    variable: (op: Operation) => RuntimeTensor,
  ): Promise<{ fetched: StepFetches[]; updates: [Operation, RuntimeTensor][] }> {
    if (feeds.length !== this.steps) {
      throw new InvalidArgument(
        `the ${this.steps}-step execution needs ${this.steps} steps' feeds, got ${feeds.length}`,
      );
    }
    const { lowered } = this.step;
    const inputs: Record<string, RuntimeTensor> = {};
    for (const { name, source } of lowered.inputs) {
      if (source.kind === 'variable') inputs[name] = variable(source.variable);
      else if (source.kind === 'feed') {
        for (let k = 0; k < this.steps; k++) {
          const value = feeds[k]?.get(source.tensor);
          if (!value) throw new InvalidArgument(`step ${k} has no value for '${source.tensor.name}'`);
          inputs[stepInputName(k, name)] = value;
        }
      } else throw new Internal(`input '${name}' comes from another partition`);
    }
    let outputs: Record<string, RuntimeTensor>;
    try {
      outputs = await this.compiled.run(inputs);
    } catch (err) {
      const p = lowered.partition;
      throw new Internal(
        `running ${this.steps} steps of the partition on ${p.device.name} failed: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const fetched: StepFetches[] = [];
    for (let k = 0; k < this.steps; k++) {
      fetched.push(
        this.fetchSources.map((s) =>
          'output' in s
            ? (outputs[stepOutputName(k, s.output)] as HostTensor)
            : ((feeds[k] as ReadonlyMap<Tensor, HostTensor>).get(s.fed) as HostTensor),
        ),
      );
    }
    const updates: [Operation, RuntimeTensor][] = [];
    for (const { name, tensor } of lowered.outputs) {
      if (tensor.op.def.variableUpdate)
        updates.push([tensor.op.inputs[0]?.op as Operation, outputs[name] as RuntimeTensor]);
    }
    return { fetched, updates };
  }

  release(): Promise<void> {
    return this.compiled.release();
  }
}
