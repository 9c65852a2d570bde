/**
 * The Open Inference Protocol's REST routes (spec §2), on the REST port beside TF Serving's /v1: health, server and
 * model metadata, model readiness, inference (JSON and the binary tensor data extension), and the Triton
 * extensions' routes. Decode → v2 core → encode; errors are {"error": msg} with the error's HTTP status (NOT_FOUND
 * 404, UNAVAILABLE 503, UNIMPLEMENTED 501, INTERNAL 500, the client's mistakes 400), as Triton maps them.
 *
 * Health answers with a status (200, else 400 as Triton) and a small JSON body (KServe's), which clients ignore.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidArgument, toFlowserveError } from '../../../errors.js';
import { dtypeInfo } from '../../../graph/dtype.js';
import type { ServingCore } from '../../core/types.js';
import type { RequestObserver } from '../shared/request-event.js';
import {
  bodyBytes,
  errorReply,
  jsonContentType,
  restRequestOf,
  sendReply,
  withTimeout,
  type RestReply,
  type RestRequest,
} from '../rest/http-common.js';
import { readRequestJson, type JsonObject } from '../rest/json-reader.js';
import { isJsonObject } from '../rest/json-values.js';
import { modelConfigV2 } from '../v2/config.js';
import { v2DatatypeOf } from '../v2/datatypes.js';
import {
  checkV2Outputs,
  inferV2,
  requestDeadlineV2,
  resolveV2Target,
  type V2InferOptions,
  type V2InferRequest,
  type V2InferTarget,
} from '../v2/infer.js';
import { repositoryIndexV2, repositoryLoadV2, repositoryUnloadV2 } from '../v2/repository.js';
import { modelStatisticsV2 } from '../v2/statistics.js';
import { modelMetadataV2, modelReadyV2, serverLiveV2, serverMetadataV2, serverReadyV2 } from '../v2/metadata.js';
import {
  HEADER_LENGTH,
  headerLengthOf,
  keptInferRequest,
  readInferRequest,
  type V2RestInput,
} from './infer-request.js';
import {
  checkJsonOutputDtype,
  encodeBinaryInferResponse,
  encodeInferResponse,
  outputIsBinary,
  replyBound,
} from './infer-response.js';
import { ASSEMBLED_REPLY_BYTES } from '../rest/reply-assembler.js';
import { decodeBinaryInputs, decodeInputs } from './input-tensors.js';
import { parseV2Path, type V2Route } from './paths.js';

export interface V2RoutesOptions {
  observe?: RequestObserver;
  /** Largest body, also after gunzip (--max_request_bytes). */
  bodyLimit: number;
  /** --rest_api_timeout_in_ms; 0 = none. */
  timeoutMs: number;
}

const json = (value: unknown, status = 200): RestReply => ({
  status,
  body: JSON.stringify(value),
  contentType: 'application/json',
});

/** The health paths, which answer without credentials (probes carry none, as gRPC health needs none). */
export function isV2HealthPath(url: string): boolean {
  const path = url.split('?')[0];
  return path === '/v2/health/live' || path === '/v2/health/ready';
}

/**
 * A raw binary request (Inference-Header-Content-Length: 0, spec §5): the body is the bytes of the model's only
 * input; its shape is the signature's with the one variable dimension filled from the byte count (BYTES: one element).
 */
