/**
 * BatchingParameters (servables/tensorflow/session_bundle_config.proto) read from --batching_parameters_file, with
 * TF Serving's defaults and consistency rules (spec §3.3).
 */
import { availableParallelism } from 'node:os';
import { InvalidArgument } from '../../errors.js';
import { MessageReader } from './message-reader.js';
import { parseTextFormat } from './text-format.js';

/**
 * When a partial batch leaves the queue (flowserve's --batch_dispatch; not a field of TF's BatchingParameters):
 * - `idle_thread` (default): as soon as a batch thread is free, after the turn of the event loop in which its first
 *   task arrived (so requests that arrive together share it), as Triton's dynamic batcher does with no queue delay.
 *   While every batch thread is busy, arriving tasks fill the open batch: the load itself forms the batches, and no
 *   request waits for `batch_timeout_micros` while a thread is idle.
 * - `timeout`: TF Serving's BasicBatchScheduler: a partial batch waits for `batch_timeout_micros` after its first
 *   task (or until it is full) even when a thread is free.
 * In both, `batch_timeout_micros` is the most a partial batch waits once a thread is free.
 */
export type BatchDispatch = 'idle_thread' | 'timeout';

const BATCH_DISPATCH_VALUES: readonly BatchDispatch[] = ['idle_thread', 'timeout'];

/** --batch_dispatch's value, or InvalidArgument naming the flag and the values it takes. */
export function parseBatchDispatch(text: string): BatchDispatch {
  const value = text.trim().toLowerCase() as BatchDispatch;
  if (!BATCH_DISPATCH_VALUES.includes(value)) {
    throw new InvalidArgument(
      `invalid value for --batch_dispatch: '${text}' (expected ${BATCH_DISPATCH_VALUES.join(' or ')})`,
    );
  }
  return value;
}

/**
 * Whether batches are padded up to the next of `allowed_batch_sizes` (flowserve's --batch_padding; not a field of TF's
 * BatchingParameters):
 * - `auto` (default): only for models on the GPU, where a new input shape can mean new compiled kernels (TF Serving
 *   pads for the same reason: its graphs are compiled per batch size). On the CPU, ONNX Runtime runs any batch size
 *   at the same cost on first use as later, so a padded row is computed only to be thrown away: a batch of 33 CNN
 *   requests padded to 64 costs nearly twice the run. There a batch runs at its own size.
 * - `always`: TF Serving's rule on every device.
 * The outputs are the same either way; what differs is the batch size the model runs (and the padding metrics).
 */
export type BatchPadding = 'auto' | 'always';

const BATCH_PADDING_VALUES: readonly BatchPadding[] = ['auto', 'always'];

/** --batch_padding's value, or InvalidArgument naming the flag and the values it takes. */
export function parseBatchPadding(text: string): BatchPadding {
  const value = text.trim().toLowerCase() as BatchPadding;
  if (!BATCH_PADDING_VALUES.includes(value)) {
    throw new InvalidArgument(
      `invalid value for --batch_padding: '${text}' (expected ${BATCH_PADDING_VALUES.join(' or ')})`,
    );
  }
  return value;
}

/** Whether a model on `device` pads its batches to `allowed_batch_sizes` under `parameters.padding`. */
export function padsToAllowedSizes(parameters: Pick<BatchingParameters, 'padding'>, device: string): boolean {
  return parameters.padding === 'always' || device !== 'cpu';
}

export interface BatchingParameters {
  maxBatchSize: number;
  batchTimeoutMicros: number;
  maxEnqueuedBatches: number;
  /** How many batches of one scheduler may run at the same time. */
  numBatchThreads: number;
  threadPoolName: string;
  /** Empty = any size; otherwise batches are padded up to the next entry (on the CPU only with `padding: 'always'`). */
  allowedBatchSizes: number[];
  padVariableLengthInputs: boolean;
  enableLargeBatchSplitting: boolean;
  /** Only used with splitting; defaults to maxBatchSize. */
  maxExecutionBatchSize: number;
  /** --batch_dispatch; undefined = `idle_thread`. */
  dispatch?: BatchDispatch;
  /** --batch_padding; undefined = `auto`. */
  padding?: BatchPadding;
}

