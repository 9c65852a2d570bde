/** REST actions over the serving core: each takes the parsed route and body and returns the JSON response text. */
import { InvalidArgument } from '../../../errors.js';
import { SignatureNotFound } from '../../core/request-validation.js';
import type { RequestAdmission, ServingCore } from '../../core/types.js';
import { classify, regress } from '../shared/inference.js';
import { modelStatus, statusResponse } from '../shared/model-status.js';
import type { ModelSpecMsg, TensorInfoMsg } from '../shared/proto-types.js';
import { signatureDefMap } from '../shared/signature-def.js';
import { errorCodeName, versionStateName } from '../shared/status-codes.js';
import { tfDtypeName } from '../shared/tensor-proto.js';
import { classifyResultsJson, examplesFromJson, regressResultsJson } from './json-examples.js';
import { readRequestJson, type JsonObject } from './json-reader.js';
import { LongText } from './long-text.js';
import { joinPieces } from './json-format.js';
import { decodePredictBody, predictResponsePieces } from './json-tensors.js';
import { ASSEMBLED_REPLY_BYTES, assembleJson } from './reply-assembler.js';
import { checkReplyBytes, jsonTensorBytes } from '../shared/reply-limit.js';
import { isJsonObject, PREVIEW_CHARS, previewJson, previewText } from './json-values.js';
import type { RestRoute } from './paths.js';

export interface RestResult {
  /** JSON text; a large reply comes as its UTF-8 bytes (./reply-assembler.ts). */
  body: string | Buffer;
  /** The version that served the request, for metrics. */
  version?: number;
}

/**
 * Reads a request body with TF Serving's JSON rules; the top level must be an object. Long string values are left in
 * the body as LongText (json-reader.ts): in a Predict body they are string tensor elements, in a Classify or Regress
 * body bytes_list elements (json-examples.ts). `predict`: a Predict body, whose arrays of numbers are most likely
 * float32 inputs, converted while they are scanned.
 */
export async function readJsonBody(body: Uint8Array, core: ServingCore, predict = false): Promise<JsonObject> {
  // Ordinary values (strings, objects) are bounded like decoded inputs; arrays of numbers stay in the body.
  const value = await readRequestJson(body, {
    maxValueBytes: core.limits.maxInputBytes,
    float32Values: predict,
    longText: true,
  });
  if (!isJsonObject(value)) throw new InvalidArgument(`JSON Value: ${previewJson(value)} Is not object`);
  return value;
}

function signatureNameOf(body: JsonObject): string | undefined {
  const name = body.signature_name;
  if (name === undefined) return undefined;
  if (name instanceof LongText) {
    const opening = previewText(name.opening(PREVIEW_CHARS + 1));
    throw new InvalidArgument(`Serving signature name: "${opening}" not found in signature def`);
  }
  if (typeof name !== 'string') throw new InvalidArgument("'signature_name' key must be a string value.");
  return name || undefined;
}

/** The request's signature and its admission; a missing signature is 400 with TF Serving's REST message. */
function predictAdmission(core: ServingCore, route: RestRoute, requested: string | undefined): RequestAdmission {
  try {
    return core.admission(route.selector, requested);
  } catch (err) {
    if (err instanceof SignatureNotFound) {
      throw new InvalidArgument(
        `Serving signature name: "${previewText(err.signatureName)}" not found in signature def`,
      );
    }
    throw err;
  }
}

/**
 * `deadline`: Date.now() ms when the REST timeout answers for the request (RunRequest.deadline); `connection`: the
 * run group the transport named (RestRequest.connection).
 */