function rawInput(target: V2InferTarget, bodyLength: number): V2RestInput {
  const names = Object.keys(target.signature.inputs);
  if (names.length !== 1) {
    throw new InvalidArgument(
      `a raw binary request (Inference-Header-Content-Length: 0) needs a model with exactly one input; ` +
        `model '${target.modelName}' has ${names.length}`,
    );
  }
  const name = names[0] as string;
  const spec = target.signature.inputs[name]!;
  const datatype = v2DatatypeOf(spec.dtype);
  const binary = { offset: 0, length: bodyLength };
  const variable = spec.shape.filter((d) => d < 0).length;
  const where = `raw binary input '${name}' (signature shape [${spec.shape.join(',')}])`;
  if (variable > 1) throw new InvalidArgument(`${where}: more than one variable dimension, so its shape is unknown`);
  if (spec.dtype === 'string') {
    return { name, datatype, shape: spec.shape.length === 0 ? [1] : spec.shape.map((d) => (d < 0 ? 1 : d)), binary };
  }
  const bytesPerElement = dtypeInfo(spec.dtype).bytesPerElement;
  if (bodyLength % bytesPerElement !== 0) {
    throw new InvalidArgument(`${where}: ${bodyLength} bytes is not a whole number of ${datatype} elements`);
  }
  const count = bodyLength / bytesPerElement;
  if (spec.shape.length === 0) return { name, datatype, shape: [count], binary };
  const known = spec.shape.reduce((n, d) => (d < 0 ? n : n * d), 1);
  if (variable === 0 || known === 0)
    return { name, datatype, shape: [...spec.shape].map((d) => Math.max(d, 0)), binary };
  if (count % known !== 0) {
    throw new InvalidArgument(`${where}: ${count} elements do not fill whole rows of ${known}`);
  }
  return { name, datatype, shape: spec.shape.map((d) => (d < 0 ? count / known : d)), binary };
}

async function infer(
  core: ServingCore,
  route: V2Route,
  request: RestRequest,
  options: V2RoutesOptions,
  deadline: number | undefined,
): Promise<RestReply> {
  // A body without Content-Encoding is the body as collected (what bodyBytes returns for it), taken without a promise.
  const body =
    request.headers['content-encoding'] === undefined && Buffer.isBuffer(request.body)
      ? request.body
      : await bodyBytes(request, options.bodyLimit);
  const headerLength = headerLengthOf(request.headers[HEADER_LENGTH], body.length);
  const maxValueBytes = core.limits.maxInputBytes;
  const parsed =
    keptInferRequest(body, headerLength, maxValueBytes) ?? (await readInferRequest(body, headerLength, maxValueBytes));
  requestDeadlineV2(parsed.parameters, deadline); // refuses reserved and unsupported parameters before decoding
  const modelName = route.model as string;
  const target = resolveV2Target(core, modelName, route.version, parsed.parameters);
  const binary = (name: string) => outputIsBinary(name, parsed.parameters, parsed.outputs, parsed.raw);
  const outputNames = checkV2Outputs(target, parsed.outputs);
  let allBinary = outputNames.length > 0;
  for (const name of outputNames) {
    if (binary(name)) continue;
    allBinary = false;
    checkJsonOutputDtype(name, target.signature.outputs[name]!.dtype);
  }
  const restInputs = parsed.raw ? [rawInput(target, body.length)] : parsed.inputs;
  const inputs = decodeBinaryInputs(target, restInputs, body) ?? (await decodeInputs(target, restInputs, body));
  const v2Request: V2InferRequest = { modelName, inputs };
  if (route.version !== undefined) v2Request.modelVersion = route.version;
  if (parsed.id !== undefined) v2Request.id = parsed.id;
  if (parsed.parameters) v2Request.parameters = parsed.parameters;
  if (parsed.outputs) v2Request.outputs = parsed.outputs;
  const inferOptions: V2InferOptions = { target, inputsOwned: true };
  if (request.connection !== undefined) inferOptions.connection = request.connection;
  if (deadline !== undefined) inferOptions.deadline = deadline;
  const result = await inferV2(core, v2Request, inferOptions);
  // inferV2 answers the outputs checkV2Outputs named, so `allBinary` holds for the result's outputs.
  const { maxResponseBytes } = core.limits;
  const encoded =
    allBinary && replyBound(result, binary) < ASSEMBLED_REPLY_BYTES
      ? encodeBinaryInferResponse(result, maxResponseBytes)
      : await encodeInferResponse(result, binary, maxResponseBytes);
  const reply: RestReply = {
    status: 200,
    body: encoded.body,
    contentType: encoded.headerLength === undefined ? jsonContentType(encoded.body) : 'application/octet-stream',
    version: Number(result.modelVersion),
  };
  if (encoded.headerLength !== undefined)
    reply.headers = { 'inference-header-content-length': String(encoded.headerLength) };
  return reply;
}

