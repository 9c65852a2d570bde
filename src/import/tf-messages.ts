/**
 * Plain-object shapes of the TensorFlow messages the importer reads, as protobufjs decodes them (src/import/
 * protos.ts: snake_case fields, int64 as strings, bytes as Buffers, absent fields undefined).
 */
export interface TensorShapeMsg {
  dim?: { size?: string; name?: string }[];
  unknown_rank?: boolean;
}

export interface TensorMsg {
  dtype?: number;
  tensor_shape?: TensorShapeMsg;
  tensor_content?: Uint8Array;
  half_val?: number[];
  float_val?: number[];
  double_val?: number[];
  int_val?: number[];
  string_val?: Uint8Array[];
  int64_val?: string[];
  bool_val?: boolean[];
  uint32_val?: number[];
  uint64_val?: string[];
}

export interface NameAttrListMsg {
  name?: string;
  attr?: Record<string, AttrValueMsg>;
}

export interface AttrValueMsg {
  /** Which member of the oneof is set (protobufjs `oneofs: true`). */
  value?: 'list' | 's' | 'i' | 'f' | 'b' | 'type' | 'shape' | 'tensor' | 'func' | 'placeholder';
  s?: Uint8Array;
  i?: string;
  f?: number;
  b?: boolean;
  type?: number;
  shape?: TensorShapeMsg;
  tensor?: TensorMsg;
  func?: NameAttrListMsg;
  placeholder?: string;
  list?: {
    s?: Uint8Array[];
    i?: string[];
    f?: number[];
    b?: boolean[];
    type?: number[];
    shape?: TensorShapeMsg[];
    tensor?: TensorMsg[];
    func?: NameAttrListMsg[];
  };
}

export interface NodeDefMsg {
  name?: string;
  op?: string;
  input?: string[];
  device?: string;
  attr?: Record<string, AttrValueMsg>;
}

export interface ArgDefMsg {
  name?: string;
  type?: number;
  type_attr?: string;
  number_attr?: string;
  type_list_attr?: string;
}

export interface FunctionDefMsg {
  signature?: { name?: string; input_arg?: ArgDefMsg[]; output_arg?: ArgDefMsg[] };
  node_def?: NodeDefMsg[];
  ret?: Record<string, string>;
  control_ret?: Record<string, string>;
}

export interface GraphDefMsg {
  node?: NodeDefMsg[];
  library?: { function?: FunctionDefMsg[] };
  versions?: { producer?: number };
}

export interface TensorInfoMsg {
  name?: string;
  dtype?: number;
  tensor_shape?: TensorShapeMsg;
  coo_sparse?: unknown;
  composite_tensor?: unknown;
}

export interface SignatureDefMsg {
  inputs?: Record<string, TensorInfoMsg>;
  outputs?: Record<string, TensorInfoMsg>;
  method_name?: string;
}

export interface AnyMsg {
  type_url?: string;
  value?: Uint8Array;
}

export interface CollectionDefMsg {
  node_list?: { value?: string[] };
  bytes_list?: { value?: Uint8Array[] };
  any_list?: { value?: AnyMsg[] };
}

export interface MetaGraphDefMsg {
  meta_info_def?: { tags?: string[]; tensorflow_version?: string };
  graph_def?: GraphDefMsg;
  saver_def?: { filename_tensor_name?: string; restore_op_name?: string; version?: number };
  collection_def?: Record<string, CollectionDefMsg>;
  signature_def?: Record<string, SignatureDefMsg>;
  asset_file_def?: { tensor_info?: TensorInfoMsg; filename?: string }[];
}

export interface SavedModelMsg {
  saved_model_schema_version?: string;
  meta_graphs?: MetaGraphDefMsg[];
}
