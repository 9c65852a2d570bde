/**
 * Optimizers with TensorFlow 1.x semantics (tf.train.GradientDescentOptimizer, MomentumOptimizer, AdamOptimizer):
 * `minimize(loss)` = `computeGradients` (symbolic gradients w.r.t. each variable) + `applyGradients` (one update
 * per variable, grouped into a train op that optionally increments the global step). Slot variables (Momentum's
 * accumulator, Adam's m and v) are created colocated with their variable and named as TF names them
 * (`W/Momentum`, `W/Adam`, `W/Adam_1`); Adam's `beta1_power`/`beta2_power` are colocated with the first variable.
 */
import { InvalidArgument } from '../errors.js';
import { Tensor, type Graph, type Operation } from '../graph/graph.js';
import { HostTensor } from '../graph/host-tensor.js';
import { cast } from '../ops/array.js';
import { constant } from '../ops/convert.js';
import { add, div, mul, sqrt, sub } from '../ops/math.js';
import { NoOp } from '../ops/source.js';
import { trainableVariables, Variable } from '../ops/variables.js';
import { gradients } from './gradients.js';

/** A learning rate: a number, or a scalar tensor (e.g. a placeholder fed each step, or a decayed schedule). */
export type LearningRate = number | Tensor;

/** A gradient (null when the loss does not depend on the variable) and its variable. */
export type GradAndVar = readonly [Tensor | null, Variable];

export interface ComputeGradientsOptions {
  /** Variables to differentiate with respect to; default the graph's trainable variables. */
  varList?: readonly Variable[];
}

export interface ApplyGradientsOptions {
  /** An integer variable incremented by one after the updates (tf.train.get_or_create_global_step()). */
  globalStep?: Variable;
  /** Name of the returned train op (default the optimizer's name). */
  name?: string;
}

export type MinimizeOptions = ComputeGradientsOptions & ApplyGradientsOptions;

/** The global step variable (int64 scalar `global_step`, not trainable), created once per graph. */
export function getOrCreateGlobalStep(graph: Graph): Variable {
  const existing = graph.getCollection<Variable>('global_step')[0];
  if (existing) return existing;
  const step = new Variable(new HostTensor('int64', [], new BigInt64Array(1)), {
    name: 'global_step',
    trainable: false,
    graph,
  });
  graph.addToCollection('global_step', step);
  return step;
}

export abstract class Optimizer {
  private readonly slots = new Map<Variable, Map<string, Variable>>();
  private readonly nonSlots = new Map<string, Variable>();

  constructor(readonly name: string) {}

  /** Symbolic gradients of `loss` w.r.t. each variable (tf.train.Optimizer.compute_gradients). */
  computeGradients(loss: Tensor, options: ComputeGradientsOptions = {}): GradAndVar[] {
    const vars = options.varList ?? trainableVariables(loss.graph);
    if (vars.length === 0) throw new InvalidArgument('No variables to optimize.');
    if (!loss.dtype.startsWith('float')) {
      throw new InvalidArgument(`Invalid type ${loss.dtype} for ${loss.op.name}, expected: float32, float64.`);
    }
    const grads = gradients(
      loss,
      vars.map((v) => v.ref),
    );
    return vars.map((v, i) => [grads[i] ?? null, v] as const);
  }

  /** Builds the update of every variable that has a gradient; returns the train op. */
  applyGradients(gradsAndVars: readonly GradAndVar[], options: ApplyGradientsOptions = {}): Operation {
    const pairs = gradsAndVars.filter((p): p is readonly [Tensor, Variable] => p[0] !== null);
    if (pairs.length === 0) {
      throw new InvalidArgument(
        `No gradients provided for any variable, check your graph for ops that do not support gradients, between variables [${gradsAndVars.map(([, v]) => v.name).join(', ')}] and loss.`,
      );
    }
    const graph = (pairs[0] as readonly [Tensor, Variable])[1].graph;
    for (const [g, v] of pairs) {
      if (g.dtype !== v.dtype) {
        throw new InvalidArgument(`gradient '${g.name}' is ${g.dtype} but variable '${v.name}' is ${v.dtype}`);
      }
    }
    this.createSlots(pairs.map(([, v]) => v));
    const opName = graph.uniqueName(options.name ?? this.name);
    const updates = graph.nameScope(
      opName,
      () => {
        this.prepare(graph);
        const ops = pairs.map(([g, v]) => graph.nameScope(`update_${v.name}`, () => this.applyDense(g, v)));
        return this.finish(
          graph,
          pairs.map(([, v]) => v),
          ops,
        );
      },
      { reserved: true },
    );
    let deps: readonly (Tensor | Operation)[] = updates;
    if (options.globalStep) {
      const step = options.globalStep;
      deps = [
        graph.controlDependencies(updates, () =>
          graph.colocateWith(step.op, () =>
            step.assignAdd(constant(1, { dtype: step.dtype, graph, name: `${opName}/one` }), {
              name: `${opName}/global_step_update`,
            }),
          ),
        ),
      ];
    }
    return graph.controlDependencies(deps, () => graph.addOp({ def: NoOp, name: opName, reservedName: true }));
  }