async function dispatch(
  core: ServingCore,
  route: V2Route,
  request: RestRequest,
  options: V2RoutesOptions,
  deadline: number | undefined,
): Promise<RestReply> {
  switch (route.api) {
    case 'ServerMetadata':
      return json(serverMetadataV2(core));
    case 'ServerLive':
      return json({ live: serverLiveV2() }, serverLiveV2() ? 200 : 400);
    case 'ServerReady': {
      const ready = serverReadyV2(core);
      return json({ ready }, ready ? 200 : 400);
    }
    case 'ModelMetadata':
      return json(modelMetadataV2(core, route.model as string, route.version));
    case 'ModelReady': {
      const ready = modelReadyV2(core, route.model as string, route.version);
      return ready
        ? json({ name: route.model, ready: true })
        : json({ error: 'Model version not ready', name: route.model, ready: false }, 400);
    }
    case 'ModelInfer':
      return infer(core, route, request, options, deadline);
    case 'ModelConfig':
      return json(modelConfigV2(core, route.model as string, route.version));
    case 'ModelStatistics':
      return json(modelStatisticsV2(core, route.model, route.version));
    case 'RepositoryIndex': {
      const body = await optionalJsonBody(core, request, options);
      const ready = body.ready;
      if (ready !== undefined && typeof ready !== 'boolean') throw new InvalidArgument("'ready' must be a boolean");
      return json(repositoryIndexV2(core, ready === undefined ? {} : { ready }));
    }
    case 'RepositoryModelLoad':
    case 'RepositoryModelUnload': {
      const body = await optionalJsonBody(core, request, options);
      const parameters = body.parameters ?? {};
      if (!isJsonObject(parameters)) throw new InvalidArgument("'parameters' must be an object");
      const change = route.api === 'RepositoryModelLoad' ? repositoryLoadV2 : repositoryUnloadV2;
      await whileConnected(request, (signal) => change(core, route.model as string, parameters, { signal }));
      return { status: 200, body: '', contentType: 'application/json' };
    }
  }
}

/** A repository call's optional JSON body: {} when empty. */
async function optionalJsonBody(
  core: ServingCore,
  request: RestRequest,
  options: V2RoutesOptions,
): Promise<JsonObject> {
  const body = await bodyBytes(request, options.bodyLimit);
  if (body.length === 0) return {};
  const value = await readRequestJson(body, { maxValueBytes: core.limits.maxInputBytes });
  if (!isJsonObject(value)) throw new InvalidArgument('the request body must be a JSON object');
  return value;
}

/** Runs `work` with a signal aborted if the client's connection closes first (a load or unload then cancels). */
async function whileConnected<T>(request: RestRequest, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const { socket } = request;
  const onClose = () => controller.abort();
  socket.once('close', onClose);
  try {
    return await work(controller.signal);
  } finally {
    socket.off('close', onClose);
  }
}

/** Answers a /v2 request whose body has been collected; errors become their status and {"error": msg}. */
export async function handleV2Request(
  core: ServingCore,
  request: RestRequest,
  options: V2RoutesOptions,
): Promise<RestReply> {
  const started = process.hrtime.bigint();
  let route: V2Route | undefined;
  const report = (status: string, version?: number) =>
    options.observe?.({
      model: route?.model ?? '',
      version,
      api: route?.api ?? '',
      entrypoint: 'REST',
      protocol: 'v2',
      status,
      latencySeconds: Number(process.hrtime.bigint() - started) / 1e9,
    });
  try {
    const query = request.url.indexOf('?');
    route = parseV2Path(request.method, query < 0 ? request.url : request.url.slice(0, query));
    const deadline = options.timeoutMs > 0 ? Date.now() + options.timeoutMs : undefined;
    // Inference, the hot route, skips dispatch's promise.
    const work =
      route.api === 'ModelInfer'
        ? infer(core, route, request, options, deadline)
        : dispatch(core, route, request, options, deadline);
    const result = await withTimeout(work, options.timeoutMs);
    report(result.status === 200 ? 'OK' : 'UNAVAILABLE', result.version);
    return result;
  } catch (err) {
    report(toFlowserveError(err).codeName);
    return errorReply(err);
  }
}

/** Registers every /v2 route on the REST server. */
export function registerV2Routes(app: FastifyInstance, core: ServingCore, options: V2RoutesOptions): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) =>
    sendReply(reply, await handleV2Request(core, restRequestOf(request), options));
  const method = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;
  app.route({ method: [...method], url: '/v2', handler });
  app.route({ method: [...method], url: '/v2/*', handler });
}
