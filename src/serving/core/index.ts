/** The serving core's public surface (what the API adapters and the CLI use). */
import { ServingCoreImpl } from './serving-core.js';
import type { ServingCoreOptions } from './options.js';

export { ServingCoreImpl } from './serving-core.js';
export type { ServingCoreEvents } from './serving-core.js';
export type { ServingCoreOptions } from './options.js';
export type { TransitionEvent } from './state-machine.js';
export { SignatureNotFound } from './request-validation.js';
export type { Loader, LoaderFactory, Servable } from './servable.js';
export { TF_WARMUP_FILE, MAX_WARMUP_RECORDS, type TfWarmupReader, type WarmupRequest } from './warmup.js';
export * from './types.js';
export { MANY_CONNECTIONS, MAX_BURST_HERE } from '../worker/worker-pool.js';
export type { RequestRecord } from '../metrics/serving-metrics.js';

/**
 * Starts the serving core: applies the initial model config and begins version polling and loading. It does not
 * wait for models to load: await `core.ready()` for that (TF Serving opens its ports only then).
 * Always `await core.close()`: it stops polling, drains requests and terminates the worker threads.
 */
export async function createServingCore(options: ServingCoreOptions): Promise<ServingCoreImpl> {
  const core = new ServingCoreImpl(options);
  try {
    await core.start();
  } catch (err) {
    await core.close();
    throw err;
  }
  return core;
}
