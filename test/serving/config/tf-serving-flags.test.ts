/**
 * Every flag of tensorflow_model_server (spec §3.1, model_servers/main.cc) is either honoured or refused by name:
 * none is ignored, and none fails with an unrelated error.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { InvalidArgument } from '../../../src/errors.js';
import {
  defineServerFlags,
  parseGrpcChannelArguments,
  parseServerFlags,
  SERVER_FLAG_DEFINITIONS,
  UNSUPPORTED_TF_SERVING_FLAGS,
} from '../../../src/serving/config/index.js';

/** TF Serving's flags, each with a command line that sets it to a value other than its default. */
const TF_SERVING_FLAGS: readonly { flag: string; argv: string[] }[] = [
  { flag: 'port', argv: ['--port=9000'] },
  { flag: 'grpc_socket_path', argv: ['--grpc_socket_path=/tmp/flowserve.sock'] },
  { flag: 'rest_api_port', argv: ['--rest_api_port=9001'] },
  { flag: 'rest_api_num_threads', argv: ['--rest_api_num_threads', '4'] },
  { flag: 'rest_api_timeout_in_ms', argv: ['--rest_api_timeout_in_ms=5000'] },
  { flag: 'rest_api_enable_cors_support', argv: ['--rest_api_enable_cors_support'] },
  { flag: 'model_name', argv: ['--model_name=mnist'] },
  { flag: 'model_base_path', argv: ['--model_base_path=/models/mnist'] },
  { flag: 'model_config_file', argv: ['--model_config_file=/models/models.config'] },
  { flag: 'model_config_file_poll_wait_seconds', argv: ['--model_config_file_poll_wait_seconds=60'] },
  { flag: 'file_system_poll_wait_seconds', argv: ['--file_system_poll_wait_seconds=5'] },
  { flag: 'enable_batching', argv: ['--enable_batching'] },
  { flag: 'batching_parameters_file', argv: ['--enable_batching', '--batching_parameters_file=/b.txt'] },
  { flag: 'enable_per_model_batching_parameters', argv: ['--enable_per_model_batching_parameters=true'] },
  { flag: 'allow_version_labels_for_unavailable_models', argv: ['--allow_version_labels_for_unavailable_models'] },
  { flag: 'max_num_load_retries', argv: ['--max_num_load_retries=1'] },
  { flag: 'load_retry_interval_micros', argv: ['--load_retry_interval_micros=1000'] },
  { flag: 'num_load_threads', argv: ['--num_load_threads=4'] },
  { flag: 'num_unload_threads', argv: ['--num_unload_threads=4'] },
  { flag: 'enable_model_warmup', argv: ['--enable_model_warmup=false'] },
  { flag: 'num_request_iterations_for_warmup', argv: ['--num_request_iterations_for_warmup=3'] },
  { flag: 'grpc_max_threads', argv: ['--grpc_max_threads=8'] },
  { flag: 'grpc_channel_arguments', argv: ['--grpc_channel_arguments=grpc.max_connection_age_ms=2000'] },
  { flag: 'ssl_config_file', argv: ['--ssl_config_file=/ssl.config'] },
  { flag: 'use_alts_credentials', argv: ['--use_alts_credentials'] },
  { flag: 'monitoring_config_file', argv: ['--monitoring_config_file=/monitoring.config'] },
  { flag: 'platform_config_file', argv: ['--platform_config_file=/platform.config'] },
  { flag: 'saved_model_tags', argv: ['--saved_model_tags=serve,gpu'] },
  { flag: 'tensorflow_session_parallelism', argv: ['--tensorflow_session_parallelism=2'] },
  { flag: 'tensorflow_intra_op_parallelism', argv: ['--tensorflow_intra_op_parallelism=2'] },
  { flag: 'tensorflow_inter_op_parallelism', argv: ['--tensorflow_inter_op_parallelism=2'] },
  { flag: 'tensorflow_session_config_file', argv: ['--tensorflow_session_config_file=/session.config'] },
  { flag: 'per_process_gpu_memory_fraction', argv: ['--per_process_gpu_memory_fraction=0.5'] },
  { flag: 'flush_filesystem_caches', argv: ['--flush_filesystem_caches=false'] },
  { flag: 'enable_signature_method_name_check', argv: ['--enable_signature_method_name_check'] },
  { flag: 'enable_profiler', argv: ['--enable_profiler=false'] },
  { flag: 'enable_grpc_healthcheck_service', argv: ['--enable_grpc_healthcheck_service=false'] },
  { flag: 'enable_serialization_as_tensor_content', argv: ['--enable_serialization_as_tensor_content'] },
  { flag: 'remove_unused_fields_from_bundle_metagraph', argv: ['--remove_unused_fields_from_bundle_metagraph=false'] },
  { flag: 'prefer_tflite_model', argv: ['--prefer_tflite_model'] },
  { flag: 'num_tflite_pools', argv: ['--num_tflite_pools=2'] },
  { flag: 'num_tflite_interpreters_per_pool', argv: ['--num_tflite_interpreters_per_pool=2'] },
  { flag: 'mixed_precision', argv: ['--mixed_precision=bfloat16'] },
  { flag: 'thread_pool_factory_config_file', argv: ['--thread_pool_factory_config_file=/pools.config'] },
  { flag: 'xla_cpu_compilation_enabled', argv: ['--xla_cpu_compilation_enabled'] },
  { flag: 'xla_gpu_compilation_enabled', argv: ['--xla_gpu_compilation_enabled'] },
  { flag: 'skip_initialize_tpu', argv: ['--skip_initialize_tpu=false'] },
];

