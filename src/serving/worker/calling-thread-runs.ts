/**
 * Runs of tiny models on the calling thread. A request's hop to an inference worker costs the main thread ~60 µs
 * (postMessage, waking the worker, the reply's message event: docs/performance.md, "Serving"), more than the whole
 * run of a small model such as the MNIST softmax (~35 µs). For such a model, computing on the calling thread is
 * cheaper than handing the work off, and it blocks the event loop for less time than the hand-off itself does.
 *
 * Nothing runs here on trust: a model qualifies only once its runs in the workers have been measured, and then only
 * requests whose predicted run time (measured by run size: run-cost-estimate.ts) fits RUN_BUDGET_NS.
 * Every run here is measured too, so a model that turns out slower goes back to the workers. Within one turn of
 * the event loop at most TURN_BUDGET_NS of predicted work runs here; what arrives beyond that in the same turn (many
 * connections at once) goes to the workers, so under load the other cores still compute. Runs cheaper than their
 * hand-off (CHEAPER_THAN_HANDOFF_NS) are the exception: handing them off would cost the event loop as much as
 * computing them, so they may fill a turn up to CHEAP_TURN_BUDGET_NS. A slow model never qualifies: the event loop
 * stays free for status, metrics and other connections while it computes.
 *
 * The run itself uses ONNX Runtime's native session synchronously where onnxruntime-node allows it
 * (ort-sync-session.ts): no setImmediate and promise chain around a compute of a few µs. A tiny dense model (the
 * MNIST softmax) computes in JavaScript instead (dense-plan.ts), where ONNX Runtime's fixed cost per run exceeds
 * the arithmetic, for runs within the plan's `maxRows`. The pool (worker-pool.ts) then decides at the end of the turn whether a run computes here: a cheap run of a client
 * connection's burst always; a dearer one only when the model's other runs in flight, if any, came on the same
 * client connection in the same turn.
 */
import * as ort from 'onnxruntime-node';
import { isDType } from '../../graph/dtype.js';
import { HostTensor } from '../../graph/host-tensor.js';
import { DensePlan, loadDensePlan } from './dense-plan.js';
import { createSyncSession, SyncSession } from './ort-sync-session.js';
import { RunCostEstimate } from './run-cost-estimate.js';

/** A run predicted to take longer than this goes to a worker. */
export const RUN_BUDGET_NS = 150_000;
/**
 * A model whose runs the workers measure within this may compute probe runs here (`probes`), to be measured here: a
 * worker's measurement of a tiny run holds its asynchronous session's turn and promise and, between runs, a sleeping
 * thread's cold caches, several times the compute here.
 */
export const PROBE_BUDGET_NS = 2 * RUN_BUDGET_NS;
/**
 * A merged batch of the batch scheduler predicted within this computes here, whatever else is in flight
 * (`computesBatchHere`). Its compute stands for many requests' runs, each of which would otherwise have computed
 * here or been handed off: with batching on at 64 streams on one connection (2 cores, the load's client beside the
 * server), the MNIST softmax's batches of ~11 rows took ~95 µs each here, over the bound on cheap runs. With
 * every batch within this bound here, the server used 0.92–1.15× batching off's CPU a request, against 1.15–1.39×
 * with half of them or more handed off by that bound: a worker's share took the cores from the event loop and the
 * clients (docs/performance.md, "Round 14").
 */
export const BATCH_RUN_BUDGET_NS = PROBE_BUDGET_NS;
/** Predicted calling-thread compute per turn of the event loop; requests beyond it in the same turn go to workers. */
export const TURN_BUDGET_NS = 300_000;
/**
 * A run predicted to compute within this is cheaper here than its hand-off to a worker, at any load: the hand-off
 * costs the main thread about as much as such a run (v2 REST binary at 32 connections: 35–40 µs of main-thread CPU
 * a request with every run in a worker, 38–39 µs with every run here, the MNIST softmax's run ≈ 8 µs), and the
 * worker ~20 µs more of the other core's, which on a 2-core machine the load's own clients need. Handing such runs
 * off therefore frees nothing on the event loop (docs/performance.md, "Round 11"). These runs may fill a turn up to
 * CHEAP_TURN_BUDGET_NS, not just TURN_BUDGET_NS, and the pool lets them compute here whatever else is in flight.
 */
