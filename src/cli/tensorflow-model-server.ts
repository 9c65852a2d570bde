#!/usr/bin/env -S node --no-memory-reducer
/**
 * `tensorflow_model_server`: `flowserve serve` under TensorFlow Serving's command name, so that scripts and
 * manifests written for TF Serving run unchanged. KServe's `kserve-tensorflow-serving` runtime calls
 * `/usr/bin/tensorflow_model_server --model_name=… --port=9000 --rest_api_port=8080 --model_base_path=/mnt/models
 * --rest_api_timeout_in_ms=60000`; the image links this file there. The flags are `flowserve serve`'s (which are
 * TF Serving's); only the --host default differs (tensorflow-model-server-args.ts).
 */
import { Command } from 'commander';
import { registerServeCommand } from './serve.js';
import { serveArgumentsOf } from './tensorflow-model-server-args.js';

const program = new Command('tensorflow_model_server').description(
  'flowserve serve under TensorFlow Serving’s command name (binds 0.0.0.0 unless --host is given)',
);
registerServeCommand(program);

program
  .parseAsync([process.argv[0] ?? 'node', process.argv[1] ?? '', 'serve', ...serveArgumentsOf(process.argv.slice(2))])
  .catch((err: unknown) => {
    console.error(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    process.exit(1);
  });
