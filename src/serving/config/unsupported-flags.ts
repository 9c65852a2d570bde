/**
 * TensorFlow Serving flags (tensorflow_model_server, model_servers/main.cc) that flowserve does not honour. Each is
 * refused by name with the reason, rather than ignored or reported as an unrelated error: a flag that silently does
 * nothing is worse than one that stops the start. A flag that a later change implements moves to
 * SERVER_FLAG_DEFINITIONS; a defined flag always wins over an entry here.
 */
export const UNSUPPORTED_TF_SERVING_FLAGS: Readonly<Record<string, string>> = {
  grpc_socket_path: 'gRPC listens on TCP only: --port and --host',
  rest_api_num_threads: 'REST is served on the event loop; inference runs in --num_workers worker threads',
  enable_per_model_batching_parameters: 'one --batching_parameters_file applies to every model',
  num_load_threads: 'versions load one at a time per model',
  num_unload_threads: 'versions unload one at a time per model',
  num_request_iterations_for_warmup: 'each warmup record is replayed once',
  grpc_max_threads: 'grpc-js serves calls on the event loop; inference runs in --num_workers worker threads',
  use_alts_credentials: 'ALTS exists only on Google Cloud',
  platform_config_file: 'models are ONNX; there is no per-platform session config',
  tensorflow_session_parallelism: 'ONNX Runtime computes; use --num_workers',
  tensorflow_intra_op_parallelism: 'ONNX Runtime computes; use --num_workers',
  tensorflow_inter_op_parallelism: 'ONNX Runtime computes; use --num_workers',
  tensorflow_session_config_file: 'ONNX Runtime computes; there is no TensorFlow ConfigProto',
  per_process_gpu_memory_fraction: 'the WebGPU execution provider manages GPU memory itself',
  flush_filesystem_caches: 'there are no TensorFlow file system caches',
  enable_signature_method_name_check:
    'Classify and Regress check method_name, except on a predict signature that parses tf.Examples (as TF2 exports them); Predict takes any signature',
  enable_profiler: 'there is no TensorFlow profiler service',
  remove_unused_fields_from_bundle_metagraph: 'there is no MetaGraph',
  prefer_tflite_model: 'TensorFlow Lite models are not served',
  num_tflite_pools: 'TensorFlow Lite models are not served',
  num_tflite_interpreters_per_pool: 'TensorFlow Lite models are not served',
  mixed_precision: 'models run in the precision they were exported in',
  thread_pool_factory_config_file: 'there are no TensorFlow thread pools',
  xla_cpu_compilation_enabled: 'ONNX Runtime computes; there is no XLA',
  xla_gpu_compilation_enabled: 'ONNX Runtime computes; there is no XLA',
  skip_initialize_tpu: 'there are no TPUs',
};

export function unsupportedFlagMessage(flag: string): string {
  const reason = UNSUPPORTED_TF_SERVING_FLAGS[flag] ?? '';
  return `--${flag} is a TensorFlow Serving flag not supported by flowserve${reason ? ` (${reason})` : ''}`;
}