export const CHEAPER_THAN_HANDOFF_NS = 20_000;
/**
 * The bound on a turn's calling-thread compute when its runs are all cheap (CHEAPER_THAN_HANDOFF_NS): about 200 runs
 * of the MNIST softmax. It only bounds a turn of hundreds of requests; those beyond it go to the workers.
 */
export const CHEAP_TURN_BUDGET_NS = 2_000_000;
/** Larger model files are never loaded on the calling thread (creating a session blocks it while it parses). */
export const MAX_MODEL_BYTES = 1024 * 1024;
/** Runs of a size measured before that size may qualify (their median is its first estimate). */
const MEASURED_RUNS = 16;
/**
 * Runs of a size measured here before that measurement counts (`isCheap`): the first runs here are slow (the JIT has
 * not compiled the dense plan's kernel yet, the caches are cold), so the median of these is taken, as for the workers'.
 */
export const HERE_MEASURED_RUNS = 8;

/** Runs of a dense plan on zeros before it serves (DensePlan.runZeros): V8 has optimised its kernel by then. */
const DENSE_PLAN_WARM_RUNS = 32;
/** The last warm runs, timed: their median is the machine's speed at the plan's kernel (`machineFactor`). */
const DENSE_PLAN_TIMED_RUNS = 8;
/**
 * The dense plan's time a multiply-add on the machine where CHEAPER_THAN_HANDOFF_NS was measured: the MNIST softmax's
 * 7,840 in 9.4 µs, a run after other work had cooled the caches, as warm-up runs one a turn are (docs/performance.md,
 * "Round 12").
 */
export const REFERENCE_NS_PER_MAC = 9_400 / 7_840;
/**
 * The most the bound on cheap runs is scaled up for a slow machine (`cheapBoundNs`). The reference is the JavaScript
 * kernel's. Where the plan's products run in WebAssembly (wasm-dense.ts), the warm-up times V8's baseline code for
 * the kernel, and came out 2.0–3.5 on a slow machine against 3.5–4.1 with the JavaScript kernel (docs/performance.md,
 * "Round 16"); either way a run of the plan stays well within the bound.
 */
export const MAX_MACHINE_FACTOR = 8;

/**
 * How much slower than the reference machine this one is, from the dense plan's measured time a multiply-add:
 * between 1 (a faster machine keeps the reference's bound) and MAX_MACHINE_FACTOR.
 */
export function machineFactorOf(nsPerMac: number): number {
  return Math.min(MAX_MACHINE_FACTOR, Math.max(1, nsPerMac / REFERENCE_NS_PER_MAC));
}

/**
 * DENSE_PLAN_WARM_RUNS runs of `plan`, one a turn of the event loop, so that none holds it up for long; returns the
 * median time a multiply-add of the last DENSE_PLAN_TIMED_RUNS.
 */
async function warmUp(plan: DensePlan): Promise<number> {
  const timed: number[] = [];
  for (let i = 0; i < DENSE_PLAN_WARM_RUNS; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    const started = process.hrtime.bigint();
    plan.runZeros();
    if (i >= DENSE_PLAN_WARM_RUNS - DENSE_PLAN_TIMED_RUNS) timed.push(Number(process.hrtime.bigint() - started));
  }
  timed.sort((a, b) => a - b);
  return (timed[timed.length >> 1] as number) / (plan.macsPerExample * plan.zeroRows);
}

let turnSpentNs = 0;
let turnResetScheduled = false;

