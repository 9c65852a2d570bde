/**
 * Tiny dense models computed in JavaScript on the calling thread. ONNX Runtime's run has a fixed cost of ≈ 7 µs
 * whatever the model (an Identity costs as much as the MNIST softmax), and ≈ 18–25 µs when the thread has just
 * slept, as it does between requests at one request in flight; the MNIST softmax's 7,840 multiply-adds take ≈ 4 µs
 * in a JavaScript loop, which a sleep hardly slows (docs/performance.md, "Round 12"). For such models the runtime's
 * overhead, not the arithmetic, is the run.
 *
 * A plan exists only for a graph this module computes completely, and computes the way ONNX defines it:
 * - one float32 input of shape [batch, K] (K fixed);
 * - nodes MatMul and Gemm with a constant 2-D weight, Add, Sub and Mul with a constant broadcast along the last axis,
 *   Relu, Sigmoid, Tanh, Softmax over the last axis, and Identity;
 * - float32 outputs, and at most DENSE_PLAN_MAX_MACS multiply-adds an example.
 * Anything else gets no plan, with the reason, and ONNX Runtime runs it. Constants come from initializers (inline
 * or in an external file beside the model, as flowserve's exporter writes them) or Constant nodes.
 *
 * The matrix products run in WebAssembly SIMD where the runtime has it (wasm-dense.ts), and a run may then have up to
 * WASM_RUN_MAX_MACS multiply-adds; else in JavaScript, up to DENSE_PLAN_MAX_MACS. Both give the same bits.
 *
 * Answers: a dot product accumulates in float64 and rounds once to float32, where ONNX Runtime accumulates in
 * float32, so the two agree to float32 rounding (test/serving/worker/dense-plan.test.ts bounds the difference).
 */
import { open, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve, sep } from 'node:path';
import onnxProto from 'onnx-proto';
import { HostTensor } from '../../graph/host-tensor.js';
import { typedArrayFromLittleEndian } from '../../import/little-endian-tensor.js';
import { onnxTensorOfProto } from '../../onnx/tensor-proto.js';
import { WasmDense } from './wasm-dense.js';

const { onnx } = onnxProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type NodeProto = onnxProto.onnx.INodeProto;

/**
 * Multiply-adds of one example beyond which a model gets no plan: past it ONNX Runtime's vectorised kernels win
 * even after its fixed cost (784×32 took 17.6 µs here against ONNX Runtime's 7.3 µs; 784×10, 4.0 against 6.8).
 * A run whose rows need more than this in all goes to ONNX Runtime too (`fits`).
 */
export const DENSE_PLAN_MAX_MACS = 16_384;
/**
 * Multiply-adds of a run beyond which it goes to ONNX Runtime when the plan's products run in WebAssembly: 33 rows of
 * the MNIST softmax. With caches warm, ONNX Runtime computes 8 rows or more faster than the plan; but a run on the
 * calling thread of a busy server finds its caches cold (the requests decoded and encoded between runs displace
 * them), and there ONNX Runtime's run costs several times the plan's. A merged batch of 10 rows took 112–138 µs in
 * ONNX Runtime inside a server at 64 streams against 56–61 µs in the plan; on its own, after 8 MB of other memory was
 * touched, 16 rows took 98–320 µs against 54–67 µs, 32 rows 194–346 against 105–119 µs (docs/performance.md,
 * "Round 18").
 */
export const WASM_RUN_MAX_MACS = 262_144;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

type Step =
  | {
      kind: 'dense';
      input: string;
      output: string;
      weights: Float32Array;
      k: number;
      n: number;
      gemm?: GemmTail;
      /** The same product in WebAssembly (set by the plan when every product has one). */
      wasm?: WasmDense;
    }
  | { kind: 'binary'; op: BinaryOp; input: string; output: string; constant: Float32Array; constantFirst: boolean }
  | { kind: 'unary'; op: UnaryOp; input: string; output: string }
  | { kind: 'softmax'; input: string; output: string };

/** Gemm's `alpha · A·B + beta · C`, C broadcast along the rows (one value, or one a column). */
interface GemmTail {
  alpha: number;
  beta: number;
  c: Float32Array | undefined;
}

const BINARY_OPS = ['Add', 'Sub', 'Mul'] as const;
type BinaryOp = (typeof BINARY_OPS)[number];
const UNARY_OPS = ['Relu', 'Sigmoid', 'Tanh'] as const;
type UnaryOp = (typeof UNARY_OPS)[number];

