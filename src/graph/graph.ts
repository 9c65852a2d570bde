import { InvalidArgument, NotFound } from '../errors.js';
import { deviceSpecToString, mergeDeviceSpecs, parseDeviceSpec, type DeviceSpec } from '../devices/device-spec.js';
import type { DType } from './dtype.js';
import type { OpDef } from './op-def.js';
import type { Shape } from './shape.js';

/**
 * A symbolic tensor: output `index` of an operation, with a static dtype and (partially known) shape.
 * Its name is TensorFlow's `op_name:index`.
 */
export class Tensor {
  constructor(
    readonly op: Operation,
    readonly index: number,
    readonly dtype: DType,
    readonly shape: Shape,
  ) {}

  get name(): string {
    return `${this.op.name}:${this.index}`;
  }

  get graph(): Graph {
    return this.op.graph;
  }

  get rank(): number {
    return this.shape.length;
  }

  toString(): string {
    return `Tensor("${this.name}", shape=[${this.shape.map((d) => (d === null ? '?' : d)).join(', ')}], dtype=${this.dtype})`;
  }
}

export type Attrs = Record<string, unknown>;

/** A node of the graph. Everything op-specific lives in its `def` (src/ops/). */
export class Operation {
  readonly outputs: Tensor[] = [];

  constructor(
    readonly graph: Graph,
    /** Creation order; the placer and the lowering keep graph order by it. */
    readonly id: number,
    readonly name: string,
    readonly def: OpDef,
    readonly inputs: readonly Tensor[],
    readonly controlInputs: readonly Operation[],
    readonly attrs: Readonly<Attrs>,
    /** The device requested by device scopes, canonical (`/device:CPU:0`), '' when none. */
    public requestedDevice: string,
    /** Names of ops this one must share a device with (TensorFlow's `_class: loc:@name`). */
    readonly colocationGroups: readonly string[],
  ) {}

  get type(): string {
    return this.def.type;
  }

  /** The first output, for the common single-output op. */
  get output(): Tensor {
    const t = this.outputs[0];
    if (!t) throw new InvalidArgument(`operation '${this.name}' (${this.type}) has no outputs`);
    return t;
  }

  toString(): string {
    return `Operation("${this.name}", type=${this.type})`;
  }
}

type DeviceFunction = (op: { name: string; type: string; device: string }) => string;
type DeviceScope = { kind: 'spec'; spec: DeviceSpec } | { kind: 'fn'; fn: DeviceFunction } | { kind: 'clear' };

export interface AddOpOptions<A extends object = Attrs> {
  /** The op's definition; its attribute type fixes the type of `attrs`. */
  def: OpDef<A>;
  inputs?: readonly Tensor[];
  attrs?: A;
  name?: string;
  /** The name was already made unique with `uniqueName` (and is taken as it is). */
  reservedName?: boolean;
}

/**
 * A dataflow graph: an append-only list of operations with TensorFlow's naming, name scopes, device scopes,
 * control-dependency scopes and colocation scopes. Ops are created by the functions in src/ops/, which call
 * `addOp`; shape and dtype inference runs there, at build time.
 */
export class Graph {
  private readonly opList: Operation[] = [];
  private readonly byName = new Map<string, Operation>();
  /** Counts per base name for TensorFlow-style uniquification (`a`, `a_1`, `a_2`). */
  private readonly nameCounts = new Map<string, number>();
  private readonly nameScopes: string[] = [];
  private readonly deviceScopes: DeviceScope[] = [];
  private readonly controlScopes: Operation[][] = [];
  private readonly colocationScopes: Operation[] = [];
  /** Named lists of ops, as TensorFlow's collections (variables, trainable_variables, …). */
  readonly collections = new Map<string, unknown[]>();
  /** Per-graph counter for ops that need distinct seeds (random ops without an explicit seed). */
  private seedCounter = 0;
  /** Graph-level random seed (tf.set_random_seed); undefined = nondeterministic. */
  randomSeed: number | undefined;