const FIELDS = [
  'max_batch_size',
  'batch_timeout_micros',
  'max_enqueued_batches',
  'num_batch_threads',
  'thread_pool_name',
  'allowed_batch_sizes',
  'pad_variable_length_inputs',
  'enable_large_batch_splitting',
  'max_execution_batch_size',
];

/** TF Serving's defaults when a field is unset (or when --enable_batching is given without a file). */
export function defaultBatchingParameters(): BatchingParameters {
  return {
    maxBatchSize: 1000,
    batchTimeoutMicros: 0,
    maxEnqueuedBatches: 10,
    numBatchThreads: availableParallelism(),
    threadPoolName: 'model_server_batch_threads',
    allowedBatchSizes: [],
    padVariableLengthInputs: false,
    enableLargeBatchSplitting: false,
    maxExecutionBatchSize: 1000,
  };
}

export function parseBatchingParameters(text: string, fileName = '<batching parameters>'): BatchingParameters {
  const r = new MessageReader(parseTextFormat(text, fileName), 'BatchingParameters', fileName, FIELDS);
  const d = defaultBatchingParameters();
  const maxBatchSize = r.int('max_batch_size') ?? d.maxBatchSize;
  return validateBatchingParameters({
    maxBatchSize,
    batchTimeoutMicros: r.int('batch_timeout_micros') ?? d.batchTimeoutMicros,
    maxEnqueuedBatches: r.int('max_enqueued_batches') ?? d.maxEnqueuedBatches,
    numBatchThreads: r.int('num_batch_threads') ?? d.numBatchThreads,
    threadPoolName: r.string('thread_pool_name') ?? 'batch_threads',
    allowedBatchSizes: r.ints('allowed_batch_sizes'),
    padVariableLengthInputs: r.bool('pad_variable_length_inputs') ?? false,
    enableLargeBatchSplitting: r.bool('enable_large_batch_splitting') ?? false,
    maxExecutionBatchSize: r.int('max_execution_batch_size') ?? maxBatchSize,
  });
}

/** The rules of TF Serving's batching_session.cc / batching_util. */
export function validateBatchingParameters(p: BatchingParameters): BatchingParameters {
  const positive: [string, number][] = [
    ['max_batch_size', p.maxBatchSize],
    ['max_enqueued_batches', p.maxEnqueuedBatches],
    ['num_batch_threads', p.numBatchThreads],
    ['max_execution_batch_size', p.maxExecutionBatchSize],
  ];
  for (const [name, value] of positive) {
    if (value <= 0) throw new InvalidArgument(`BatchingParameters.${name} must be positive; got ${value}`);
  }
  if (p.batchTimeoutMicros < 0) {
    throw new InvalidArgument(`BatchingParameters.batch_timeout_micros must be >= 0; got ${p.batchTimeoutMicros}`);
  }
  const sizes = p.allowedBatchSizes;
  for (let i = 0; i < sizes.length; i++) {
    const size = sizes[i] as number;
    if (size <= 0 || (i > 0 && size <= (sizes[i - 1] as number))) {
      throw new InvalidArgument(
        `allowed_batch_sizes entries must be positive and increasing; got [${sizes.join(', ')}]`,
      );
    }
  }
  const last = sizes[sizes.length - 1];
  if (last !== undefined) {
    if (!p.enableLargeBatchSplitting && last !== p.maxBatchSize) {
      throw new InvalidArgument(
        `Last entry in allowed_batch_sizes must match max_batch_size; last entry was ${last}; expected ${p.maxBatchSize}`,
      );
    }
    if (p.enableLargeBatchSplitting && (last > p.maxBatchSize || last !== p.maxExecutionBatchSize)) {
      throw new InvalidArgument(
        `Last entry in allowed_batch_sizes must be <= max_batch_size and equal max_execution_batch_size; ` +
          `last entry was ${last}; expected ${p.maxExecutionBatchSize}`,
      );
    }
  }
  if (p.enableLargeBatchSplitting && p.maxExecutionBatchSize > p.maxBatchSize) {
    throw new InvalidArgument(
      `max_execution_batch_size (${p.maxExecutionBatchSize}) must not exceed max_batch_size (${p.maxBatchSize})`,
    );
  }
  return p;
}