export interface DensePlanOptions {
  /** false: the matrix products run in JavaScript even where WebAssembly SIMD exists (tests compare the two). */
  webAssembly?: boolean;
}

/** Why a model has no plan: the first thing in it this module does not compute. */
export class NoDensePlan {
  constructor(readonly reason: string) {}
}

export class DensePlan {
  /** Where the matrix products run. */
  readonly kernel: 'webassembly' | 'javascript';
  /** The most rows a run may have (`fits`): WASM_RUN_MAX_MACS or DENSE_PLAN_MAX_MACS in all. */
  readonly maxRows: number;

  constructor(
    private readonly input: { name: string; width: number; rows: number | undefined },
    private readonly steps: readonly Step[],
    /** Graph output name → the value computed for it, and its width. */
    private readonly outputs: ReadonlyMap<string, { value: string; width: number }>,
    /** Multiply-adds of one example. */
    readonly macsPerExample: number,
    options: DensePlanOptions = {},
  ) {
    const denseSteps = steps.filter((s) => s.kind === 'dense');
    const wasmRows = Math.max(1, Math.floor(WASM_RUN_MAX_MACS / Math.max(1, macsPerExample)));
    const kernels =
      options.webAssembly === false ? [] : denseSteps.map((s) => WasmDense.create(s.weights, s.k, s.n, wasmRows));
    const wasm = kernels.length > 0 && kernels.every((k) => k !== undefined);
    if (wasm) denseSteps.forEach((s, i) => (s.wasm = kernels[i]));
    this.kernel = wasm ? 'webassembly' : 'javascript';
    this.maxRows = wasm ? wasmRows : Math.floor(DENSE_PLAN_MAX_MACS / Math.max(1, macsPerExample));
  }

  /** Whether a run of `feeds` is small enough for this plan (`maxRows`). */
  fits(feeds: Record<string, HostTensor>): boolean {
    const rows = feeds[this.input.name]?.shape[0] ?? 0;
    return rows <= this.maxRows;
  }

  /** Computes `fetches`; throws an Error naming the tensor for feeds or fetches the model does not take. */
  run(feeds: Record<string, HostTensor>, fetches: readonly string[]): Record<string, HostTensor> {
    const rows = this.checkFeeds(feeds);
    for (const name of fetches) {
      if (!this.outputs.has(name)) throw new Error(`the model has no output '${name}'`);
    }
    const values = new Map<string, Float32Array>([[this.input.name, feeds[this.input.name]?.data as Float32Array]]);
    for (const step of this.steps) {
      const input = values.get(step.input) as Float32Array;
      values.set(step.output, compute(step, input, rows));
    }
    const results: Record<string, HostTensor> = {};
    for (const name of fetches) {
      const { value, width } = this.outputs.get(name) as { value: string; width: number };
      const data = values.get(value) as Float32Array;
      // A graph output that is the input itself must not hand the caller's own array back.
      results[name] = new HostTensor('float32', [rows, width], value === this.input.name ? data.slice() : data);
    }
    return results;
  }

  /** Rows of `runZeros`'s input: the model's fixed batch size, else 1. */
  get zeroRows(): number {
    return this.input.rows ?? 1;
  }

  /**
   * Computes a run of zeros (every output). V8 optimises the kernel only after ~15–25 runs; until then a run of the
   * MNIST softmax took 0.2–0.5 ms on a slow machine, against ~20 µs after (docs/performance.md, "Round 13"). The
   * calling thread runs this a few times before the plan serves.
   */
  runZeros(): Record<string, HostTensor> {
    const zeros = HostTensor.zeros('float32', [this.zeroRows, this.input.width]);
    return this.run({ [this.input.name]: zeros }, [...this.outputs.keys()]);
  }

  private checkFeeds(feeds: Record<string, HostTensor>): number {
    const { name, width, rows } = this.input;
    for (const fed in feeds) if (fed !== name) throw new Error(`the model has no input '${fed}'`);
    const feed = feeds[name];
    if (!feed) throw new Error(`input '${name}' is missing`);
    if (feed.dtype !== 'float32') throw new Error(`input '${name}' must be float32, got ${feed.dtype}`);
    const shape = feed.shape;
    if (shape.length !== 2 || shape[1] !== width || (rows !== undefined && shape[0] !== rows)) {
      throw new Error(`input '${name}' must have shape [${rows ?? 'batch'}, ${width}], got [${shape.join(', ')}]`);
    }
    return shape[0] as number;
  }
}