export async function predictAction(
  core: ServingCore,
  route: RestRoute,
  bytes: Uint8Array,
  deadline?: number,
  connection?: object,
): Promise<RestResult> {
  const body = await readJsonBody(bytes, core, true);
  const { signatureName, admission } = predictAdmission(core, route, signatureNameOf(body));
  const decoded = await decodePredictBody(body, admission.signature.inputs, admission);
  // The tensors were decoded for this request alone: the worker may take their buffers instead of a copy.
  const result = await core.run({
    model: route.selector,
    signatureName,
    inputs: decoded.inputs,
    inputsOwned: true,
    ...(deadline === undefined ? {} : { deadline }),
    ...(connection === undefined ? {} : { connection }),
  });
  const { maxResponseBytes } = core.limits;
  const replyBytes = checkReplyBytes(result.outputs, maxResponseBytes, jsonTensorBytes);
  const pieces = predictResponsePieces(decoded.format, result.outputs);
  const reply = replyBytes < ASSEMBLED_REPLY_BYTES ? joinPieces(pieces) : await assembleJson(pieces, maxResponseBytes);
  return { body: reply, version: result.version };
}

export async function classifyAction(
  core: ServingCore,
  route: RestRoute,
  bytes: Uint8Array,
  deadline?: number,
): Promise<RestResult> {
  const body = await readJsonBody(bytes, core);
  const signatureName = signatureNameOf(body);
  const examples = await examplesFromJson(body, 'classify');
  const outcome = await classify(core, {
    selector: route.selector,
    signatureName,
    examples,
    ...(deadline === undefined ? {} : { deadline }),
  });
  return { body: classifyResultsJson(outcome.classifications), version: outcome.version };
}

export async function regressAction(
  core: ServingCore,
  route: RestRoute,
  bytes: Uint8Array,
  deadline?: number,
): Promise<RestResult> {
  const body = await readJsonBody(bytes, core);
  const signatureName = signatureNameOf(body);
  const examples = await examplesFromJson(body, 'regress');
  const outcome = await regress(core, {
    selector: route.selector,
    signatureName,
    examples,
    ...(deadline === undefined ? {} : { deadline }),
  });
  return { body: regressResultsJson(outcome.values), version: outcome.version };
}

/** GetModelStatusResponse as protobuf JSON: int64 as strings, enums by name, every field printed. */
export function statusAction(core: ServingCore, route: RestRoute): RestResult {
  const spec: ModelSpecMsg = { name: route.selector.name };
  if (route.selector.version !== undefined) spec.version = { value: String(route.selector.version) };
  const response = statusResponse(modelStatus(core, spec));
  const json = {
    model_version_status: (response.model_version_status ?? []).map((s) => ({
      version: String(s.version),
      state: versionStateName(s.state ?? 0),
      status: { error_code: errorCodeName(s.status?.error_code ?? 0), error_message: s.status?.error_message ?? '' },
    })),
  };
  return { body: JSON.stringify(json, null, 4) };
}

function tensorInfoJson(info: TensorInfoMsg) {
  return {
    dtype: tfDtypeName(info.dtype ?? 0),
    tensor_shape: {
      dim: (info.tensor_shape?.dim ?? []).map((d) => ({ size: String(d.size), name: '' })),
      unknown_rank: info.tensor_shape?.unknown_rank ?? false,
    },
    name: info.name ?? '',
  };
}

/** TF Serving's hand-assembled metadata JSON: model_spec plus signature_def, snake_case, int64 as strings. */
export function metadataAction(core: ServingCore, route: RestRoute): RestResult {
  const info = core.info(route.selector);
  const defs = signatureDefMap(info).signature_def ?? {};
  const signatureDef = Object.fromEntries(
    Object.entries(defs).map(([name, def]) => [
      name,
      {
        inputs: Object.fromEntries(Object.entries(def.inputs ?? {}).map(([k, v]) => [k, tensorInfoJson(v)])),
        outputs: Object.fromEntries(Object.entries(def.outputs ?? {}).map(([k, v]) => [k, tensorInfoJson(v)])),
        method_name: def.method_name ?? '',
        defaults: {},
      },
    ]),
  );
  const json = {
    model_spec: { name: info.modelName, signature_name: '', version: String(info.version) },
    metadata: { signature_def: { signature_def: signatureDef } },
  };
  return { body: JSON.stringify(json, null, 4), version: info.version };
}
