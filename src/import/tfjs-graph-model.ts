/**
 * A TF.js graph model (`model.json` with `"format": "graph-model"`, spec/tensorflow-model-formats.md §4) → the
 * shared ImportedModel, so serving and `convert` treat it as any TensorFlow graph.
 *
 * - `modelTopology` is a GraphDef in protobuf's JSON mapping; it is read through the same message definitions
 *   as a binary GraphDef (protos.ts messageFromJson).
 * - Its Const nodes carry only dtype and shape: their values are the `weightsManifest` weights of the same name
 *   (tfjs-weights.ts, dequantized), written into the nodes here. A Const with neither a weight nor a value in
 *   the file is refused by name, as TF.js would fail on it at its first run.
 * - The signature is `signature`, else `userDefinedMetadata.signature` (both a SignatureDef in JSON form); a
 *   model with neither gets TF.js's own rule: its Placeholders are the inputs and the nodes nothing reads are the
 *   outputs. It is served as `serving_default` with TF Serving's predict method.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DataLoss, InvalidArgument, NotFound, Unimplemented } from '../errors.js';
import { dtypeInfo, type DType, type TypedArray } from '../graph/dtype.js';
import { HostTensor } from '../graph/host-tensor.js';
import type { ImportedModel, ImportedSignature, ImportedTensorInfo } from './imported-model.js';
import { parseTensorRef } from './graph-def.js';
import { messageFromJson } from './protos.js';
import { readTfjsWeights, type TfjsWeightsManifest } from './tfjs-weights.js';
import type { GraphDefMsg, NodeDefMsg, SignatureDefMsg, TensorInfoMsg, TensorMsg } from './tf-messages.js';
import { dtypeOfTf, shapeOfTf } from './tf-tensor.js';

export const TFJS_MODEL_JSON = 'model.json';
export const TFJS_GRAPH_MODEL_FORMAT = 'graph-model';
const DEFAULT_SIGNATURE_KEY = 'serving_default';
const PREDICT_METHOD = 'tensorflow/serving/predict';

/** The fields of model.json this reader uses (tfjs-core io/types.ts ModelJSON). */
interface TfjsModelJson {
  format?: unknown;
  generatedBy?: unknown;
  convertedBy?: unknown;
  modelTopology?: unknown;
  weightsManifest?: unknown;
  signature?: unknown;
  userDefinedMetadata?: { signature?: unknown };
}

/** `path` is a model.json file or a directory holding one; its weight files are read beside it. */
export async function readTfjsGraphModel(path: string): Promise<ImportedModel> {
  const file = (await stat(path).catch(() => undefined))?.isDirectory() ? join(path, TFJS_MODEL_JSON) : path;
  const json = await readModelJson(file);
  const graph = graphOfTopology(json.modelTopology, file);
  const nodes = graph.node ?? [];
  const manifest = (json.weightsManifest ?? []) as TfjsWeightsManifest;
  let weights: Map<string, HostTensor>;
  try {
    weights = await readTfjsWeights(manifest, dirname(file));
  } catch (err) {
    (err as Error).message = `${file}: ${(err as Error).message}`;
    throw err;
  }
  fillConstValues(nodes, weights, file);
  const declared = json.signature ?? json.userDefinedMetadata?.signature;
  return {
    format: 'tfjs_graph_model',
    source: file,
    tags: [],
    ...(typeof json.convertedBy === 'string' ? { tensorflowVersion: json.convertedBy } : {}),
    nodes,
    functions: graph.library?.function ?? [],
    signatures: {
      [DEFAULT_SIGNATURE_KEY]:
        declared === undefined ? inferredSignature(nodes, file) : declaredSignature(declared, file),
    },
    skippedSignatures: {},
    // The weights are the Const values already; TF.js graph models have no variables.
    readVariables: async () => new Map<string, HostTensor>(),
  };
}