/** Books `ns` of predicted work on this turn's budget (`budgetNs`), or returns false when it does not fit. */
function bookTurn(ns: number, budgetNs: number): boolean {
  if (turnSpentNs + ns > budgetNs) return false;
  turnSpentNs += ns;
  if (!turnResetScheduled) {
    turnResetScheduled = true;
    setImmediate(() => {
      turnSpentNs = 0;
      turnResetScheduled = false;
    });
  }
  return true;
}

/** From the shapes: the data of feeds sent to a worker has been transferred away (detached) by then. */
function elementCount(feeds: Record<string, HostTensor>): number {
  let n = 0;
  for (const name in feeds) {
    let size = 1;
    for (const d of (feeds[name] as HostTensor).shape) size *= d;
    n += size;
  }
  return Math.max(1, n);
}

export interface CallingThreadOptions {
  /** Only CPU models qualify, and only when the model file is at most MAX_MODEL_BYTES. */
  eligible: boolean;
  /** Turns the feature off (tests that must see every run in a worker, or an operator's choice). */
  disabled?: boolean;
  /** Runs predicted within this are cheap (`isCheap`); default CHEAPER_THAN_HANDOFF_NS, 0 for none (tests). */
  cheapRunNs?: number;
  /** Tiny dense models compute here in JavaScript (dense-plan.ts); default true, false: always ONNX Runtime. */
  jsDenseRuns?: boolean;
  /** Told once, when the model's runs here start computing in JavaScript (operators may need ONNX Runtime's bits). */
  log?: (level: 'info', message: string) => void;
}

export class CallingThreadRuns {
  /** Every run's compute, in a worker or here, by run size. */
  private readonly measuredAnywhere = new RunCostEstimate(MEASURED_RUNS);
  /**
   * The compute of the runs computed here only. A worker's measurement also holds its public session's promise and
   * turn, so the workers can measure a model dear that computes cheaply here; a run here after a sleep is slow too
   * (cold caches: docs/performance.md, "Round 10"). `predictHereNs` takes the lower of the two estimates, so that
   * either kind of run, once measured cheap, makes the model cheap: taking only one, a model measured dear there would
   * send its runs where it is never measured again.
   */
  private readonly measuredHere = new RunCostEstimate(HERE_MEASURED_RUNS);
  /** How much slower than the reference machine this one ran the dense plan's warm-up (`cheapBoundNs`); 1 without. */
  private machineFactor = 1;
  /** Probes (`probes`) granted in this turn of the event loop. */
  private probesThisTurn = 0;
  /** Native and synchronous where onnxruntime-node allows it (ort-sync-session.ts), else the public session. */
  private session: SyncSession | ort.InferenceSession | undefined;
  /** The model as a JavaScript plan, beside the synchronous session, when it is a tiny dense one (dense-plan.ts). */
  private dense: DensePlan | undefined;
  /** Runs the dense plan computed. */
  javascriptRuns = 0;
  private loading = false;
  private released = false;

  constructor(
    private readonly modelPath: string,
    private readonly options: CallingThreadOptions,
  ) {}

  /** A run's predicted compute (ns) from the runs measured so far; Infinity before there is an estimate. */
  predictNs(feeds: Record<string, HostTensor>): number {
    return this.measuredAnywhere.predictNs(elementCount(feeds));
  }

  /** Records a run's measured compute time (in a worker, or here when `here`). */
  observe(inferNs: number, feeds: Record<string, HostTensor>, here = false): void {
    const elements = elementCount(feeds);
    if (here) this.measuredHere.observe(elements, inferNs);
    this.measuredAnywhere.observe(elements, inferNs);
    if (!this.options.eligible || this.options.disabled || this.session || this.loading) return;
    if (this.measuredAnywhere.predictNs(elements) <= PROBE_BUDGET_NS) void this.load();
  }