  get operations(): readonly Operation[] {
    return this.opList;
  }

  /** Looks up an operation by name; the error names the missing op. */
  operation(name: string): Operation {
    const op = this.byName.get(name);
    if (!op) throw new NotFound(`The name '${name}' refers to an Operation not in the graph.`);
    return op;
  }

  hasOperation(name: string): boolean {
    return this.byName.has(name);
  }

  /** Looks up a tensor by TensorFlow name (`op:0`, or `op` for output 0). */
  tensor(name: string): Tensor {
    const m = /^(.*?)(?::(\d+))?$/.exec(name);
    const opName = m?.[1] ?? name;
    const index = Number(m?.[2] ?? 0);
    const op = this.byName.get(opName);
    if (!op)
      throw new NotFound(
        `The name '${name}' refers to a Tensor which does not exist. The operation, '${opName}', does not exist in the graph.`,
      );
    const t = op.outputs[index];
    if (!t)
      throw new NotFound(
        `The name '${name}' refers to a Tensor which does not exist. The operation, '${opName}', exists but only has ${op.outputs.length} outputs.`,
      );
    return t;
  }

  /** Runs `fn` with names prefixed by `name/` (nested scopes join with `/`). */
  nameScope<T>(name: string, fn: () => T, options: { reserved?: boolean } = {}): T {
    // `reserved`: `name` is a full scope already made unique (e.g. a variable's own name).
    const scope = options.reserved ? name : this.uniqueName(name);
    this.nameScopes.push(scope);
    try {
      return fn();
    } finally {
      this.nameScopes.pop();
    }
  }

  /** The current name scope prefix, e.g. `gradients/MatMul_grad`. */
  currentNameScope(): string {
    return this.nameScopes[this.nameScopes.length - 1] ?? '';
  }

  /**
   * Runs `fn` with a device scope: a spec string merged field by field with the enclosing scopes, a function
   * from op to device string, or `null` to clear every enclosing scope (as `tf.device(None)`).
   */
  device<T>(spec: string | null | DeviceFunction, fn: () => T): T {
    const scope: DeviceScope =
      spec === null
        ? { kind: 'clear' }
        : typeof spec === 'function'
          ? { kind: 'fn', fn: spec }
          : { kind: 'spec', spec: parseDeviceSpec(spec) };
    this.deviceScopes.push(scope);
    try {
      return fn();
    } finally {
      this.deviceScopes.pop();
    }
  }

  /** Runs `fn` so that every op created inside waits for `deps` (TensorFlow's control_dependencies). */
  controlDependencies<T>(deps: readonly (Operation | Tensor)[] | null, fn: () => T): T {
    this.controlScopes.push(deps === null ? [] : deps.map((d) => (d instanceof Tensor ? d.op : d)));
    const clear = deps === null;
    const saved = clear ? this.controlScopes.splice(0, this.controlScopes.length - 1) : [];
    try {
      return fn();
    } finally {
      this.controlScopes.pop();
      if (clear) this.controlScopes.unshift(...saved);
    }
  }

  /** Runs `fn` so that every op created inside shares a device with `op` (TensorFlow's colocate_with). */
  colocateWith<T>(op: Operation | Tensor, fn: () => T): T {
    this.colocationScopes.push(op instanceof Tensor ? op.op : op);
    try {
      return fn();
    } finally {
      this.colocationScopes.pop();
    }
  }

  /** Returns a name unique in this graph under the current name scope (`a`, `a_1`, …), as TensorFlow's unique_name. */
  uniqueName(base: string): string {
    const scope = this.currentNameScope();
    const full = scope ? `${scope}/${base}` : base;
    const baseKey = full.toLowerCase();
    let i = this.nameCounts.get(baseKey) ?? 0;
    this.nameCounts.set(baseKey, i + 1);
    if (i === 0) return full;
    let key = baseKey;
    while (this.nameCounts.has(key)) key = `${baseKey}_${i++}`;
    this.nameCounts.set(key, 1);
    return `${full}_${i - 1}`;
  }