function compute(step: Step, input: Float32Array, rows: number): Float32Array {
  switch (step.kind) {
    case 'dense':
      return step.wasm && rows <= step.wasm.maxRows
        ? wasmDense(input, rows, step.wasm, step.gemm)
        : dense(input, rows, step);
    case 'binary':
      return binary(input, step.op, step.constant, step.constantFirst);
    case 'unary':
      return unary(input, step.op);
    case 'softmax':
      return softmax(input, rows);
  }
}

/**
 * x [rows, k] · w [k, n], four columns at a time: each row's element is read once per four columns, and the four
 * sums stay in registers (float64). Measured against a transposed dot product and a row-at-a-time update, this was
 * the fastest of the three (docs/performance.md, "Round 12").
 */
function dense(
  x: Float32Array,
  rows: number,
  { weights: w, k, n, gemm }: { weights: Float32Array; k: number; n: number; gemm?: GemmTail | undefined },
): Float32Array {
  const out = new Float32Array(rows * n);
  // Gemm's sums stay in float64 until alpha and C are applied, so that each element rounds to float32 once.
  const sums = gemm ? new Float64Array(n) : undefined;
  for (let row = 0; row < rows; row++) {
    const xo = row * k;
    const oo = row * n;
    let col = 0;
    for (; col + 3 < n; col += 4) {
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let i = 0, r = col; i < k; i++, r += n) {
        const xi = x[xo + i] as number;
        a0 += xi * (w[r] as number);
        a1 += xi * (w[r + 1] as number);
        a2 += xi * (w[r + 2] as number);
        a3 += xi * (w[r + 3] as number);
      }
      const to = sums ?? out;
      const at = sums ? col : oo + col;
      to[at] = a0;
      to[at + 1] = a1;
      to[at + 2] = a2;
      to[at + 3] = a3;
    }
    for (; col < n; col++) {
      let a = 0;
      for (let i = 0, r = col; i < k; i++, r += n) a += (x[xo + i] as number) * (w[r] as number);
      if (sums) sums[col] = a;
      else out[oo + col] = a;
    }
    if (gemm && sums) {
      const { alpha } = gemm;
      for (let col = 0; col < n; col++) out[oo + col] = alpha * (sums[col] as number) + gemmBias(gemm, col);
    }
  }
  return out;
}

/** The product's float64 sums from WebAssembly, rounded to float32 as `dense` rounds them (after Gemm's alpha and C). */
function wasmDense(x: Float32Array, rows: number, kernel: WasmDense, gemm: GemmTail | undefined): Float32Array {
  const { sums, columns } = kernel.run(x, rows);
  const n = kernel.n;
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let col = 0; col < n; col++) {
      const sum = sums[r * columns + col] as number;
      out[r * n + col] = gemm ? gemm.alpha * sum + gemmBias(gemm, col) : sum;
    }
  }
  return out;
}

/** Gemm's `beta · C` for column `col` (C one value or one a column). */
function gemmBias({ beta, c }: GemmTail, col: number): number {
  return c ? beta * (c[c.length === 1 ? 0 : col] as number) : 0;
}

function binary(x: Float32Array, op: BinaryOp, constant: Float32Array, constantFirst: boolean): Float32Array {
  const out = new Float32Array(x.length);
  const width = constant.length;
  for (let i = 0; i < x.length; i++) {
    const a = x[i] as number;
    const b = constant[width === 1 ? 0 : i % width] as number;
    out[i] = op === 'Add' ? a + b : op === 'Mul' ? a * b : constantFirst ? b - a : a - b;
  }
  return out;
}

function unary(x: Float32Array, op: UnaryOp): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i] as number;
    out[i] = op === 'Relu' ? (v > 0 ? v : 0) : op === 'Tanh' ? Math.tanh(v) : 1 / (1 + Math.exp(-v));
  }
  return out;
}

/** Softmax of each row, shifted by the row's maximum as ONNX Runtime does (no overflow for large logits). */
function softmax(x: Float32Array, rows: number): Float32Array {
  const out = new Float32Array(x.length);
  const width = rows === 0 ? 0 : x.length / rows;
  const exps = new Float64Array(width);
  for (let row = 0; row < rows; row++) {
    const o = row * width;
    let max = -Infinity;
    for (let i = 0; i < width; i++) max = Math.max(max, x[o + i] as number);
    let sum = 0;
    for (let i = 0; i < width; i++) sum += exps[i] = Math.exp((x[o + i] as number) - max);
    for (let i = 0; i < width; i++) out[o + i] = (exps[i] as number) / sum;
  }
  return out;
}

