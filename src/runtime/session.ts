import { FailedPrecondition, FlowserveError, Internal, InvalidArgument, Unimplemented } from '../errors.js';
import { discoverDevices, type Device } from '../devices/device.js';
import { getDefaultGraph, Operation, Tensor, type Graph } from '../graph/graph.js';
import { HostTensor, type NestedArray } from '../graph/host-tensor.js';
import { formatShape } from '../graph/shape.js';
import { Placer } from '../placement/placer.js';
import { deviceMappingLines, placementLines } from '../placement/log.js';
import { OnnxGraphBuilder } from '../onnx/builder.js';
import { compileModel, DeviceTensor, type CompiledModel, type RuntimeTensor } from './ort.js';
import { lowerPartition } from './lower.js';
import { PartitionStep } from './step.js';
import { partition, type Transfer } from './partition.js';
import { prune } from './prune.js';
import { ortThreadCounts, type ThreadOptions } from './thread-options.js';
import { MAX_STEPS_PER_EXECUTION, UnrolledStep, whyNotUnrollable } from './unrolled-step.js';

/** Session options, mirroring the chapter's ConfigProto where it makes sense; thread counts in ThreadOptions. */
export interface SessionOptions extends ThreadOptions {
  /** Print the device mapping and each op's device (ConfigProto.log_device_placement). */
  logDevicePlacement?: boolean;
  /** Fall back to a supported device instead of failing (ConfigProto.allow_soft_placement). */
  allowSoftPlacement?: boolean;
  /** Devices per type (ConfigProto.device_count); `{ CPU: 2 }` makes two logical CPU devices. */
  deviceCount?: Record<string, number>;
  /**
   * Let idle intra-op threads spin between ops (ONNX Runtime's default, and this option's). false: they sleep,
   * which a long run of many ops (a training step) wants on a machine whose cores other work shares: spinning
   * threads then take the cores the working ones need (docs/performance.md#training).
   */
  allowSpinning?: boolean;
  /** Where log lines go; defaults to console.log (TensorFlow prints the placement to stdout). */
  logger?: (line: string) => void;
  /** Devices to use instead of discovering them (tests). */
  devices?: Device[];
}

export type FeedValue = HostTensor | NestedArray;
export type Feeds =
  | ReadonlyMap<Tensor | string, FeedValue>
  | readonly (readonly [Tensor | string, FeedValue])[]
  | Readonly<Record<string, FeedValue>>;
export type Fetch = Tensor | Operation;

/** Options of Session.makeStepsCallable. */
export interface StepsCallableOptions {
  /** Steps one ONNX Runtime run does (Keras' steps_per_execution), 1 to MAX_STEPS_PER_EXECUTION. */
  stepsPerExecution: number;
  /** What to do when the step cannot be unrolled (several partitions, GPU memory): fail (default), or run steps alone. */
  whenNotUnrollable?: 'error' | 'one-at-a-time';
}

/**
 * Runs 1 to `stepsPerExecution` consecutive steps: `steps[k]` holds step k's feed values in feed-list order; resolves
 * to each step's fetches (null for an op) in fetch order.
 */
export interface StepsCallable {
  (steps: readonly (readonly FeedValue[])[]): Promise<(HostTensor | null)[][]>;
  /** The steps one call runs in one execution: the requested count, or 1 when the step could not be unrolled. */
  readonly stepsPerExecution: number;
}

/** What one `run` did: the partitions it ran and the tensors that crossed devices. */
export interface RunMetadata {
  cacheHit: boolean;
  partitions: { device: string; stage: number; ops: string[] }[];
  transfers: { tensor: string; from: string; to: string; bytes: number }[];
  /** Tensors passed between two partitions of one device in device memory, without a copy through the host. */
  resident: { tensor: string; device: string; bytes: number }[];
  /** Variables this run updated whose new values stayed in device memory (GPU variables), sorted. */
  residentVariables: string[];
}

interface Executable {
  steps: PartitionStep[];
  transfers: Transfer[];
  /** Outputs left in device memory for a later partition on the same device (see Device.residentOutputs). */
  resident: Tensor[];
  /** The static part of RunMetadata, computed once. */
  partitions: RunMetadata['partitions'];
  /** The whole RunMetadata of a cache hit that moved nothing between devices, built on first use. */
  plainMetadata?: RunMetadata;
  /** Some partition may leave outputs in device memory, which the run must dispose of. */
  deviceMemory: boolean;
  /** Some partition outputs a variable's new value (a training step, an assignment). */
  updatesVariables: boolean;
}

/** A variable's new value from a partition: the variable, its device, the value. */
type VariableUpdate = [Operation, Device, RuntimeTensor];

const NO_TARGETS: readonly Operation[] = Object.freeze([]);
const NO_FEEDS: ReadonlyMap<Tensor, HostTensor> = new Map();

/** The ONNX output name of `tensor` in a partition, if it is one (a few outputs: a scan allocates nothing). */
function outputNameOf(step: PartitionStep, tensor: Tensor): string | undefined {
  for (const o of step.lowered.outputs) if (o.tensor === tensor) return o.name;
  return undefined;
}

/** The metadata of a run that moved nothing between devices: the executable's, built once (most runs). */
function plainMetadata(executable: Executable, cacheHit: boolean): RunMetadata {
  executable.plainMetadata ??= Object.freeze({
    cacheHit: true,
    partitions: executable.partitions,
    transfers: [],
    resident: [],
    residentVariables: [],
  });
  return cacheHit ? executable.plainMetadata : { ...executable.plainMetadata, cacheHit };
}