  /** computeGradients + applyGradients (tf.train.Optimizer.minimize). */
  minimize(loss: Tensor, options: MinimizeOptions = {}): Operation {
    return this.applyGradients(this.computeGradients(loss, options), options);
  }

  /** A slot variable of `variable` (`getSlot(W, 'm')`), if the optimizer made one. */
  getSlot(variable: Variable, slotName: string): Variable | undefined {
    return this.slots.get(variable)?.get(slotName);
  }

  /** Slot names this optimizer creates per variable. */
  getSlotNames(): string[] {
    return [];
  }

  /** Every variable the optimizer created (slots and non-slot accumulators such as beta1_power). */
  variables(): Variable[] {
    return [...[...this.slots.values()].flatMap((m) => [...m.values()]), ...this.nonSlots.values()];
  }

  /** Creates the slots and non-slot variables the updates need (before the update ops). */
  protected createSlots(_vars: readonly Variable[]): void {}

  /** Builds shared tensors (learning rate constants) inside the optimizer's name scope. */
  protected prepare(_graph: Graph): void {}

  /** The update of one variable (TF's _apply_dense). */
  protected abstract applyDense(grad: Tensor, variable: Variable): Tensor | Operation;

  /** Ops to run after all updates (TF's _finish); default the updates themselves. */
  protected finish(_graph: Graph, _vars: readonly Variable[], updates: (Tensor | Operation)[]): (Tensor | Operation)[] {
    return updates;
  }

  /** A zero-initialised slot `<var>/<name>`, colocated with the variable and not trainable. */
  protected zerosSlot(variable: Variable, slotName: string, opName: string): Variable {
    let map = this.slots.get(variable);
    if (!map) this.slots.set(variable, (map = new Map()));
    const existing = map.get(slotName);
    if (existing) return existing;
    const shape = variable.shape.map((d) => d ?? 0);
    const graph = variable.graph;
    const slot = graph.colocateWith(variable.op, () =>
      graph.nameScope(
        '',
        () =>
          new Variable(HostTensor.zeros(variable.dtype, shape), {
            name: `${variable.name}/${opName}`,
            trainable: false,
            graph,
          }),
        { reserved: true },
      ),
    );
    map.set(slotName, slot);
    return slot;
  }

  /** A non-slot scalar variable (`beta1_power`) colocated with `first`, created once. */
  protected nonSlot(first: Variable, name: string, initial: number): Variable {
    const existing = this.nonSlots.get(name);
    if (existing) return existing;
    const graph = first.graph;
    const v = graph.colocateWith(first.op, () =>
      graph.nameScope(
        '',
        () =>
          new Variable(constant(initial, { dtype: first.dtype, graph, name: `${name}/initial_value` }), {
            name,
            trainable: false,
          }),
        { reserved: true },
      ),
    );
    this.nonSlots.set(name, v);
    return v;
  }
}

/** `lr` as a tensor of `dtype` in the current scope. */
function rateTensor(rate: LearningRate, dtype: Tensor['dtype'], graph: Graph, name: string): Tensor {
  if (rate instanceof Tensor) return rate.dtype === dtype ? rate : cast(rate, dtype);
  return constant(rate, { dtype, graph, name });
}

function checkRate(name: string, rate: LearningRate): void {
  if (typeof rate === 'number' && !Number.isFinite(rate)) {
    throw new InvalidArgument(`${name} must be a finite number, got ${rate}`);
  }
  if (rate instanceof Tensor && rate.rank !== 0) {
    throw new InvalidArgument(`${name} tensor '${rate.name}' must be a scalar`);
  }
}

/** var -= lr · grad (tf.train.GradientDescentOptimizer). */
export class GradientDescentOptimizer extends Optimizer {
  constructor(
    readonly learningRate: LearningRate,
    options: { name?: string } = {},
  ) {
    super(options.name ?? 'GradientDescent');
    checkRate('learning rate', learningRate);
  }

  protected applyDense(grad: Tensor, variable: Variable): Tensor {
    const lr = rateTensor(this.learningRate, variable.dtype, variable.graph, 'learning_rate');
    return variable.assignSub(mul(lr, grad), { name: 'ApplyGradientDescent' });
  }
}

export interface MomentumOptions {
  /** Nesterov momentum: var -= lr · (grad + momentum · accum). Default false. */
  useNesterov?: boolean;
  name?: string;
}

/** accum = momentum · accum + grad; var -= lr · accum (tf.train.MomentumOptimizer, TF's ApplyMomentum). */
export class MomentumOptimizer extends Optimizer {
  readonly useNesterov: boolean;