async function readModelJson(file: string): Promise<TfjsModelJson> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new NotFound(`no TF.js model at ${file}`);
    throw err;
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DataLoss(`${file}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new InvalidArgument(`${file}: a TF.js model.json must be a JSON object`);
  }
  const model = json as TfjsModelJson;
  if (model.format === 'layers-model' || (model.format === undefined && !hasNodeList(model.modelTopology))) {
    throw new Unimplemented(
      `${file}: a TF.js layers model (Keras topology) is not a graph; convert it with ` +
        `tensorflowjs_converter --input_format=tfjs_layers_model --output_format=tfjs_graph_model`,
    );
  }
  if (model.format !== undefined && model.format !== TFJS_GRAPH_MODEL_FORMAT) {
    throw new InvalidArgument(
      `${file}: format ${JSON.stringify(model.format)} is not a TF.js graph model ('${TFJS_GRAPH_MODEL_FORMAT}')`,
    );
  }
  return model;
}

function hasNodeList(topology: unknown): boolean {
  return typeof topology === 'object' && topology !== null && Array.isArray((topology as { node?: unknown }).node);
}

function graphOfTopology(topology: unknown, file: string): GraphDefMsg {
  if (topology === undefined) throw new InvalidArgument(`${file}: no modelTopology`);
  try {
    return messageFromJson<GraphDefMsg>('tensorflow.GraphDef', topology);
  } catch (err) {
    throw new InvalidArgument(`${file}: modelTopology is not a GraphDef (${(err as Error).message})`, {
      cause: err,
    });
  }
}

/** Writes each weight into the Const node of its name, as the node's declared dtype (TF.js keeps int64 as int32). */
function fillConstValues(nodes: NodeDefMsg[], weights: ReadonlyMap<string, HostTensor>, file: string): void {
  for (const node of nodes) {
    if (node.op !== 'Const') continue;
    const name = node.name ?? '';
    const declared = node.attr?.value?.tensor;
    const weight = weights.get(name);
    if (!weight) {
      if (!declared || !hasInlineValue(declared)) {
        throw new InvalidArgument(`${file}: Const node '${name}' has no weight in weightsManifest and no value`);
      }
      continue;
    }
    const dims = shapeOfTf(declared?.tensor_shape);
    if (dims && (dims.length !== weight.rank || dims.some((d, i) => d !== null && d !== weight.shape[i]))) {
      throw new InvalidArgument(
        `${file}: weight '${name}' has shape [${weight.shape.join(',')}] but its Const node declares [${dims.map((d) => d ?? -1).join(',')}]`,
      );
    }
    const dtype = declared?.dtype !== undefined ? dtypeOfTf(declared.dtype, `Const node '${name}'`) : weight.dtype;
    node.attr = {
      ...node.attr,
      value: { value: 'tensor', tensor: tensorMsgOf(castWeight(weight, dtype, name, file)) },
    };
  }
}

function hasInlineValue(t: TensorMsg): boolean {
  const lists = [t.float_val, t.double_val, t.int_val, t.int64_val, t.bool_val, t.string_val, t.half_val];
  return (t.tensor_content?.length ?? 0) > 0 || lists.some((l) => (l?.length ?? 0) > 0);
}

/** A weight in the dtype its Const declares: int32 widened to int64, float32 to float64; others must match. */
function castWeight(weight: HostTensor, dtype: DType, name: string, file: string): HostTensor {
  if (weight.dtype === dtype) return weight;
  if (weight.dtype === 'int32' && dtype === 'int64') {
    return new HostTensor(
      dtype,
      weight.shape,
      BigInt64Array.from(weight.data as Int32Array, (v) => BigInt(v)),
    );
  }
  if (weight.dtype === 'float32' && dtype === 'float64') {
    return new HostTensor(dtype, weight.shape, Float64Array.from(weight.data as Float32Array));
  }
  throw new InvalidArgument(`${file}: weight '${name}' is ${weight.dtype} but its Const node declares ${dtype}`);
}

function tensorMsgOf(t: HostTensor): TensorMsg {
  const shape = { dim: t.shape.map((d) => ({ size: String(d) })) };
  const dtype = dtypeInfo(t.dtype).tf;
  if (t.dtype === 'string') {
    return { dtype, tensor_shape: shape, string_val: [...(t.data as Uint8Array[])] };
  }
  const data = t.data as TypedArray;
  return { dtype, tensor_shape: shape, tensor_content: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function declaredSignature(json: unknown, file: string): ImportedSignature {
  let def: SignatureDefMsg;
  try {
    def = messageFromJson<SignatureDefMsg>('tensorflow.SignatureDef', json);
  } catch (err) {
    throw new InvalidArgument(`${file}: signature is not a SignatureDef (${(err as Error).message})`, { cause: err });
  }
  const map = (m: Record<string, TensorInfoMsg> | undefined, role: string) =>
    Object.fromEntries(
      Object.entries(m ?? {}).map(([alias, info]): [string, ImportedTensorInfo] => {
        const what = `${file}: signature ${role} '${alias}'`;
        if (!info.name) throw new InvalidArgument(`${what} names no tensor`);
        return [alias, { name: info.name, dtype: dtypeOfTf(info.dtype, what), shape: shapeOfTf(info.tensor_shape) }];
      }),
    );
  const inputs = map(def.inputs, 'input');
  const outputs = map(def.outputs, 'output');
  if (Object.keys(outputs).length === 0) throw new InvalidArgument(`${file}: the signature has no outputs`);
  return { method: def.method_name || PREDICT_METHOD, inputs, outputs };
}

/** Attrs that give a node's output dtype, in the order TF's op definitions use them. */
const OUTPUT_DTYPE_ATTRS = ['dtype', 'T', 'DstT', 'out_type', 'output_type', 'Tout'];
/** Nodes that are never a model's output even when nothing reads them. */
const NOT_OUTPUTS = new Set(['Const', 'NoOp', 'Placeholder', 'PlaceholderWithDefault']);

/** TF.js's rule for a model without a signature: Placeholders in, nodes nothing reads out (by node name). */
export function inferredSignature(nodes: readonly NodeDefMsg[], file: string): ImportedSignature {
  const consumed = new Set(nodes.flatMap((n) => (n.input ?? []).map((ref) => parseTensorRef(ref).node)));
  const info = (node: NodeDefMsg): ImportedTensorInfo => {
    const what = `${file}: node '${node.name}'`;
    const attr = OUTPUT_DTYPE_ATTRS.map((k) => node.attr?.[k]).find((a) => a?.type !== undefined);
    return {
      name: `${node.name}:0`,
      dtype: attr ? dtypeOfTf(attr.type, what) : 'float32',
      shape: node.op === 'Placeholder' ? shapeOfTf(node.attr?.shape?.shape) : undefined,
    };
  };
  const inputs = nodes.filter((n) => n.op === 'Placeholder');
  const outputs = nodes.filter((n) => !consumed.has(n.name ?? '') && !NOT_OUTPUTS.has(n.op ?? ''));
  if (outputs.length === 0) throw new InvalidArgument(`${file}: no signature, and no node that could be an output`);
  return {
    method: PREDICT_METHOD,
    inputs: Object.fromEntries(inputs.map((n) => [n.name as string, info(n)])),
    outputs: Object.fromEntries(outputs.map((n) => [n.name as string, info(n)])),
  };
}
