/**
 * One in-memory form for every TensorFlow model format flowserve reads (SavedModel, SessionBundle, frozen
 * GraphDef, TF.js graph model): the graph's nodes and function library, the signatures, and where the variable values come from.
 */
import type { DType } from '../graph/dtype.js';
import type { HostTensor } from '../graph/host-tensor.js';
import type { Dim } from '../graph/shape.js';
import type { InitOp } from './init-op.js';
import type { FunctionDefMsg, NodeDefMsg } from './tf-messages.js';

export interface ImportedTensorInfo {
  /** TensorFlow's tensor name (`x:0`). */
  name: string;
  dtype: DType;
  /** undefined = unknown rank. */
  shape: Dim[] | undefined;
}

export interface ImportedSignature {
  /** TF's method name (`tensorflow/serving/predict`, …/classify, …/regress). */
  method: string;
  inputs: Record<string, ImportedTensorInfo>;
  outputs: Record<string, ImportedTensorInfo>;
}

export type ModelFormat = 'saved_model' | 'session_bundle' | 'frozen_graph' | 'tfjs_graph_model';

export interface ImportedModel {
  format: ModelFormat;
  /** The file the graph came from, for errors (`…/saved_model.pb`). */
  source: string;
  /** The MetaGraphDef's tags (empty for frozen graphs). */
  tags: string[];
  tensorflowVersion?: string;
  nodes: NodeDefMsg[];
  functions: FunctionDefMsg[];
  signatures: Record<string, ImportedSignature>;
  /** Signatures the model declares that flowserve cannot serve, with why (composite or sparse tensors, …). */
  skippedSignatures: Record<string, string>;
  /** Reads every variable value by checkpoint key (empty map when the model has none). */
  readVariables(): Promise<Map<string, HostTensor>>;
  /** Where the variables are read from, for `inspect`. */
  variablesPath?: string;
  assetsDir?: string;
  /** What the loader runs once after restoring the variables (a SavedModel's init op, init-op.ts). */
  initOp?: InitOp;
}