/** Reads a constant's bytes that live in a file beside the model (its `location`, `offset` and `length`). */
export type ExternalReader = (location: string, offset: number, length: number) => Promise<Uint8Array>;

/**
 * The model at `modelPath` as a plan, or why it has none; a file over `maxModelBytes` is not read (the calling
 * thread's MAX_MODEL_BYTES). Never throws: a model it cannot read has no plan.
 */
export async function loadDensePlan(
  modelPath: string,
  maxModelBytes: number,
  options: DensePlanOptions = {},
): Promise<DensePlan | NoDensePlan> {
  try {
    const size = (await stat(modelPath)).size;
    if (size > maxModelBytes) return new NoDensePlan(`the model file is ${size} bytes, over ${maxModelBytes}`);
    return await compileDensePlan(await readFile(modelPath), externalReader(dirname(modelPath)), options);
  } catch (err) {
    return new NoDensePlan(`the model could not be read: ${(err as Error).message}`);
  }
}

/**
 * Reads external data as ONNX Runtime does, relative to the model's folder; a location that is absolute or leaves
 * the folder is refused, and only the bytes the tensor's shape needs are read.
 */
function externalReader(modelDir: string): ExternalReader {
  return async (location, offset, length) => {
    const root = resolve(modelDir);
    const file = resolve(root, location);
    if (isAbsolute(location) || !file.startsWith(root + sep)) {
      throw new Error(`external data location '${location}' is outside the model's folder`);
    }
    const handle = await open(file, 'r');
    try {
      const bytes = new Uint8Array(length);
      const { bytesRead } = await handle.read(bytes, 0, length, offset);
      if (bytesRead !== length) throw new Error(`'${location}' holds ${bytesRead} bytes at ${offset}, not ${length}`);
      return bytes;
    } finally {
      await handle.close();
    }
  };
}

type Long = number | { toNumber(): number };

/**
 * A protobuf integer as a number; small ones as int32. protobufjs's Long.toNumber() returns a heap double, and loop
 * bounds and strides read from doubles made `dense` run at half speed (16 µs against 7 for the MNIST softmax).
 */
function toNumber(value: Long | null | undefined): number {
  const n = value === null || value === undefined ? 0 : typeof value === 'number' ? value : value.toNumber();
  return (n | 0) === n ? n | 0 : n;
}

/** Compiles a serialized ModelProto; `readExternal` supplies constants kept outside it. */
export async function compileDensePlan(
  model: Uint8Array,
  readExternal: ExternalReader,
  options: DensePlanOptions = {},
): Promise<DensePlan | NoDensePlan> {
  let graph: onnxProto.onnx.IGraphProto | null | undefined;
  try {
    graph = onnx.ModelProto.decode(model).graph;
  } catch (err) {
    return new NoDensePlan(`not an ONNX model: ${(err as Error).message}`);
  }
  if (!graph) return new NoDensePlan('the model has no graph');
  const compiler = new Compiler(readExternal, options);
  try {
    return await compiler.compile(graph);
  } catch (err) {
    if (err instanceof NoDensePlan) return err;
    return new NoDensePlan((err as Error).message);
  }
}

class Compiler {
  /** Constants not yet read: initializers and Constant nodes, by name. */
  private readonly constants = new Map<string, TensorProto>();
  /** Computed values (and the input) by name → their width; Identity adds another name for the same value. */
  private readonly widths = new Map<string, number>();
  private readonly aliases = new Map<string, string>();
  private readonly steps: Step[] = [];
  private macs = 0;

  constructor(
    private readonly readExternal: ExternalReader,
    private readonly options: DensePlanOptions,
  ) {}

  async compile(graph: onnxProto.onnx.IGraphProto): Promise<DensePlan> {
    for (const t of graph.initializer ?? []) this.constants.set(t.name ?? '', t);
    const feeds = (graph.input ?? []).filter((v) => !this.constants.has(v.name ?? ''));
    if (feeds.length !== 1) refuse(`the graph has ${feeds.length} inputs, not one`);
    const input = this.graphInput(feeds[0] as onnxProto.onnx.IValueInfoProto);
    this.widths.set(input.name, input.width);
    for (const node of graph.node ?? []) await this.node(node);
    const outputs = new Map<string, { value: string; width: number }>();
    for (const info of graph.output ?? []) {
      const name = info.name ?? '';
      const value = this.valueOf(name, `graph output '${name}'`);
      if ((info.type?.tensorType?.elemType ?? FLOAT) !== FLOAT) refuse(`graph output '${name}' is not float32`);
      outputs.set(name, { value, width: this.widths.get(value) as number });
    }
    if (outputs.size === 0) refuse('the graph has no outputs');
    return new DensePlan(input, this.steps, outputs, this.macs, this.options);
  }

