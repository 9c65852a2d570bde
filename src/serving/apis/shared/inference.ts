/**
 * Classify and Regress over the serving core, shared by the gRPC and REST adapters: resolve the signature, turn
 * tf.Examples into input tensors, run, and convert the outputs with TF Serving's checks (classifier.cc,
 * regressor.cc). Classes come per example in the model's output order, as TF Serving returns them (no sorting).
 */
import { InvalidArgument } from '../../../errors.js';
import type { HostTensor } from '../../../graph/host-tensor.js';

import {
  METHOD_CLASSIFY,
  METHOD_PREDICT,
  METHOD_REGRESS,
  type ModelSelector,
  type RunRequest,
  type ServableInfo,
  type ServingCore,
  type Signature,
} from '../../core/types.js';
import type { TensorHeader } from '../../core/request-limits.js';
import { examplesToInputsSliced, type ExampleFeatures } from './examples.js';
import { tfDtypeNameOf } from './tensor-proto.js';

export interface ExampleRequest {
  selector: ModelSelector;
  signatureName?: string;
  examples: readonly ExampleFeatures[];
  /** Date.now() ms when the client stops waiting (RunRequest.deadline). */
  deadline?: number;
  /** The client connection the request came on (RunRequest.connection). */
  connection?: object;
}

export interface ScoredClass {
  label: string;
  score: number;
}

interface Served {
  modelName: string;
  version: number;
  signatureName: string;
}

export interface ClassifyOutcome extends Served {
  classifications: ScoredClass[][];
}

export interface RegressOutcome extends Served {
  values: number[];
}

export interface ResolvedSignature {
  info: ServableInfo;
  name: string;
  signature: Signature;
}

/** Looks up a classify/regress signature; TF Serving answers INVALID_ARGUMENT for both failures. */
export function resolveSignature(
  core: ServingCore,
  selector: ModelSelector,
  signatureName: string | undefined,
  method: string,
): ResolvedSignature {
  return checkSignature(core.info(selector), signatureName, method);
}

/** resolveSignature on a known servable (warmup resolves against the version being loaded). */
export function checkSignature(
  info: ServableInfo,
  signatureName: string | undefined,
  method: string,
): ResolvedSignature {
  const name = signatureName || info.defaultSignature;
  const signature = info.signatures[name];
  if (!signature) throw new InvalidArgument(`No signature was found with the name: ${name}`);
  // TF Serving checks method_name only with --enable_signature_method_name_check (off by default): TF2 exports
  // classify and regress as predict signatures over serialized tf.Examples, and it serves them. So does flowserve,
  // for a signature that parses the examples it is given; any other keeps the check's message.
  if (signature.method !== method && !(signature.method === METHOD_PREDICT && signature.parseExamples)) {
    const what = method === METHOD_CLASSIFY ? 'classification' : 'regression';
    throw new InvalidArgument(`Expected ${what} signature method_name to be ${method}. Was: ${signature.method}`);
  }
  return { info, name, signature };
}

/** The outputs a Classify run fetches: classes and/or scores. */
export function classifyOutputFilter(signature: Signature): string[] {
  const outputFilter = ['classes', 'scores'].filter((alias) => alias in signature.outputs);
  if (outputFilter.length === 0) {
    throw new InvalidArgument(`Expected classification signature outputs to contain at least one of classes or scores`);
  }
  return outputFilter;
}

/** The output a Regress run fetches. */
export function regressOutputFilter(signature: Signature, signatureName: string): string[] {
  if (!('outputs' in signature.outputs)) {
    throw new InvalidArgument(`No output tensor named outputs in regression signature ${signatureName}`);
  }
  return ['outputs'];
}

/** Each input built from examples is admitted (signature, batch size, --max_input_bytes) before it is allocated. */
function admitter(core: ServingCore, selector: ModelSelector, signatureName: string) {
  const { admission } = core.admission(selector, signatureName);
  return (alias: string, header: TensorHeader) => admission.admit(alias, header);
}

/**
 * A signature that parses tf.Examples in its graph (imported ParseExample) gets the examples themselves, which the
 * core parses; any other signature gets input tensors built from its exampleFeatures here.
 */
async function exampleInputs(
  core: ServingCore,
  request: ExampleRequest,
  signatureName: string,
  signature: Signature,
): Promise<Pick<RunRequest, 'inputs' | 'examples'>> {
  if (signature.parseExamples) return { inputs: {}, examples: request.examples };
  const admit = admitter(core, request.selector, signatureName);
  return { inputs: await examplesToInputsSliced(request.examples, signature, signatureName, admit) };
}

