/** Turns parsed server flags and the files they name into createServingCore's options (spec §3.1 startup rules). */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InvalidArgument } from '../../errors.js';
import type { ServingCoreOptions } from '../core/options.js';
import {
  defaultBatchingParameters,
  parseBatchDispatch,
  parseBatchingParameters,
  parseBatchPadding,
} from './batching-parameters.js';
import { parseSavedModelTags, type ServerFlags } from './flags.js';
import { parseModelServerConfig, resolveBasePath, singleModelConfig } from './model-server-config.js';
import { parseModelControlMode } from './model-control-mode.js';
import { parseMonitoringConfig } from './monitoring-config.js';

async function readConfigFile(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new InvalidArgument(`cannot read --${flag}=${path}: ${(err as Error).message}`);
  }
}

export async function buildCoreOptions(
  flags: ServerFlags,
  extra: Pick<ServingCoreOptions, 'log' | 'registry'> = {},
): Promise<ServingCoreOptions> {
  if (flags.modelBasePath === '' && flags.modelConfigFile === '') {
    throw new InvalidArgument('Both server_options.model_base_path and server_options.model_config_file are empty!');
  }
  // As TF Serving: --model_config_file wins over single-model mode. Unlike TF Serving, relative base paths are
  // accepted: --model_base_path is resolved against the working directory, a config file's base_path against the
  // config file's folder (so a config and its models can move together).
  const modelConfigFile = flags.modelConfigFile === '' ? '' : resolve(flags.modelConfigFile);
  const modelConfig = modelConfigFile
    ? parseModelServerConfig(await readConfigFile(flags.modelConfigFile, 'model_config_file'), flags.modelConfigFile, {
        baseDir: dirname(modelConfigFile),
      })
    : singleModelConfig(flags.modelName, resolveBasePath(flags.modelBasePath, process.cwd()));
  const options: ServingCoreOptions = {
    modelConfig,
    fileSystemPollWaitSeconds: flags.fileSystemPollWaitSeconds,
    maxNumLoadRetries: flags.maxNumLoadRetries,
    loadRetryIntervalMicros: flags.loadRetryIntervalMicros,
    enableModelWarmup: flags.enableModelWarmup,
    allowVersionLabelsForUnavailableModels: flags.allowVersionLabelsForUnavailableModels,
    numWorkers: flags.numWorkers,
    callingThreadRuns: flags.callingThreadRuns,
    jsDenseRuns: flags.jsDenseRuns,
    chunkedRuns: flags.chunkedRuns,
    device: flags.device,
    limits: {
      maxRequestBytes: flags.maxRequestBytes,
      maxInputBytes: flags.maxInputBytes,
      maxExamples: flags.maxExamplesPerRequest,
      maxResponseBytes: flags.maxResponseBytes,
    },
    enableModelManagement: flags.enableModelManagement,
    modelControlMode: parseModelControlMode(flags.modelControlMode, flags.fileSystemPollWaitSeconds),
    savedModelTags: parseSavedModelTags(flags.savedModelTags),
    ...(flags.modelBasePathPrefix ? { modelBasePathPrefix: flags.modelBasePathPrefix } : {}),
    ...(flags.modelCacheDir ? { modelCacheDir: resolve(flags.modelCacheDir) } : {}),
    ...extra,
  };
  if (modelConfigFile) {
    options.modelConfigFile = modelConfigFile;
    options.modelConfigFilePollWaitSeconds = flags.modelConfigFilePollWaitSeconds;
  }
  // Checked even without --enable_batching, so that a typo fails at start-up rather than when batching is turned on.
  const dispatch = parseBatchDispatch(flags.batchDispatch);
  const padding = parseBatchPadding(flags.batchPadding);
  if (flags.enableBatching) {
    const parameters = flags.batchingParametersFile
      ? parseBatchingParameters(
          await readConfigFile(flags.batchingParametersFile, 'batching_parameters_file'),
          flags.batchingParametersFile,
        )
      : defaultBatchingParameters();
    options.batching = { ...parameters, dispatch, padding };
  }
  if (flags.monitoringConfigFile) {
    options.monitoring = parseMonitoringConfig(
      await readConfigFile(flags.monitoringConfigFile, 'monitoring_config_file'),
      flags.monitoringConfigFile,
    );
  }
  return options;
}