  private async load(): Promise<void> {
    this.loading = true;
    try {
      const session =
        createSyncSession(this.modelPath) ??
        (await ort.InferenceSession.create(this.modelPath, {
          intraOpNumThreads: 1,
          interOpNumThreads: 1,
          executionProviders: ['cpu'],
        }));
      const plan =
        session instanceof SyncSession && this.options.jsDenseRuns !== false
          ? await loadDensePlan(this.modelPath, MAX_MODEL_BYTES)
          : undefined;
      const nsPerMac = plan instanceof DensePlan ? await warmUp(plan) : undefined;
      if (this.released) await session.release();
      else {
        if (plan instanceof DensePlan) {
          this.dense = plan;
          this.machineFactor = machineFactorOf(nsPerMac ?? 0);
          const products = plan.kernel === 'webassembly' ? ', its products in WebAssembly SIMD' : '';
          this.options.log?.(
            'info',
            `${this.modelPath}: its runs of up to ${plan.maxRows} rows on the main thread compute in JavaScript, a dense ` +
              `plan of ${plan.macsPerExample} multiply-adds a row${products} (--js_dense_runs=false keeps ONNX Runtime)`,
          );
        }
        this.session = session;
      }
    } catch {
      // The workers loaded it; a calling-thread session that cannot be made only costs the shortcut.
    }
  }

  /**
   * The bound on a cheap run (`isCheap`): CHEAPER_THAN_HANDOFF_NS, measured on one machine, times how much slower
   * this one ran the dense plan's warm-up (1 for a model without a plan; at most MAX_MACHINE_FACTOR). A hand-off's
   * cost to the event loop grows with the machine's slowness as a run here does: on a machine that ran the plan about
   * 3× slower, its runs here took 28–37 µs, above the constant, while gRPC Predict on one connection with 64 streams
   * answered 1.11–1.28× the requests a second with them here (docs/performance.md, "Round 13").
   */
  get cheapBoundNs(): number {
    return this.options.cheapRunNs ?? CHEAPER_THAN_HANDOFF_NS * this.machineFactor;
  }

  /**
   * Whether a run of `feeds` is predicted to cost less here than its hand-off to a worker (`cheapBoundNs`). False
   * before there is an estimate.
   */
  isCheap(feeds: Record<string, HostTensor>): boolean {
    return this.predictHereNs(feeds) <= this.cheapBoundNs;
  }

  /** Whether a merged batch of `feeds` computes here whatever else is in flight (BATCH_RUN_BUDGET_NS). */
  computesBatchHere(feeds: Record<string, HostTensor>): boolean {
    return this.computesBatchOfHere(elementCount(feeds));
  }

  /** computesBatchHere for a batch of `elements` input elements, before it is merged (the batch scheduler's share). */
  computesBatchOfHere(elements: number): boolean {
    return this.session !== undefined && this.predictHereNsOf(elements) <= BATCH_RUN_BUDGET_NS;
  }

  /**
   * Whether a run of `feeds` should compute here only to be measured here: runs of its size have not been measured
   * here yet (HERE_MEASURED_RUNS), and the workers' measurement is within PROBE_BUDGET_NS. A server that starts under
   * load, every burst too large for the calling thread and every worker busy, would otherwise send all runs to the
   * workers and never learn that they are cheaper here than their hand-off (`isCheap`). Up to HERE_MEASURED_RUNS
   * probes a turn of the event loop, so that they compute back to back, as a burst's runs here do: a lone probe
   * between other work measured the MNIST softmax at 64 µs on a slow machine, the runs of a probing burst at 28 µs
   * (docs/performance.md, "Round 13"). Granted here when true; tryRun still bounds the turn's compute.
   */
  probes(feeds: Record<string, HostTensor>): boolean {
    if (this.session === undefined || this.measuredHere.measured(elementCount(feeds))) return false;
    if (this.probesThisTurn >= HERE_MEASURED_RUNS || !(this.predictNs(feeds) <= PROBE_BUDGET_NS)) return false;
    if (this.probesThisTurn++ === 0) setImmediate(() => (this.probesThisTurn = 0));
    return true;
  }