export async function classify(core: ServingCore, request: ExampleRequest): Promise<ClassifyOutcome> {
  const { name, signature } = resolveSignature(core, request.selector, request.signatureName, METHOD_CLASSIFY);
  const outputFilter = classifyOutputFilter(signature);
  const result = await core.run({
    model: request.selector,
    signatureName: name,
    ...(await exampleInputs(core, request, name, signature)),
    outputFilter,
    inputsOwned: true,
    ...(request.deadline === undefined ? {} : { deadline: request.deadline }),
    ...(request.connection === undefined ? {} : { connection: request.connection }),
  });
  return {
    modelName: result.modelName,
    version: result.version,
    signatureName: result.signatureName,
    classifications: toClassifications(result.outputs, result.signature, request.examples.length),
  };
}

function checkMatrix(tensor: HostTensor, batch: number, what: string): number {
  if (tensor.rank !== 2) {
    throw new InvalidArgument(`Expected Tensor shape: [batch_size num_classes] but got [${tensor.shape.join(',')}]`);
  }
  if (tensor.shape[0] !== batch) {
    throw new InvalidArgument(`Expected ${what} output batch size of ${batch}. Got: ${tensor.shape[0]}`);
  }
  return tensor.shape[1] as number;
}

export function toClassifications(
  outputs: Record<string, HostTensor>,
  signature: Signature,
  batch: number,
): ScoredClass[][] {
  const { scores, classes } = outputs;
  let numClasses = 0;
  if (scores) {
    if (scores.dtype !== 'float32' && scores.dtype !== 'float64') {
      throw new InvalidArgument(`Expected scores Tensor of DT_FLOAT. Got: ${tfDtypeNameOf(scores.dtype)}`);
    }
    numClasses = checkMatrix(scores, batch, 'scores');
  }
  if (classes) {
    if (classes.dtype !== 'string') {
      throw new InvalidArgument(`Expected classes Tensor of DT_STRING. Got: ${tfDtypeNameOf(classes.dtype)}`);
    }
    const k = checkMatrix(classes, batch, 'classes');
    if (scores && k !== numClasses) {
      throw new InvalidArgument(`Tensors class and score should match in dim[1]. ${k} vs ${numClasses}`);
    }
    numClasses = k;
  }
  const labels = classes?.data as Uint8Array[] | undefined;
  const scoreData = scores?.data as Float32Array | undefined;
  const out: ScoredClass[][] = [];
  for (let i = 0; i < batch; i++) {
    const row: ScoredClass[] = [];
    for (let k = 0; k < numClasses; k++) {
      const at = i * numClasses + k;
      // Without a classes output the signature's classLabels name the classes; TF Serving would send "".
      row.push({
        label: labels ? labelText(labels[at] as Uint8Array) : (signature.classLabels?.[k] ?? ''),
        score: scoreData?.[at] ?? 0,
      });
    }
    out.push(row);
  }
  return out;
}

/**
 * A class label: the classes tensor holds bytes, but Class.label is a proto `string` (and a JSON string over
 * REST), so labels are read as UTF-8, a byte that is not UTF-8 read as U+FFFD (docs/string-tensors.md).
 */
function labelText(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

export async function regress(core: ServingCore, request: ExampleRequest): Promise<RegressOutcome> {
  const { name, signature } = resolveSignature(core, request.selector, request.signatureName, METHOD_REGRESS);
  const outputFilter = regressOutputFilter(signature, name);
  const result = await core.run({
    model: request.selector,
    signatureName: name,
    ...(await exampleInputs(core, request, name, signature)),
    outputFilter,
    inputsOwned: true,
    ...(request.deadline === undefined ? {} : { deadline: request.deadline }),
    ...(request.connection === undefined ? {} : { connection: request.connection }),
  });
  return {
    modelName: result.modelName,
    version: result.version,
    signatureName: result.signatureName,
    values: toRegressions(result.outputs.outputs, request.examples.length),
  };
}

export function toRegressions(output: HostTensor | undefined, batch: number): number[] {
  if (!output) throw new InvalidArgument('Expected one output Tensor.');
  if (output.dtype !== 'float32' && output.dtype !== 'float64') {
    throw new InvalidArgument(`Expected output Tensor of DT_FLOAT. Got: ${tfDtypeNameOf(output.dtype)}`);
  }
  const okShape = output.rank === 1 || (output.rank === 2 && output.shape[1] === 1);
  if (!okShape) {
    throw new InvalidArgument(
      `Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got [${output.shape.join(',')}]`,
    );
  }
  if (output.shape[0] !== batch) {
    throw new InvalidArgument(`Input batch size did not match output batch size: ${batch} vs. ${output.shape[0]}`);
  }
  return Array.from(output.data as Float32Array);
}
