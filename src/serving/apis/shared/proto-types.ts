/**
 * Plain-object shapes of the protobuf messages as @grpc/proto-loader produces and accepts them with the options in
 * protos.ts (keepCase, longs as strings, enums as numbers, defaults off). Every field is optional, as on the wire.
 */

/** int64 on the wire: decoded as a decimal string; numbers are accepted when encoding. */
export type Int64 = string | number;

export interface TensorShapeProtoMsg {
  dim?: { size?: Int64; name?: string }[];
  unknown_rank?: boolean;
}

export interface TensorProtoMsg {
  dtype?: number;
  tensor_shape?: TensorShapeProtoMsg;
  version_number?: number;
  tensor_content?: Uint8Array;
  half_val?: number[];
  float_val?: number[];
  double_val?: number[];
  int_val?: number[];
  string_val?: Uint8Array[];
  scomplex_val?: number[];
  int64_val?: Int64[];
  bool_val?: boolean[];
  dcomplex_val?: number[];
  uint32_val?: number[];
  uint64_val?: Int64[];
}

export interface ModelSpecMsg {
  name?: string;
  version?: { value?: Int64 } | null;
  version_label?: string;
  signature_name?: string;
  version_choice?: 'version' | 'version_label';
}

export interface FeatureMsg {
  bytes_list?: { value?: Uint8Array[] };
  float_list?: { value?: number[] };
  int64_list?: { value?: Int64[] };
  kind?: 'bytes_list' | 'float_list' | 'int64_list';
}

export interface ExampleMsg {
  features?: { feature?: Record<string, FeatureMsg> };
}

export interface InputMsg {
  example_list?: { examples?: ExampleMsg[] };
  example_list_with_context?: { examples?: ExampleMsg[]; context?: ExampleMsg };
  kind?: 'example_list' | 'example_list_with_context';
}

export interface PredictRequestMsg {
  model_spec?: ModelSpecMsg;
  inputs?: Record<string, TensorProtoMsg>;
  output_filter?: string[];
}

export interface PredictResponseMsg {
  outputs: Record<string, TensorProtoMsg>;
  model_spec: ModelSpecMsg;
}

export interface ClassMsg {
  label: string;
  score: number;
}

export interface ClassificationResultMsg {
  classifications: { classes: ClassMsg[] }[];
}

export interface RegressionResultMsg {
  regressions: { value: number }[];
}

export interface ClassificationRequestMsg {
  model_spec?: ModelSpecMsg;
  input?: InputMsg;
}

export type RegressionRequestMsg = ClassificationRequestMsg;

export interface ClassificationResponseMsg {
  model_spec: ModelSpecMsg;
  result: ClassificationResultMsg;
}

export interface RegressionResponseMsg {
  model_spec: ModelSpecMsg;
  result: RegressionResultMsg;
}

export interface InferenceTaskMsg {
  model_spec?: ModelSpecMsg;
  method_name?: string;
}

export interface MultiInferenceRequestMsg {
  tasks?: InferenceTaskMsg[];
  input?: InputMsg;
}

export interface InferenceResultMsg {
  model_spec: ModelSpecMsg;
  classification_result?: ClassificationResultMsg;
  regression_result?: RegressionResultMsg;
}

export interface MultiInferenceResponseMsg {
  results: InferenceResultMsg[];
}

export interface TensorInfoMsg {
  name?: string;
  dtype?: number;
  tensor_shape?: TensorShapeProtoMsg;
}

export interface SignatureDefMsg {
  inputs?: Record<string, TensorInfoMsg>;
  outputs?: Record<string, TensorInfoMsg>;
  method_name?: string;
  defaults?: Record<string, TensorProtoMsg>;
}

export interface SignatureDefMapMsg {
  signature_def?: Record<string, SignatureDefMsg>;
}

export interface AnyMsg {
  type_url?: string;
  value?: Uint8Array;
}

export interface GetModelMetadataRequestMsg {
  model_spec?: ModelSpecMsg;
  metadata_field?: string[];
}

export interface GetModelMetadataResponseMsg {
  model_spec?: ModelSpecMsg;
  metadata?: Record<string, AnyMsg>;
}

export interface StatusProtoMsg {
  error_code?: number;
  error_message?: string;
}

export interface ModelVersionStatusMsg {
  version?: Int64;
  state?: number;
  status?: StatusProtoMsg;
}

export interface GetModelStatusRequestMsg {
  model_spec?: ModelSpecMsg;
}

export interface GetModelStatusResponseMsg {
  model_version_status?: ModelVersionStatusMsg[];
}

export interface ReloadConfigRequestMsg {
  config?: Record<string, unknown>;
  metric_names?: string[];
}

export interface ReloadConfigResponseMsg {
  status?: StatusProtoMsg;
  metric?: { name?: string; int64_value_increase?: Int64 }[];
}

/** tensorflow.serving.PredictionLog (apis/prediction_log.proto), one record of TF Serving's warmup file. */
export interface PredictionLogMsg {
  log_metadata?: { model_spec?: ModelSpecMsg; saved_model_tags?: string[]; timestamp_secs?: Int64 };
  classify_log?: { request?: ClassificationRequestMsg };
  regress_log?: { request?: RegressionRequestMsg };
  multi_inference_log?: { request?: MultiInferenceRequestMsg };
  session_run_log?: { request?: Uint8Array };
  predict_log?: { request?: PredictRequestMsg };
  predict_streamed_log?: { request?: PredictRequestMsg[] };
  log_type?: PredictionLogType;
}

export type PredictionLogType =
  'classify_log' | 'regress_log' | 'multi_inference_log' | 'session_run_log' | 'predict_log' | 'predict_streamed_log';
