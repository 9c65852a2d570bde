/**
 * What `tensorflow_model_server ARGS` runs: `flowserve serve` with TF Serving's flags as given, and TF Serving's
 * --host default. TF Serving binds every interface; `flowserve serve` binds 127.0.0.1 unless told otherwise (so a
 * developer's server is not exposed by accident). A stand-in for the TF Serving binary must bind like it: a
 * kubelet's probes and a Service reach a pod on its own IP, never on its loopback.
 */

/** Where `tensorflow_model_server` listens unless --host says otherwise: all interfaces, as TF Serving. */
export const TF_SERVING_DEFAULT_HOST = '0.0.0.0';

/** True when `args` set --host (`--host=X` or `--host X`). */
function setsHost(args: readonly string[]): boolean {
  return args.some((arg) => arg === '--host' || arg.startsWith('--host='));
}

/** The `flowserve serve` arguments of `tensorflow_model_server ARGS`: ARGS, after TF Serving's --host default. */
export function serveArgumentsOf(args: readonly string[]): string[] {
  return setsHost(args) ? [...args] : [`--host=${TF_SERVING_DEFAULT_HOST}`, ...args];
}