  private graphInput(info: onnxProto.onnx.IValueInfoProto): { name: string; width: number; rows: number | undefined } {
    const name = info.name ?? '';
    const tensor = info.type?.tensorType;
    if (tensor?.elemType !== FLOAT) refuse(`input '${name}' is not float32`);
    const dims = tensor?.shape?.dim ?? [];
    if (dims.length !== 2) refuse(`input '${name}' has rank ${dims.length}, not 2`);
    const [rowsDim, widthDim] = dims as [
      onnxProto.onnx.TensorShapeProto.IDimension,
      onnxProto.onnx.TensorShapeProto.IDimension,
    ];
    const width = toNumber(widthDim.dimValue);
    if (!(width > 0)) refuse(`input '${name}' has no fixed width`);
    const rows = toNumber(rowsDim.dimValue);
    return { name, width, rows: rows > 0 ? rows : undefined };
  }

  private async node(node: NodeProto): Promise<void> {
    const op = node.opType ?? '';
    const inputs = node.input ?? [];
    const output = node.output?.[0] ?? '';
    if (node.domain) refuse(`node '${node.name ?? op}' is in domain '${node.domain}'`);
    if ((node.output?.length ?? 0) !== 1) refuse(`${op} node '${node.name ?? ''}' has ${node.output?.length} outputs`);
    if (op === 'Constant') {
      const value = node.attribute?.find((a) => a.name === 'value')?.t;
      if (!value || node.attribute?.length !== 1) refuse(`Constant '${output}' is not a tensor 'value'`);
      this.constants.set(output, value as TensorProto);
      return;
    }
    if (op === 'Identity') {
      const source = inputs[0] ?? '';
      if (this.constants.has(source)) this.constants.set(output, this.constants.get(source) as TensorProto);
      else this.aliases.set(output, this.valueOf(source, `Identity '${output}'`));
      return;
    }
    const where = `${op} '${output}'`;
    if (op === 'MatMul' || op === 'Gemm') return this.dense(op, node, where);
    if ((BINARY_OPS as readonly string[]).includes(op)) return this.binary(op as BinaryOp, inputs, output, where);
    if ((UNARY_OPS as readonly string[]).includes(op)) {
      const input = this.valueOf(inputs[0] ?? '', where);
      this.add({ kind: 'unary', op: op as UnaryOp, input, output }, this.widths.get(input) as number);
      return;
    }
    if (op === 'Softmax') {
      const axis = toNumber(node.attribute?.find((a) => a.name === 'axis')?.i ?? -1);
      if (axis !== -1 && axis !== 1) refuse(`${where} is over axis ${axis}, not the last`);
      const input = this.valueOf(inputs[0] ?? '', where);
      this.add({ kind: 'softmax', input, output }, this.widths.get(input) as number);
      return;
    }
    refuse(`the graph has a ${op} node ('${node.name || output}')`);
  }

  private async dense(op: 'MatMul' | 'Gemm', node: NodeProto, where: string): Promise<void> {
    const inputs = node.input ?? [];
    const attr = (name: string) => node.attribute?.find((a) => a.name === name);
    const input = this.valueOf(inputs[0] ?? '', where);
    const k = this.widths.get(input) as number;
    const transB = op === 'Gemm' && toNumber(attr('transB')?.i) === 1;
    if (op === 'Gemm' && toNumber(attr('transA')?.i) !== 0) refuse(`${where} transposes its input`);
    const b = this.constant(inputs[1] ?? '', where);
    const [rowsB, colsB] = b.dims.length === 2 ? (b.dims as [number, number]) : refuse(`${where}'s weight is not 2-D`);
    const n = transB ? rowsB : colsB;
    if ((transB ? colsB : rowsB) !== k) refuse(`${where}'s weight [${b.dims.join(', ')}] does not take width ${k}`);
    this.macs += k * n;
    if (this.macs > DENSE_PLAN_MAX_MACS) refuse(`the model has over ${DENSE_PLAN_MAX_MACS} multiply-adds an example`);
    const stored = await this.read(b, where);
    const weights = transB ? transpose(stored, n, k) : stored;
    let gemm: GemmTail | undefined;
    if (op === 'Gemm') {
      const alpha = attr('alpha')?.f ?? 1;
      const beta = attr('beta')?.f ?? 1;
      const cName = inputs[2] ?? '';
      let c: Float32Array | undefined;
      if (cName !== '') {
        const cInfo = this.constant(cName, where);
        if (!broadcastsAlongRows(cInfo.dims, n))
          refuse(`${where}'s C [${cInfo.dims.join(', ')}] is not one value or one row of ${n}`);
        c = await this.read(cInfo, where);
      }
      gemm = { alpha, beta, c };
    }
    this.add({ kind: 'dense', input, output: node.output?.[0] ?? '', weights, k, n, ...(gemm ? { gemm } : {}) }, n);
  }