/** Flags whose only value other than flowserve's fixed behaviour is refused with a message of its own. */
const REFUSED_VALUES: Readonly<Record<string, RegExp>> = {
  enable_grpc_healthcheck_service: /--enable_grpc_healthcheck_service=false is not supported by flowserve/,
};

const defined = new Set(SERVER_FLAG_DEFINITIONS.map((def) => def.flag));

describe("TensorFlow Serving's flags", () => {
  for (const { flag, argv } of TF_SERVING_FLAGS) {
    const refusedValue = REFUSED_VALUES[flag];
    if (refusedValue) {
      it(`--${flag}: the value flowserve cannot honour is refused by name`, () => {
        assert.ok(defined.has(flag), `--${flag} is not defined`);
        assert.throws(
          () => parseServerFlags(argv),
          (err: unknown) => err instanceof InvalidArgument && refusedValue.test(err.message),
        );
      });
    } else if (defined.has(flag)) {
      it(`--${flag} is honoured: it changes the parsed server flags`, () => {
        assert.notDeepEqual(parseServerFlags(argv), parseServerFlags([]));
      });
    } else {
      it(`--${flag} is refused by name`, () => {
        assert.throws(
          () => parseServerFlags(argv),
          (err: unknown) =>
            err instanceof InvalidArgument &&
            err.message.startsWith(`--${flag} is a TensorFlow Serving flag not supported by flowserve (`),
        );
      });
    }
  }

  it('docs/serving-config.md lists every flag flowserve refuses', () => {
    // Tests run from dist/test/serving/config/: the repository is four folders up.
    const docs = readFileSync(new URL('../../../../docs/serving-config.md', import.meta.url), 'utf8');
    const refused = Object.keys(UNSUPPORTED_TF_SERVING_FLAGS).filter((flag) => !defined.has(flag));
    assert.deepEqual(
      refused.filter((flag) => !docs.includes(`\`--${flag}\``)),
      [],
    );
  });

  it('a refused flag is refused in its bare boolean form too', () => {
    assert.throws(() => parseServerFlags(['--use_alts_credentials']), /--use_alts_credentials is a TensorFlow Serving/);
  });

  it("a flag that is neither TF Serving's nor flowserve's is an error, not ignored", () => {
    assert.throws(() => parseServerFlags(['--enable_cors_support']), /unknown option '--enable_cors_support'/);
  });
});

describe('server flag values', () => {
  it('ports are checked at parse time: 0 to 65535', () => {
    assert.equal(parseServerFlags(['--port=0']).port, 0);
    assert.equal(parseServerFlags(['--rest_api_port=65535']).restApiPort, 65535);
    for (const bad of ['--port=70000', '--port=-1', '--rest_api_port=65536', '--port=80a', '--port=']) {
      assert.throws(
        () => parseServerFlags([bad]),
        (err: unknown) =>
          err instanceof InvalidArgument &&
          /expected a port number, 0 to 65535/.test(err.message) &&
          err.message.includes(bad.split('=')[0] as string),
        bad,
      );
    }
  });

  it('--grpc_channel_arguments becomes grpc-js options, integers where they parse', () => {
    assert.deepEqual(parseGrpcChannelArguments(''), {});
    assert.deepEqual(
      parseGrpcChannelArguments(
        'grpc.max_connection_age_ms=2000, grpc.primary_user_agent=me,grpc-node.max_session_memory=-1',
      ),
      { 'grpc.max_connection_age_ms': 2000, 'grpc.primary_user_agent': 'me', 'grpc-node.max_session_memory': -1 },
    );
  });

  it('--grpc_channel_arguments refuses entries without a key and keys grpc-js would ignore', () => {
    assert.throws(
      () => parseServerFlags(['--grpc_channel_arguments=grpc.a=1,oops']),
      /invalid entry in --grpc_channel_arguments: 'oops' \(expected key=value\)/,
    );
    assert.throws(() => parseServerFlags(['--grpc_channel_arguments==1']), /invalid entry/);
    assert.throws(
      () => parseServerFlags(['--grpc_channel_arguments=max_connection_age_ms=1']),
      /invalid key in --grpc_channel_arguments: 'max_connection_age_ms'/,
    );
  });

  it('--help shows each default once, and no empty default', () => {
    const help = defineServerFlags(new Command('serve')).helpInformation();
    for (const line of help.split('\n')) {
      assert.ok((line.match(/\(default:/g) ?? []).length <= 1, line);
      assert.doesNotMatch(line, /\(default: \)/);
    }
    assert.match(help, /--num_workers <value> +inference worker threads \(default: CPU count\)/);
    assert.doesNotMatch(help, /--grpc_socket_path/, 'refused flags are not advertised');
  });
});