  /** Draws a distinct op-level seed for a random op when the caller gave none. */
  nextOpSeed(): number {
    return ++this.seedCounter;
  }

  /** Creates an operation: names it, applies scopes, checks inputs belong here, infers outputs. */
  addOp<A extends object>(options: AddOpOptions<A>): Operation {
    // Operations keep their definition with the general attribute type; each def reads back its own attrs.
    const def = options.def as unknown as OpDef;
    const { inputs = [], name, reservedName } = options;
    const attrs = (options.attrs ?? {}) as Attrs;
    for (const [i, t] of inputs.entries()) {
      if (!(t instanceof Tensor)) {
        throw new InvalidArgument(`input ${i} of ${def.type} op '${name ?? def.type}' is not a Tensor`);
      }
      if (t.graph !== this) {
        throw new InvalidArgument(
          `Tensor '${t.name}' passed to ${def.type} op '${name ?? def.type}' must be from the same graph`,
        );
      }
    }
    if (name !== undefined && !/^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$/.test(name)) {
      throw new InvalidArgument(`'${name}' is not a valid operation name`);
    }
    if (reservedName && (name === undefined || this.byName.has(name))) {
      throw new InvalidArgument(`operation name '${name}' is already used in the graph`);
    }
    const opName = reservedName ? (name as string) : this.uniqueName(name ?? def.type);
    const outputs = def.infer(inputs, attrs, opName);
    const control = [...new Set(this.controlScopes.flat())];
    const coloc = this.colocationScopes[this.colocationScopes.length - 1];
    const colocationGroups = coloc ? [coloc.colocationGroups[0] ?? coloc.name] : [];
    const requested = coloc ? coloc.requestedDevice : this.resolveDevice(opName, def.type);
    const op = new Operation(
      this,
      this.opList.length,
      opName,
      def,
      inputs,
      control,
      attrs,
      requested,
      colocationGroups,
    );
    for (const [i, o] of outputs.entries()) op.outputs.push(new Tensor(op, i, o.dtype, o.shape));
    this.opList.push(op);
    this.byName.set(opName, op);
    return op;
  }

  private resolveDevice(opName: string, type: string): string {
    // Device functions apply innermost first; each outer spec fills only the fields still unset.
    let device: DeviceSpec = {};
    let deviceString = '';
    for (let i = this.deviceScopes.length - 1; i >= 0; i--) {
      const scope = this.deviceScopes[i] as DeviceScope;
      if (scope.kind === 'clear') break;
      if (scope.kind === 'spec') {
        device = mergeDeviceSpecs(scope.spec, device);
        deviceString = deviceSpecToString(device);
      } else {
        deviceString = scope.fn({ name: opName, type, device: deviceString });
        device = deviceString ? parseDeviceSpec(deviceString) : {};
      }
    }
    return deviceString ? deviceSpecToString(device) : '';
  }

  addToCollection(key: string, value: unknown): void {
    const list = this.collections.get(key) ?? [];
    list.push(value);
    this.collections.set(key, list);
  }

  getCollection<T>(key: string): T[] {
    return [...((this.collections.get(key) ?? []) as T[])];
  }
}

let defaultGraph = new Graph();

/** The graph that source ops (constant, placeholder, variable, …) use when given no `graph` option. */
export function getDefaultGraph(): Graph {
  return defaultGraph;
}

/** Replaces the default graph with a fresh one (tf.reset_default_graph). */
export function resetDefaultGraph(): Graph {
  defaultGraph = new Graph();
  return defaultGraph;
}

/** Runs `fn` with `graph` as the default graph (graph.as_default()). */
export function withGraph<T>(graph: Graph, fn: () => T): T {
  const saved = defaultGraph;
  defaultGraph = graph;
  try {
    return fn();
  } finally {
    defaultGraph = saved;
  }
}
