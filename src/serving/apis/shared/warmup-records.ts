/**
 * TensorFlow Serving's warmup file (spec §3.6, docs/warmup-format.md):
 * `<version>/assets.extra/tf_serving_warmup_requests`, a TFRecord file of serialized PredictionLog. Each record becomes the core's WarmupRequest(s), run once:
 * predict_log as a Predict, classify_log/regress_log as Classify/Regress (tf.Examples → inputs and the output checks
 * of those APIs), multi_inference_log as one Classify/Regress per task. session_run_log and predict_streamed_log are
 * UNIMPLEMENTED. A record's model_spec name/version are ignored (the version being loaded answers); its
 * signature_name is honoured. Any error names the file and the record and fails the version's load.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FlowserveError, InvalidArgument, Unimplemented } from '../../../errors.js';
import {
  MAX_WARMUP_RECORDS,
  METHOD_CLASSIFY,
  METHOD_REGRESS,
  TF_WARMUP_FILE,
  type ServableInfo,
  type WarmupRequest,
} from '../../core/index.js';
import { examplesFromInput, examplesToInputs } from './examples.js';
import {
  checkSignature,
  classifyOutputFilter,
  regressOutputFilter,
  toClassifications,
  toRegressions,
} from './inference.js';
import type { InputMsg, PredictionLogMsg, PredictRequestMsg } from './proto-types.js';
import { protobufRoot } from './protos.js';
import { tfRecords } from './tfrecord.js';
import { decodeTensorProto } from './tensor-proto.js';

/** Same conversion as @grpc/proto-loader with LOADER_OPTIONS, so the shared decoders see the shapes they expect. */
const TO_OBJECT = { longs: String, enums: Number, arrays: true, oneofs: true, defaults: false } as const;

/** The TfWarmupReader startServer gives the core: undefined when the version has no TF warmup file. */
export async function readTfWarmupRequests(
  versionDir: string,
  servable: ServableInfo,
): Promise<WarmupRequest[] | undefined> {
  const path = join(versionDir, TF_WARMUP_FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseTfWarmupRecords(bytes, path, servable);
}

export function parseTfWarmupRecords(bytes: Uint8Array, path: string, servable: ServableInfo): WarmupRequest[] {
  const type = protobufRoot().lookupType('tensorflow.serving.PredictionLog');
  const requests: WarmupRequest[] = [];
  let index = 0;
  for (const record of tfRecords(bytes, path)) {
    if (index >= MAX_WARMUP_RECORDS) {
      throw new InvalidArgument(`Number of warmup records exceeds the maximum (${MAX_WARMUP_RECORDS}) at ${path}`);
    }
    const where = `${path}: record ${index}`;
    let log: PredictionLogMsg;
    try {
      log = type.toObject(type.decode(record), TO_OBJECT) as PredictionLogMsg;
    } catch (err) {
      throw new InvalidArgument(`${where}: cannot parse PredictionLog: ${(err as Error).message}`, { cause: err });
    }
    requests.push(...requestsOfLog(log, where, servable));
    index++;
  }
  return requests;
}

function requestsOfLog(log: PredictionLogMsg, where: string, servable: ServableInfo): WarmupRequest[] {
  const logType = log.log_type;
  const origin = `${where} (${logType ?? 'no log_type'})`;
  try {
    switch (logType) {
      case 'predict_log':
        return [predictRequest(log.predict_log?.request ?? {}, origin)];
      case 'classify_log': {
        const request = log.classify_log?.request ?? {};
        return [exampleRequest(servable, METHOD_CLASSIFY, request.model_spec?.signature_name, request.input, origin)];
      }
      case 'regress_log': {
        const request = log.regress_log?.request ?? {};
        return [exampleRequest(servable, METHOD_REGRESS, request.model_spec?.signature_name, request.input, origin)];
      }
      case 'multi_inference_log': {
        const request = log.multi_inference_log?.request ?? {};
        const tasks = request.tasks ?? [];
        if (tasks.length === 0) throw new InvalidArgument('MultiInferenceRequest has no tasks');
        return tasks.map((task) => {
          if (task.method_name !== METHOD_CLASSIFY && task.method_name !== METHOD_REGRESS) {
            throw new Unimplemented(`Unsupported signature method_name: ${task.method_name ?? ''}`);
          }
          return exampleRequest(servable, task.method_name, task.model_spec?.signature_name, request.input, origin);
        });
      }
      default:
        throw new Unimplemented(`Unsupported log_type for warmup: ${logType ?? 'LOG_TYPE_NOT_SET'}`);
    }
  } catch (err) {
    const message = `${origin}: ${(err as Error).message}`;
    if (err instanceof Unimplemented) throw new Unimplemented(message, { cause: err });
    if (err instanceof FlowserveError) throw new InvalidArgument(message, { cause: err });
    throw err;
  }
}

function predictRequest(request: PredictRequestMsg, origin: string): WarmupRequest {
  const inputs = Object.fromEntries(
    Object.entries(request.inputs ?? {}).map(([alias, proto]) => [alias, decodeTensorProto(proto, alias)]),
  );
  return {
    signatureName: request.model_spec?.signature_name ?? '',
    inputs,
    iterations: 1,
    ...(request.output_filter?.length ? { outputFilter: request.output_filter } : {}),
    origin,
  };
}

/** A Classify or Regress as inference.ts runs it: method check, tf.Examples → inputs, the API's output checks. */
function exampleRequest(
  servable: ServableInfo,
  method: string,
  signatureName: string | undefined,
  input: InputMsg | undefined,
  origin: string,
): WarmupRequest {
  const { name, signature } = checkSignature(servable, signatureName, method);
  const classifying = method === METHOD_CLASSIFY;
  const outputFilter = classifying ? classifyOutputFilter(signature) : regressOutputFilter(signature, name);
  const examples = examplesFromInput(input);
  const batch = examples.length;
  return {
    signatureName: name,
    ...(signature.parseExamples ? { inputs: {}, examples } : { inputs: examplesToInputs(examples, signature, name) }),
    iterations: 1,
    outputFilter,
    checkOutputs: classifying
      ? (outputs) => void toClassifications(outputs, signature, batch)
      : (outputs) => void toRegressions(outputs.outputs, batch),
    origin,
  };
}