  private async binary(op: BinaryOp, inputs: readonly string[], output: string, where: string): Promise<void> {
    const [a, b] = [inputs[0] ?? '', inputs[1] ?? ''];
    const constantFirst = this.constants.has(a);
    if (constantFirst === this.constants.has(b)) refuse(`${where} does not take one value and one constant`);
    const input = this.valueOf(constantFirst ? b : a, where);
    const width = this.widths.get(input) as number;
    const info = this.constant(constantFirst ? a : b, where);
    if (!broadcastsAlongRows(info.dims, width)) {
      refuse(`${where}'s constant [${info.dims.join(', ')}] is not one value or one row of ${width}`);
    }
    const constant = await this.read(info, where);
    this.add({ kind: 'binary', op, input, output, constant, constantFirst }, width);
  }

  private add(step: Step, width: number): void {
    this.steps.push(step);
    this.widths.set(step.output, width);
  }

  /** The computed value (or the input) named `name`, through Identity's aliases. */
  private valueOf(name: string, where: string): string {
    const value = this.aliases.get(name) ?? name;
    if (!this.widths.has(value)) refuse(`${where} reads '${name}', which is not a value this plan computes`);
    return value;
  }

  private constant(name: string, where: string): { proto: TensorProto; dims: number[] } {
    const proto = this.constants.get(name);
    if (!proto) refuse(`${where} reads '${name}' as a constant, and it is not one`);
    if (proto.dataType !== FLOAT) refuse(`${where}'s constant '${name}' is not float32`);
    const dims = (proto.dims ?? []).map(toNumber);
    if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0))
      refuse(`${where}'s constant '${name}' has dims [${dims.join(', ')}]`);
    return { proto, dims };
  }

  /** The constant's values; its size is bounded by the plan's multiply-adds before anything is read. */
  private async read({ proto, dims }: { proto: TensorProto; dims: number[] }, where: string): Promise<Float32Array> {
    const count = dims.reduce((a, b) => a * b, 1);
    if (!(count <= DENSE_PLAN_MAX_MACS)) refuse(`${where}'s constant '${proto.name}' has ${count} values`);
    let values: Float32Array;
    if (proto.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
      const entry = (key: string) => proto.externalData?.find((e) => e.key === key)?.value ?? undefined;
      const location = entry('location');
      if (!location) refuse(`${where}'s constant '${proto.name}' names no external location`);
      const offset = Number(entry('offset') ?? 0);
      const length = Number(entry('length') ?? count * 4);
      if (length !== count * 4 || !Number.isSafeInteger(offset) || offset < 0) {
        refuse(
          `${where}'s constant '${proto.name}' has external length ${length} at ${offset}, not ${count * 4} bytes`,
        );
      }
      values = typedArrayFromLittleEndian('float32', await this.readExternal(location, offset, length)) as Float32Array;
    } else {
      // Inline values (raw_data or float_data), checked against the dims, as the golden test tensors are read.
      values = onnxTensorOfProto(onnx.TensorProto.fromObject(proto), where).tensor.data as Float32Array;
    }
    if (values.length !== count)
      refuse(`${where}'s constant '${proto.name}' has ${values.length} values, not ${count}`);
    return values;
  }
}

function refuse(reason: string): never {
  throw new NoDensePlan(reason);
}

/** Whether a constant of `dims` is one value or one row of `width`, broadcast along the rows. */
function broadcastsAlongRows(dims: readonly number[], width: number): boolean {
  const size = dims.reduce((a, b) => a * b, 1);
  if (dims.length > 2 || (dims.length === 2 && dims[0] !== 1)) return false;
  return size === 1 || (size === width && dims[dims.length - 1] === width);
}

function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c] as number;
  return out;
}