  /**
   * A run's predicted compute here (`isCheap`, `qualifies`, `tryRun`): the lower of the two estimates
   * (`measuredHere` says why), Infinity before the first estimate of all runs.
   */
  private predictHereNs(feeds: Record<string, HostTensor>): number {
    return this.predictHereNsOf(elementCount(feeds));
  }

  private predictHereNsOf(elements: number): number {
    const anywhere = this.measuredAnywhere.predictNs(elements);
    return anywhere === Infinity ? Infinity : Math.min(anywhere, this.measuredHere.predictNs(elements));
  }

  /**
   * Whether a run of `feeds` may compute here (the model qualifies, the run fits `runBudgetNs`: tryRun says which):
   * not yet booked.
   */
  qualifies(feeds: Record<string, HostTensor>, runBudgetNs = RUN_BUDGET_NS): boolean {
    return this.session !== undefined && this.predictHereNs(feeds) <= runBudgetNs;
  }

  /** Whether runs here compute synchronously (ort-sync-session.ts): false before the session is loaded. */
  get synchronous(): boolean {
    return this.session instanceof SyncSession;
  }

  /**
   * Runs `feeds` here when the model qualifies, the run's predicted compute fits `runBudgetNs` (RUN_BUDGET_NS;
   * PROBE_BUDGET_NS for a probe, BATCH_RUN_BUDGET_NS for a merged batch), and it fits this turn's budget
   * (CHEAP_TURN_BUDGET_NS for a run the pool judged `cheap`, else TURN_BUDGET_NS); undefined means "send it to a
   * worker". The result carries the measured compute time. With the synchronous session the run has computed when
   * this returns (the promise is already settled).
   */
  tryRun(
    feeds: Record<string, HostTensor>,
    fetches: readonly string[],
    cheap = false,
    runBudgetNs = RUN_BUDGET_NS,
  ): Promise<{ outputs: Record<string, HostTensor>; inferNs: number }> | undefined {
    const session = this.session;
    const predictedNs = this.predictHereNs(feeds);
    if (!session || predictedNs > runBudgetNs) return undefined;
    if (!bookTurn(predictedNs, cheap ? CHEAP_TURN_BUDGET_NS : TURN_BUDGET_NS)) return undefined;
    return this.runHere(session, feeds, fetches);
  }

  private async runHere(
    session: SyncSession | ort.InferenceSession,
    feeds: Record<string, HostTensor>,
    fetches: readonly string[],
  ): Promise<{ outputs: Record<string, HostTensor>; inferNs: number }> {
    // Set only beside the synchronous session (load).
    const dense = this.dense;
    if (dense?.fits(feeds)) {
      const started = process.hrtime.bigint();
      const outputs = dense.run(feeds, fetches);
      const inferNs = Number(process.hrtime.bigint() - started);
      this.javascriptRuns++;
      this.observe(inferNs, feeds, true);
      return { outputs, inferNs };
    }
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const name in feeds) {
      const t = feeds[name] as HostTensor;
      ortFeeds[name] = new ort.Tensor(t.dtype, t.data as ort.Tensor.DataType, [...t.shape]);
    }
    const started = process.hrtime.bigint();
    const results =
      session instanceof SyncSession ? session.run(ortFeeds, fetches) : await session.run(ortFeeds, [...fetches]);
    const inferNs = Number(process.hrtime.bigint() - started);
    const outputs: Record<string, HostTensor> = {};
    for (const [name, t] of Object.entries(results)) {
      if (!isDType(t.type)) throw new Error(`output '${name}' has type ${t.type}, which flowserve cannot return`);
      outputs[name] = new HostTensor(t.type, [...t.dims], t.data as HostTensor['data']);
    }
    this.observe(inferNs, feeds, true);
    return { outputs, inferNs };
  }

  async release(): Promise<void> {
    this.released = true;
    const session = this.session;
    this.session = undefined;
    this.dense = undefined;
    await session?.release();
  }
}