/** Names of the tensors or ops, sorted, comma-separated (one name needs no sort and no array). */
function sortedNames(items: Iterable<Tensor | Operation>): string {
  let first: string | undefined;
  let names: string[] | undefined;
  for (const item of items) {
    if (first === undefined) first = item.name;
    else (names ??= [first]).push(item.name);
  }
  return names ? names.sort().join(',') : (first ?? '');
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The map's keys are exactly `keys` (distinct), in any order: the cache key sorts them anyway. No iterator. */
function sameKeys<T>(keys: readonly T[], map: ReadonlyMap<T, unknown>): boolean {
  if (keys.length !== map.size) return false;
  for (const k of keys) if (!map.has(k)) return false;
  return true;
}

/** A fed shape matches the placeholder's: same rank, and every known dimension equal. */
function shapeFits(fed: readonly number[], declared: readonly (number | null)[]): boolean {
  if (fed.length !== declared.length) return false;
  for (let i = 0; i < fed.length; i++) {
    const d = declared[i];
    if (d !== null && d !== fed[i]) return false;
  }
  return true;
}

/**
 * Runs a graph (tf.Session). `run` prunes the graph to what the fetches need, places it, partitions it by
 * device, lowers each partition to one ONNX model, runs it with the device's ONNX Runtime execution provider
 * and caches that executable per (feeds, fetches, targets) signature. Variables live here, per device.
 *
 * Note: onnxruntime-node blocks the JavaScript thread while a partition computes; `run` is async so that a
 * worker-thread executor can replace it, but today a long step does block the event loop.
 */
export class Session {
  readonly graph: Graph;
  readonly devices: readonly Device[];
  private readonly placer: Placer;
  private readonly log: (line: string) => void;
  private readonly cache = new Map<string, Promise<Executable>>();
  /** The executables of `cache` that finished building. */
  private readonly ready = new Map<string, Executable>();
  /** Per device, each variable's value: on the host, or in device memory for a GPU (see Device.residentOutputs). */
  private readonly variables = new Map<string, Map<string, RuntimeTensor>>();
  /** Identity models that copy a device tensor to the host, per device, dtype and rank (readVariable). */
  private readonly downloaders = new Map<string, Promise<CompiledModel>>();
  /** The unrolled multi-step models makeStepsCallable built (released on close). */
  private readonly unrolledSteps: UnrolledStep[] = [];
  private closed = false;
  private placedOpCount = 0;
  /** The tensors of the last run and their cache key (see signatureKey). */
  private lastSignature:
    { fetches: readonly Tensor[]; targets: readonly Operation[]; feeds: readonly Tensor[]; key: string } | undefined;
  /** checkedInPlace's result while it runs (a field, so that its forEach needs no closure). */
  private feedsPlain = true;
  /** Metadata of the last `run` (partitions, transfers, cache hit). */
  lastRunMetadata: RunMetadata | undefined;
  /** ONNX Runtime's thread counts for every partition, from the options (checked when the Session is made). */
  private readonly threadCounts: ReturnType<typeof ortThreadCounts>;

  constructor(
    graph: Graph = getDefaultGraph(),
    readonly options: SessionOptions = {},
  ) {
    this.graph = graph;
    this.threadCounts = ortThreadCounts(options);
    this.devices = options.devices ?? discoverDevices({ deviceCount: options.deviceCount });
    this.placer = new Placer(this.devices, {
      allowSoftPlacement: options.allowSoftPlacement ?? false,
      log: (line) => this.log(line),
    });
    this.log = options.logger ?? ((line) => console.log(line));
    if (options.logDevicePlacement) deviceMappingLines(this.devices).forEach((l) => this.log(l));
  }

  /** The device each op was placed on (places ops not placed yet). */
  placement(): Map<Operation, Device> {
    this.placeNewOps();
    return new Map(this.graph.operations.map((op) => [op, this.placer.deviceOf(op) as Device]));
  }

  /**
   * Runs `fetches` (a tensor, an op, an array or a record of them) with `feeds`, also running `targets`. Errors
   * come back as a rejected promise, never thrown. Not async: a cached executable's run hands ONNX Runtime's promise
   * on with one `.then` (at batch 1 each hop through the microtask queue shows).
   */
  run(fetches: Tensor, feeds?: Feeds, targets?: readonly Fetch[]): Promise<HostTensor>;
  run(fetches: Operation, feeds?: Feeds, targets?: readonly Fetch[]): Promise<null>;
  run(fetches: Fetch, feeds?: Feeds, targets?: readonly Fetch[]): Promise<HostTensor | null>;
  run(fetches: readonly Fetch[], feeds?: Feeds, targets?: readonly Fetch[]): Promise<(HostTensor | null)[]>;
  run<K extends string>(
    fetches: Readonly<Record<K, Fetch>>,
    feeds?: Feeds,
    targets?: readonly Fetch[],
  ): Promise<Record<K, HostTensor | null>>;
  run(
    fetches: Fetch | readonly Fetch[] | Readonly<Record<string, Fetch>>,
    feeds?: Feeds,
    targets: readonly Fetch[] = [],
  ): Promise<HostTensor | null | (HostTensor | null)[] | Record<string, HostTensor | null>> {
    try {
      if (this.closed) throw new FailedPrecondition('Attempted to use a closed Session.');
      // The common case, one tensor and no targets, allocates nothing more (Session.run at batch 1 is mostly this).
      if (fetches instanceof Tensor && targets.length === 0) {
        this.checkFetch(fetches);
        return this.execute([fetches], NO_TARGETS, this.normalizeFeeds(feeds), fetches);
      }
      const single = fetches instanceof Tensor || fetches instanceof Operation;
      const list: readonly Fetch[] = single
        ? [fetches]
        : Array.isArray(fetches)
          ? (fetches as Fetch[])
          : Object.values(fetches as Record<string, Fetch>);
      for (const f of list) this.checkFetch(f);
      for (const f of targets) this.checkFetch(f);
      const feedMap = this.normalizeFeeds(feeds);
      const fetchTensors = [...new Set(list.filter((f): f is Tensor => f instanceof Tensor))];
      const targetOps: Operation[] = [];
      for (const f of list) if (f instanceof Operation) targetOps.push(f);
      for (const f of targets) if (f instanceof Operation) targetOps.push(f);
      return this.execute(fetchTensors, targetOps, feedMap, undefined).then((values) => {
        const result = (f: Fetch) => (f instanceof Tensor ? (values.get(f) as HostTensor) : null);
        if (single) return result(fetches);
        if (Array.isArray(fetches)) return (fetches as Fetch[]).map(result);
        return Object.fromEntries(Object.entries(fetches as Record<string, Fetch>).map(([k, f]) => [k, result(f)]));
      });
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /**
   * A function that runs `fetches` (and `targets`) with values for the tensors of `feedList`, given in that order
   * (tf.Session.make_callable). The executable is built here, before the first call, so a training loop's first
   * step costs what the others do; each call skips what run() does per call to resolve fetches and feed names and
   * find the executable. Fed values are still checked against their tensor's dtype and shape on every call.
   */
  async makeCallable(
    fetches: Tensor,
    feedList?: readonly (Tensor | string)[],
    targets?: readonly Fetch[],
  ): Promise<(...feedValues: FeedValue[]) => Promise<HostTensor>>;
  async makeCallable(
    fetches: readonly Fetch[],
    feedList?: readonly (Tensor | string)[],
    targets?: readonly Fetch[],
  ): Promise<(...feedValues: FeedValue[]) => Promise<(HostTensor | null)[]>>;
  async makeCallable(
    fetches: Tensor | readonly Fetch[],
    feedList: readonly (Tensor | string)[] = [],
    targets: readonly Fetch[] = [],
  ): Promise<(...feedValues: FeedValue[]) => Promise<HostTensor | (HostTensor | null)[]>> {
    const single = fetches instanceof Tensor;
    const list: readonly Fetch[] = single ? [fetches] : fetches;
    const { fed, fetchTensors, executable } = await this.prepareCallable(list, feedList, targets);
    return async (...feedValues) => {
      const feeds = this.callableFeeds(fed, feedValues);
      const values = await this.runExecutable(executable, true, fetchTensors, feeds, undefined);
      const result = (f: Fetch) =>
        f instanceof Tensor ? ((values as Map<Tensor, HostTensor>).get(f) as HostTensor) : null;
      if (single) return result(fetches) as HostTensor;
      return list.map(result);
    };
  }

  /**
   * Like makeCallable, but the function runs several consecutive steps in one ONNX Runtime run (Keras'
   * `steps_per_execution`): given the feed values of `stepsPerExecution` steps, it runs the step's model unrolled that
   * many times, each step's updated variables feeding the next, and resolves to every step's fetches. Given fewer
   * steps (an epoch's remainder) it runs them one at a time. The values are those of as many calls to makeCallable's
   * function, bit for bit. Needs the step to be one partition whose variables live on the host (a CPU); otherwise it
   * fails, or with `whenNotUnrollable: 'one-at-a-time'` runs every step alone (`stepsPerExecution` then reads 1).
   */
  async makeStepsCallable(
    fetches: readonly Fetch[],
    feedList: readonly (Tensor | string)[],
    targets: readonly Fetch[],
    options: StepsCallableOptions,
  ): Promise<StepsCallable> {
    const requested = options.stepsPerExecution;
    if (!Number.isSafeInteger(requested) || requested < 1 || requested > MAX_STEPS_PER_EXECUTION) {
      throw new InvalidArgument(
        `stepsPerExecution must be an integer from 1 to ${MAX_STEPS_PER_EXECUTION}, got ${String(requested)}`,
      );
    }
    const { fed, fetchTensors, executable } = await this.prepareCallable(fetches, feedList, targets);
    const [step] = executable.steps;
    let unrolled: UnrolledStep | undefined;
    if (requested > 1) {
      const why =
        executable.steps.length !== 1 || !step
          ? `the step runs as ${executable.steps.length} partitions`
          : whyNotUnrollable(step);
      if (why === undefined) {
        unrolled = await UnrolledStep.build(step as PartitionStep, requested, fetchTensors);
        if (this.closed) {
          // Closed while ONNX Runtime built it: close() has released the others already.
          await unrolled.release();
          throw new FailedPrecondition('Attempted to use a closed Session.');
        }
        this.unrolledSteps.push(unrolled);
      } else if (options.whenNotUnrollable !== 'one-at-a-time') {
        throw new Unimplemented(`stepsPerExecution ${requested}: cannot run several steps in one execution: ${why}`);
      }
    }
    const stepsPerExecution = unrolled ? requested : 1;
    const result = (values: ReadonlyMap<Tensor, HostTensor>) =>
      fetches.map((f) => (f instanceof Tensor ? (values.get(f) as HostTensor) : null));
    const call = async (steps: readonly (readonly FeedValue[])[]): Promise<(HostTensor | null)[][]> => {
      if (steps.length < 1 || steps.length > stepsPerExecution) {
        throw new InvalidArgument(`The callable runs 1 to ${stepsPerExecution} step(s) at a time, got ${steps.length}`);
      }
      const feeds = steps.map((values) => this.callableFeeds(fed, values));
      if (unrolled && steps.length === unrolled.steps) {
        const { fetched, updates } = await unrolled.run(feeds, (op) => this.variableValue(op));
        const device = (step as PartitionStep).lowered.partition.device;
        for (const [variable, value] of updates) this.setVariable(device, variable.name, value);
        this.lastRunMetadata = plainMetadata(executable, true);
        return fetched.map((values) => {
          const byTensor = new Map(fetchTensors.map((t, i) => [t, values[i] as HostTensor]));
          return result(byTensor);
        });
      }
      const out: (HostTensor | null)[][] = [];
      for (const stepFeeds of feeds) {
        const values = await this.runExecutable(executable, true, fetchTensors, stepFeeds, undefined);
        out.push(result(values as Map<Tensor, HostTensor>));
      }
      return out;
    };
    return Object.assign(call, { stepsPerExecution });
  }

  /** What makeCallable and makeStepsCallable resolve once: the fed tensors, the fetched ones, the executable. */
  private async prepareCallable(
    list: readonly Fetch[],
    feedList: readonly (Tensor | string)[],
    targets: readonly Fetch[],
  ): Promise<{ fed: Tensor[]; fetchTensors: Tensor[]; executable: Executable }> {
    if (this.closed) throw new FailedPrecondition('Attempted to use a closed Session.');
    for (const f of list) this.checkFetch(f);
    for (const f of targets) this.checkFetch(f);
    const fed = feedList.map((key) => this.feedTensor(key));
    const twice = fed.find((t, i) => fed.indexOf(t) !== i);
    if (twice) throw new InvalidArgument(`makeCallable: Tensor '${twice.name}' is in the feed list twice`);
    const fetchTensors = [...new Set(list.filter((f): f is Tensor => f instanceof Tensor))];
    const targetOps = [...list, ...targets].filter((f): f is Operation => f instanceof Operation);
    this.placeNewOps();
    const fedKeys = new Map(fed.map((t) => [t, null]));
    const key = this.signatureKey(fetchTensors, targetOps, fedKeys);
    const executable = this.ready.get(key) ?? (await this.executableFor(key, fetchTensors, targetOps, fedKeys));
    return { fed, fetchTensors, executable };
  }

  /** A callable's feed values, in feed-list order, checked and keyed by tensor. */
  private callableFeeds(fed: readonly Tensor[], feedValues: readonly FeedValue[]): Map<Tensor, HostTensor> {
    if (this.closed) throw new FailedPrecondition('Attempted to use a closed Session.');
    if (feedValues.length !== fed.length) {
      throw new InvalidArgument(
        `The callable takes ${fed.length} feed value(s) (${fed.map((t) => t.name).join(', ')}), got ${feedValues.length}`,
      );
    }
    const feeds = new Map<Tensor, HostTensor>();
    for (let i = 0; i < fed.length; i++) {
      const tensor = fed[i] as Tensor;
      feeds.set(tensor, this.checkedFeed(tensor, feedValues[i] as FeedValue));
    }
    return feeds;
  }

  /** A variable's current value in its device's store (else FailedPrecondition, as run() says it). */
  private variableValue(op: Operation): RuntimeTensor {
    const value = this.variables.get(this.deviceOfVariable(op).name)?.get(op.name);
    if (!value) throw new FailedPrecondition(`Attempting to use uninitialized value ${op.name}`);
    return value;
  }

  private checkFetch(f: Fetch): void {
    if (!(f instanceof Tensor) && !(f instanceof Operation)) {
      throw new InvalidArgument(`Fetch argument ${String(f)} has invalid type; must be a Tensor or an Operation`);
    }
    if (f.graph !== this.graph)
      throw new InvalidArgument(`Fetch '${f.name}' is not an element of this session's graph`);
  }

  /**
   * The current value of a variable (its VariableV2 op or an object with one), on the host. A variable kept in GPU
   * memory is copied back by a one-node model on that device (ONNX Runtime cannot read a device buffer directly).
   */
  async readVariable(variable: Operation | { op: Operation }): Promise<HostTensor> {
    if (this.closed) throw new FailedPrecondition('Attempted to use a closed Session.');
    const op = variable instanceof Operation ? variable : variable.op;
    const device = this.deviceOfVariable(op);
    const value = this.variables.get(device.name)?.get(op.name);
    if (!value) throw new FailedPrecondition(`Attempting to use uninitialized value ${op.name}`);
    if (value instanceof HostTensor) return value;
    const model = await this.downloader(device, value);
    return (await model.run({ x: value })).y as HostTensor;
  }

  /** Sets a variable's value directly (used by Saver.restore); dtype and shape must match. */
  writeVariable(variable: Operation | { op: Operation }, value: HostTensor): void {
    const op = variable instanceof Operation ? variable : variable.op;
    if (!op.def.variableSource) throw new InvalidArgument(`'${op.name}' is not a variable`);
    const t = op.output;
    if (
      value.dtype !== t.dtype ||
      value.shape.length !== t.shape.length ||
      value.shape.some((d, i) => d !== t.shape[i])
    ) {
      throw new InvalidArgument(
        `Cannot assign a ${value.dtype} value of shape ${formatShape(value.shape)} to variable '${op.name}' of dtype ${t.dtype} and shape ${formatShape(t.shape)}`,
      );
    }
    this.setVariable(this.deviceOfVariable(op), op.name, value);
  }

  /** True when the variable has a value in this session. */
  isInitialized(variable: Operation | { op: Operation }): boolean {
    const op = variable instanceof Operation ? variable : variable.op;
    return this.variables.get(this.deviceOfVariable(op).name)?.has(op.name) ?? false;
  }

  /** Releases every ONNX Runtime session this session created. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Device buffers first: they belong to the sessions' allocators, which release() frees.
    for (const store of this.variables.values()) {
      for (const v of store.values()) if (v instanceof DeviceTensor) v.dispose();
      store.clear();
    }
    const executables = await Promise.allSettled([...this.cache.values()]);
    this.cache.clear();
    this.ready.clear();
    for (const e of executables) {
      if (e.status === 'fulfilled') await Promise.all(e.value.steps.map((s) => s.release()));
    }
    await Promise.all(this.unrolledSteps.splice(0).map((u) => u.release()));
    const downloaders = await Promise.allSettled([...this.downloaders.values()]);
    this.downloaders.clear();
    for (const d of downloaders) if (d.status === 'fulfilled') await d.value.release();
  }

  /** y = Identity(x) on `device` with its output on the host, for `value`'s dtype and rank; compiled once. */
  private downloader(device: Device, value: DeviceTensor): Promise<CompiledModel> {
    const key = `${device.name}|${value.dtype}|${value.shape.length}`;
    let model = this.downloaders.get(key);
    if (!model) {
      const b = new OnnxGraphBuilder('download');
      const shape = value.shape.map(() => null);
      b.input({ name: 'x', dtype: value.dtype, shape });
      b.op('Identity', ['x'], {}, 'y');
      b.output({ name: 'y', dtype: value.dtype, shape });
      model = compileModel(b.build(), { executionProviders: device.executionProviders });
      this.downloaders.set(key, model);
      model.catch(() => this.downloaders.delete(key));
    }
    return model;
  }

  /** Stores a variable's new value; a replaced value in device memory is freed (ONNX Runtime frees on dispose). */
  private setVariable(device: Device, name: string, value: RuntimeTensor): void {
    const store = this.store(device);
    const old = store.get(name);
    store.set(name, value);
    if (old instanceof DeviceTensor && old !== value) old.dispose();
  }

  private deviceOfVariable(op: Operation): Device {
    this.placeNewOps();
    return this.placer.deviceOf(op) as Device;
  }

  private store(device: Device): Map<string, RuntimeTensor> {
    let s = this.variables.get(device.name);
    if (!s) this.variables.set(device.name, (s = new Map()));
    return s;
  }

  private placeNewOps(): void {
    // The graph is append-only: nothing to place unless it grew since the last call (keeps run() cheap).
    if (this.graph.operations.length === this.placedOpCount) return;
    const placed = this.placer.place(this.graph.operations);
    this.placedOpCount = this.graph.operations.length;
    if (this.options.logDevicePlacement && placed.length > 0) {
      // TensorFlow prints generators (placed in a second pass) last; keep graph order otherwise.
      placementLines(placed, (op) => this.placer.deviceOf(op)).forEach((l) => this.log(l));
    }
  }

  /**
   * The feeds as host tensors by graph tensor, each checked against its tensor's dtype and shape. A Map of tensors
   * to host tensors (a serving or training loop's usual feeds) is checked in place and returned as it is: no copy.
   */
  private normalizeFeeds(feeds: Feeds | undefined): ReadonlyMap<Tensor, HostTensor> {
    if (!feeds) return NO_FEEDS;
    if (feeds instanceof Map && this.checkedInPlace(feeds)) return feeds as ReadonlyMap<Tensor, HostTensor>;
    const out = new Map<Tensor, HostTensor>();
    const entries: Iterable<readonly [Tensor | string, FeedValue]> =
      feeds instanceof Map
        ? feeds.entries()
        : Array.isArray(feeds)
          ? (feeds as readonly (readonly [Tensor | string, FeedValue])[])
          : Object.entries(feeds as Record<string, FeedValue>);
    for (const [key, value] of entries) {
      const tensor = this.feedTensor(key);
      out.set(tensor, this.checkedFeed(tensor, value));
    }
    return out;
  }

  /** The graph tensor a feed key names; it must belong to this session's graph. */
  private feedTensor(key: Tensor | string): Tensor {
    const tensor = key instanceof Tensor ? key : this.graph.tensor(key);
    if (tensor.graph !== this.graph)
      throw new InvalidArgument(`Feed tensor '${tensor.name}' is not in this session's graph`);
    return tensor;
  }

  /** A fed value as a host tensor of the tensor's dtype and a shape that fits it (else InvalidArgument). */
  private checkedFeed(tensor: Tensor, value: FeedValue): HostTensor {
    let host: HostTensor;
    if (value instanceof HostTensor) host = value;
    else {
      try {
        host = HostTensor.from(tensor.dtype, value);
      } catch (err) {
        throw new InvalidArgument(`Cannot feed value for Tensor '${tensor.name}': ${(err as Error).message}`);
      }
    }
    this.checkFeed(tensor, host);
    return host;
  }

  /**
   * Checks a Map's feeds when every key is a tensor and every value a host tensor (false, having checked nothing
   * it must convert, otherwise). Throws on a feed that does not fit.
   */
  private checkedInPlace(feeds: ReadonlyMap<unknown, unknown>): boolean {
    this.feedsPlain = true;
    // forEach with this session as `this`: no [key, value] array per entry, no closure per run.
    feeds.forEach(this.checkPlainFeed, this);
    return this.feedsPlain;
  }

  /** checkedInPlace's step for one entry. */
  private checkPlainFeed(value: unknown, key: unknown): void {
    if (this.feedsPlain && key instanceof Tensor && value instanceof HostTensor) this.checkFeed(key, value);
    else this.feedsPlain = false;
  }

  /** A fed value fits its tensor: this graph's, same dtype, and the shape the placeholder allows. */
  private checkFeed(tensor: Tensor, host: HostTensor): void {
    if (tensor.graph !== this.graph)
      throw new InvalidArgument(`Feed tensor '${tensor.name}' is not in this session's graph`);
    if (host.dtype !== tensor.dtype) {
      throw new InvalidArgument(
        `Cannot feed value of dtype ${host.dtype} for Tensor '${tensor.name}', which has dtype ${tensor.dtype}`,
      );
    }
    if (!shapeFits(host.shape, tensor.shape)) {
      throw new InvalidArgument(
        `Cannot feed value of shape ${formatShape(host.shape)} for Tensor '${tensor.name}', which has shape ${formatShape(tensor.shape)}`,
      );
    }
  }

  /**
   * The executable cache's key. The last call's tensors are remembered: a run with the same feeds, fetches and
   * targets in the same order (a serving loop, a training loop) reuses its key without building and hashing a new
   * string.
   */
  private signatureKey(
    fetches: readonly Tensor[],
    targets: readonly Operation[],
    feeds: ReadonlyMap<Tensor, unknown>,
  ): string {
    const last = this.lastSignature;
    if (last && sameItems(last.fetches, fetches) && sameItems(last.targets, targets) && sameKeys(last.feeds, feeds)) {
      return last.key;
    }
    // As DirectSession: feeds -> fetches / targets, each sorted, so argument order does not matter.
    const key = `${sortedNames(feeds.keys())}->${sortedNames(fetches)}/${sortedNames(targets)}`;
    this.lastSignature = { fetches, targets, feeds: [...feeds.keys()], key };
    return key;
  }

  /**
   * Runs the executable of (fetches, targets, feeds), building it first on a cache miss. With `only`, the promise
   * gives that one fetch's value instead of the whole value map.
   */
  private execute(
    fetches: readonly Tensor[],
    targets: readonly Operation[],
    feeds: ReadonlyMap<Tensor, HostTensor>,
    only: Tensor,
  ): Promise<HostTensor>;
  private execute(
    fetches: readonly Tensor[],
    targets: readonly Operation[],
    feeds: ReadonlyMap<Tensor, HostTensor>,
    only: undefined,
  ): Promise<Map<Tensor, HostTensor>>;
  private execute(
    fetches: readonly Tensor[],
    targets: readonly Operation[],
    feeds: ReadonlyMap<Tensor, HostTensor>,
    only: Tensor | undefined,
  ): Promise<HostTensor | Map<Tensor, HostTensor>> {
    this.placeNewOps();
    const key = this.signatureKey(fetches, targets, feeds);
    // A built executable is read without an await: at batch 1 each hop through the microtask queue shows.
    const executable = this.ready.get(key);
    if (executable) return this.runExecutable(executable, true, fetches, feeds, only);
    const cacheHit = this.cache.has(key);
    const building = this.executableFor(key, fetches, targets, feeds);
    // The feeds may be the caller's own map (normalizeFeeds): it is read now, not after the build.
    const fed = new Map(feeds);
    return building.then((e) => this.runExecutable(e, cacheHit, fetches, fed, only));
  }

  /** The executable of the signature `key`, built once: concurrent callers share the one build. */
  private executableFor(
    key: string,
    fetches: readonly Tensor[],
    targets: readonly Operation[],
    feeds: ReadonlyMap<Tensor, unknown>,
  ): Promise<Executable> {
    let building = this.cache.get(key);
    if (!building) {
      const started = this.build(fetches, targets, new Set(feeds.keys()));
      building = started;
      this.cache.set(key, started);
      started.then(
        (e) => this.cache.get(key) === started && this.ready.set(key, e),
        () => this.cache.delete(key),
      );
    }
    return building;
  }

  /** The run itself: one partition on the host without an await (most runs), several through an async loop. */
  private runExecutable(
    executable: Executable,
    cacheHit: boolean,
    fetches: readonly Tensor[],
    feeds: ReadonlyMap<Tensor, HostTensor>,
    only: Tensor | undefined,
  ): Promise<HostTensor | Map<Tensor, HostTensor>> {
    const { steps } = executable;
    const step = steps[0];
    if (steps.length !== 1 || executable.deviceMemory || !step) {
      const values = new Map<Tensor, RuntimeTensor>();
      feeds.forEach((v, t) => values.set(t, v)); // forEach, not the iterator protocol: cheaper at batch 1
      return this.runSteps(executable, cacheHit, fetches, values).then((done) =>
        only ? (done.get(only) as HostTensor) : done,
      );
    }
    // One partition on the host (most runs): its inputs are feeds and variables, none from another partition.
    const variableValues: RuntimeTensor[] = [];
    const inputs = this.stepInputs(step, feeds, variableValues);
    return step.run(inputs, variableValues).then(
      (outputs) => {
        if (only && !executable.updatesVariables) {
          // The one fetch straight from the outputs: no map of the run's values (a batch-1 inference run).
          const name = outputNameOf(step, only);
          const value = name === undefined ? feeds.get(only) : outputs[name];
          if (!(value instanceof HostTensor)) throw new Internal(`fetch '${only.name}' was not computed`);
          this.lastRunMetadata = plainMetadata(executable, cacheHit);
          return value;
        }
        const values = new Map<Tensor, RuntimeTensor>();
        feeds.forEach((v, t) => values.set(t, v));
        const updates = this.storeOutputs(step, outputs, values, undefined);
        this.finishRun(executable, cacheHit, fetches, values, updates, undefined);
        return only ? (values.get(only) as HostTensor) : (values as Map<Tensor, HostTensor>);
      },
      (err: unknown) => {
        throw this.partitionError(step, err);
      },
    );
  }

  /** Runs the partitions in order; what a run left in device memory and no variable kept is freed at the end. */
  private async runSteps(
    executable: Executable,
    cacheHit: boolean,
    fetches: readonly Tensor[],
    values: Map<Tensor, RuntimeTensor>,
  ): Promise<Map<Tensor, HostTensor>> {
    /** Device tensors that became variable values: they outlive the run. */
    const kept = new Set<DeviceTensor>();
    try {
      let updates: VariableUpdate[] | undefined;
      for (const step of executable.steps) {
        const variableValues: RuntimeTensor[] = [];
        const inputs = this.stepInputs(step, values, variableValues);
        let outputs: Record<string, RuntimeTensor>;
        try {
          outputs = await step.run(inputs, variableValues);
        } catch (err) {
          throw this.partitionError(step, err);
        }
        updates = this.storeOutputs(step, outputs, values, updates);
      }
      this.finishRun(executable, cacheHit, fetches, values, updates, kept);
      // The fetches are host tensors (checked by finishRun); the caller reads only those.
      return values as Map<Tensor, HostTensor>;
    } finally {
      // Device memory is freed only on dispose (ONNX Runtime 1.30): what a run left on the device goes with it.
      if (executable.deviceMemory) {
        for (const v of values.values()) if (v instanceof DeviceTensor && !kept.has(v)) v.dispose();
      }
    }
  }

  /** A partition's inputs by name; the variables' current values are also pushed to `variableValues`. */
  private stepInputs(
    step: PartitionStep,
    values: ReadonlyMap<Tensor, RuntimeTensor>,
    variableValues: RuntimeTensor[],
  ): Record<string, RuntimeTensor> {
    const { lowered } = step;
    const inputs: Record<string, RuntimeTensor> = {};
    const store = this.variables.get(lowered.partition.device.name);
    for (const { name, source } of lowered.inputs) {
      if (source.kind === 'variable') {
        const value = store?.get(source.variable.name);
        if (!value) throw new FailedPrecondition(`Attempting to use uninitialized value ${source.variable.name}`);
        inputs[name] = value;
        variableValues.push(value);
      } else {
        inputs[name] = values.get(source.tensor) as RuntimeTensor;
      }
    }
    return inputs;
  }

  /** Records a partition's outputs in `values`; returns `updates` with the variable updates among them added. */
  private storeOutputs(
    step: PartitionStep,
    outputs: Record<string, RuntimeTensor>,
    values: Map<Tensor, RuntimeTensor>,
    updates: VariableUpdate[] | undefined,
  ): VariableUpdate[] | undefined {
    const { lowered } = step;
    for (const { name, tensor } of lowered.outputs) {
      const value = outputs[name] as RuntimeTensor;
      values.set(tensor, value);
      if (tensor.op.def.variableUpdate)
        (updates ??= []).push([tensor.op.inputs[0]?.op as Operation, lowered.partition.device, value]);
    }
    return updates;
  }

  private partitionError(step: PartitionStep, err: unknown): FlowserveError {
    if (err instanceof FlowserveError) return err;
    const { partition: p } = step.lowered;
    return new Internal(
      `running the partition on ${p.device.name} (ops ${p.ops.map((o) => o.name).join(', ')}) failed: ${(err as Error).message}`,
      { cause: err },
    );
  }

  /**
   * After the partitions ran: stores the variables' new values (adding those left in device memory to `kept`),
   * sets lastRunMetadata, and checks that every fetch is on the host.
   */
  private finishRun(
    executable: Executable,
    cacheHit: boolean,
    fetches: readonly Tensor[],
    values: ReadonlyMap<Tensor, RuntimeTensor>,
    updates: readonly VariableUpdate[] | undefined,
    kept: Set<DeviceTensor> | undefined,
  ): void {
    const { transfers, partitions, resident } = executable;
    const residentVariables: string[] = [];
    for (const [variable, device, value] of updates ?? []) {
      if (value instanceof DeviceTensor) {
        kept?.add(value);
        residentVariables.push(variable.name);
      }
      this.setVariable(device, variable.name, value);
    }
    if (transfers.length === 0 && resident.length === 0 && residentVariables.length === 0) {
      // Nothing of this run's own to report: the executable's metadata, built once (most runs, at any batch).
      this.lastRunMetadata = plainMetadata(executable, cacheHit);
    } else {
      this.lastRunMetadata = {
        cacheHit,
        partitions,
        transfers: transfers.map((t) => ({
          tensor: t.tensor.name,
          from: t.from.name,
          to: t.to.name,
          bytes: values.get(t.tensor)?.byteLength() ?? 0,
        })),
        resident: resident.map((t) => ({
          tensor: t.name,
          device: (this.placer.deviceOf(t.op) as Device).name,
          bytes: values.get(t)?.byteLength() ?? 0,
        })),
        residentVariables: [...new Set(residentVariables)].sort(),
      };
    }
    for (const f of fetches) {
      if (!(values.get(f) instanceof HostTensor)) throw new Internal(`fetch '${f.name}' was not computed`);
    }
  }

  private async build(
    fetches: readonly Tensor[],
    targets: readonly Operation[],
    fed: ReadonlySet<Tensor>,
  ): Promise<Executable> {
    const ops = prune(fetches, targets, fed);
    for (const op of ops) {
      if (op.def.type === 'Placeholder') {
        throw new InvalidArgument(
          `You must feed a value for placeholder tensor '${op.name}' with dtype ${op.output.dtype} and shape ${formatShape(op.output.shape)}`,
        );
      }
    }
    const deviceOf = (op: Operation) => {
      const d = this.placer.deviceOf(op);
      if (!d) throw new Internal(`operation '${op.name}' was not placed`);
      return d;
    };
    const { partitions, transfers } = partition(ops, deviceOf, fed);
    const fetchSet = new Set(fetches);
    const partitionOf = new Map<Operation, (typeof partitions)[number]>();
    for (const p of partitions) for (const op of p.ops) partitionOf.set(op, p);
    const consumerPartitions = new Map<Tensor, Set<(typeof partitions)[number] | undefined>>();
    for (const op of ops) {
      op.inputs.forEach((t) => {
        const set = consumerPartitions.get(t) ?? new Set();
        set.add(partitionOf.get(op));
        consumerPartitions.set(t, set);
      });
    }
    const steps: Executable['steps'] = [];
    const resident: Tensor[] = [];
    for (const p of partitions) {
      const needOutside = (t: Tensor) =>
        fetchSet.has(t) ||
        t.op.def.variableUpdate !== undefined ||
        [...(consumerPartitions.get(t) ?? [])].some((c) => c !== p);
      const lowered = lowerPartition(p, fed, needOutside);
      if (lowered.outputs.length === 0) continue;
      const device = p.device;
      // An output only later partitions of this same device read stays in device memory, and so does a variable's
      // new value (TensorFlow keeps tensors and variables on their GPU): no download and upload per step.
      const stayOnDevice = (t: Tensor) =>
        device.residentOutputs === true &&
        !fetchSet.has(t) &&
        [...(consumerPartitions.get(t) ?? [])].every((c) => c?.device === device);
      const deviceOutputs = lowered.outputs.filter((o) => stayOnDevice(o.tensor));
      resident.push(...deviceOutputs.filter((o) => !o.tensor.op.def.variableUpdate).map((o) => o.tensor));
      const compileOptions = {
        executionProviders: device.executionProviders,
        ...this.threadCounts,
        ...(this.options.allowSpinning === false ? { allowSpinning: false } : {}),
        ...(deviceOutputs.length ? { deviceOutputs: deviceOutputs.map((o) => o.name) } : {}),
      };
      const compiled = await compileModel(lowered.model, compileOptions).catch((err: unknown) => {
        throw new Internal(`ONNX Runtime could not load the partition for ${device.name}: ${(err as Error).message}`, {
          cause: err,
        });
      });
      // Only a partition that updates no variable may have its variables baked in (see PartitionStep).
      const readOnly = !p.ops.some((op) => op.def.variableUpdate);
      const relowerFrozen = readOnly
        ? (values: ReadonlyMap<Operation, HostTensor>) =>
            lowerPartition(p, fed, needOutside, {
              freezeVariable: (op, name, b) => b.namedConstant(name, values.get(op) as HostTensor),
            })
        : undefined;
      steps.push(new PartitionStep(lowered, compiled, relowerFrozen, compileOptions));
    }
    const partitionInfo = steps.map(({ lowered: { partition: p } }) => ({
      device: p.device.name,
      stage: p.stage,
      ops: p.ops.map((o) => o.name),
    }));
    const deviceMemory = steps.some((s) => s.lowered.partition.device.residentOutputs === true);
    const updatesVariables = steps.some((s) => s.lowered.outputs.some((o) => o.tensor.op.def.variableUpdate));
    return { steps, transfers, partitions: partitionInfo, resident, deviceMemory, updatesVariables };
  }
}