  constructor(
    readonly learningRate: LearningRate,
    readonly momentum: LearningRate,
    options: MomentumOptions = {},
  ) {
    super(options.name ?? 'Momentum');
    checkRate('learning rate', learningRate);
    checkRate('momentum', momentum);
    this.useNesterov = options.useNesterov ?? false;
  }

  override getSlotNames(): string[] {
    return ['momentum'];
  }

  protected override createSlots(vars: readonly Variable[]): void {
    for (const v of vars) this.zerosSlot(v, 'momentum', this.name);
  }

  protected applyDense(grad: Tensor, variable: Variable): Tensor {
    const graph = variable.graph;
    const accum = this.getSlot(variable, 'momentum') as Variable;
    const lr = rateTensor(this.learningRate, variable.dtype, graph, 'learning_rate');
    const momentum = rateTensor(this.momentum, variable.dtype, graph, 'momentum');
    const accumNew = accum.assign(add(mul(accum.value, momentum), grad), { name: 'accum_update' });
    const step = this.useNesterov ? add(mul(grad, lr), mul(mul(accumNew, momentum), lr)) : mul(lr, accumNew);
    return variable.assignSub(step, { name: 'ApplyMomentum' });
  }
}

export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  name?: string;
}

/**
 * Adam (Kingma & Ba) as TF 1.x's AdamOptimizer / ApplyAdam kernel computes it:
 * lr_t = lr · sqrt(1 − beta2^t) / (1 − beta1^t); m = beta1·m + (1 − beta1)·g; v = beta2·v + (1 − beta2)·g²;
 * var −= lr_t · m / (sqrt(v) + epsilon); then beta1_power ·= beta1, beta2_power ·= beta2.
 */
export class AdamOptimizer extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  private powers: { beta1: Variable; beta2: Variable } | undefined;

  constructor(
    readonly learningRate: LearningRate = 0.001,
    options: AdamOptions = {},
  ) {
    super(options.name ?? 'Adam');
    checkRate('learning rate', learningRate);
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
  }

  override getSlotNames(): string[] {
    return ['m', 'v'];
  }

  /** The beta1_power and beta2_power accumulators (after the first applyGradients). */
  getBetaAccumulators(): { beta1: Variable; beta2: Variable } | undefined {
    return this.powers;
  }

  protected override createSlots(vars: readonly Variable[]): void {
    // TF colocates the powers with the first variable in name order.
    const first = [...vars].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))[0] as Variable;
    this.powers ??= {
      beta1: this.nonSlot(first, 'beta1_power', this.beta1),
      beta2: this.nonSlot(first, 'beta2_power', this.beta2),
    };
    for (const v of vars) {
      this.zerosSlot(v, 'm', this.name);
      this.zerosSlot(v, 'v', `${this.name}_1`);
    }
  }

  protected applyDense(grad: Tensor, variable: Variable): Tensor {
    const graph = variable.graph;
    const dtype = variable.dtype;
    const { beta1: beta1Power, beta2: beta2Power } = this.powers as { beta1: Variable; beta2: Variable };
    const c = (value: number, name: string) => constant(value, { dtype, graph, name });
    const m = this.getSlot(variable, 'm') as Variable;
    const v = this.getSlot(variable, 'v') as Variable;
    const lr = rateTensor(this.learningRate, dtype, graph, 'learning_rate');
    const one = c(1, 'one');
    const lrT = div(mul(lr, sqrt(sub(one, beta2Power.value))), sub(one, beta1Power.value), { name: 'lr_t' });
    const mNew = m.assign(add(mul(m.value, c(this.beta1, 'beta1')), mul(grad, c(1 - this.beta1, 'one_minus_beta1'))), {
      name: 'm_update',
    });
    const vNew = v.assign(
      add(mul(v.value, c(this.beta2, 'beta2')), mul(mul(grad, grad), c(1 - this.beta2, 'one_minus_beta2'))),
      { name: 'v_update' },
    );
    const step = div(mul(lrT, mNew), add(sqrt(vNew), c(this.epsilon, 'epsilon')));
    return variable.assignSub(step, { name: 'ApplyAdam' });
  }

  protected override finish(
    graph: Graph,
    _vars: readonly Variable[],
    updates: (Tensor | Operation)[],
  ): (Tensor | Operation)[] {
    const { beta1, beta2 } = this.powers as { beta1: Variable; beta2: Variable };
    const powerUpdates = graph.controlDependencies(updates, () =>
      graph.colocateWith(beta1.op, () => [
        beta1.assign(mul(beta1.value, constant(this.beta1, { dtype: beta1.dtype, graph })), { name: 'update_beta1' }),
        beta2.assign(mul(beta2.value, constant(this.beta2, { dtype: beta2.dtype, graph })), { name: 'update_beta2' }),
      ]),
    );
    return [...updates, ...powerUpdates];
  }
}
