/**
 * V2Client over the Open Inference Protocol's REST API (`/v2/...`), tensors as JSON `data` or, with `binary`, through
 * the binary tensor data extension: the JSON header, then each binary tensor's bytes in order, its length in
 * `Inference-Header-Content-Length` (spec §5). FP16 inputs always travel binary (the protocol's JSON has no FP16).
 */
import type { HostTensor } from '../../graph/host-tensor.js';
import { readJson, type JsonValue } from '../../serving/apis/rest/json-reader.js';
import { PackedArray } from '../../serving/apis/rest/json-packed.js';
import { isJsonObject } from '../../serving/apis/rest/json-values.js';
import { HTTP_TO_GRPC, restTransportError } from '../rest-client.js';
import { ServingClientError, type CallOptions } from '../types.js';
import { inferParameters, statisticsList } from './messages.js';
import { jsonData, stringifyWithIntegers, tensorBytes, tensorFromBytes, tensorFromJsonData } from './tensors.js';
import { v2DatatypeOf } from '../../serving/apis/v2/datatypes.js';
import type {
  V2Client,
  V2InferOptions,
  V2InferResult,
  V2ModelConfig,
  V2ModelMetadata,
  V2ModelStatistics,
  V2ModelTarget,
  V2OutputTensor,
  V2Parameter,
  V2RepositoryModel,
  V2RepositoryParameters,
  V2ServerMetadata,
} from './types.js';

export const INFERENCE_HEADER = 'inference-header-content-length';

export interface RestV2ClientOptions {
  /** Inputs and outputs through the binary tensor data extension rather than JSON `data`. Default false. */
  binary?: boolean;
  /** Sent as `authorization: Bearer <token>`. */
  authToken?: string;
}

/** `/v2/models/{m}[/versions/{v}]`. */
export function v2ModelPath(target: V2ModelTarget): string {
  let path = `/v2/models/${encodeURIComponent(target.name)}`;
  if (target.version !== undefined && target.version !== '') {
    path += `/versions/${encodeURIComponent(String(target.version))}`;
  }
  return path;
}

/** An infer request's body and headers. */
export interface EncodedRestInfer {
  body: Uint8Array<ArrayBuffer>;
  headers: Record<string, string>;
}

/** Builds an infer request (exported for the benchmark, which sends the same bytes many times). */
export function encodeRestInfer(
  target: V2ModelTarget,
  inputs: Record<string, HostTensor>,
  options: V2InferOptions & { binary?: boolean; binaryOutputs?: ReadonlySet<string> },
): EncodedRestInfer {
  const binary = options.binary ?? false;
  const chunks: Uint8Array[] = [];
  const header: Record<string, unknown> = {};
  if (options.id !== undefined) header.id = options.id;
  const parameters: Record<string, V2Parameter> = inferParameters(target, options);
  if (binary && options.outputs === undefined) parameters.binary_data_output = true;
  if (Object.keys(parameters).length > 0) header.parameters = parameters;
  header.inputs = Object.entries(inputs).map(([name, tensor]) => {
    const described = { name, shape: [...tensor.shape], datatype: v2DatatypeOf(tensor.dtype) };
    if (binary || tensor.dtype === 'float16') {
      const bytes = tensorBytes(tensor);
      chunks.push(bytes);
      return { ...described, parameters: { binary_data_size: bytes.byteLength } };
    }
    return { ...described, data: jsonData(tensor, name) };
  });
  if (options.outputs !== undefined) {
    header.outputs = options.outputs.map((name) =>
      binary || options.binaryOutputs?.has(name) ? { name, parameters: { binary_data: true } } : { name },
    );
  }
  const json = Buffer.from(stringifyWithIntegers(header), 'utf8');
  if (chunks.length === 0) return { body: json, headers: { 'content-type': 'application/json' } };
  return {
    body: Buffer.concat([json, ...chunks]),
    headers: { 'content-type': 'application/octet-stream', [INFERENCE_HEADER]: String(json.byteLength) },
  };
}

/** An infer response's body → result: the JSON header, and the binary outputs' bytes in order after it. */
export async function decodeRestInfer(body: Uint8Array, headerLength: number | undefined): Promise<V2InferResult> {
  const jsonEnd = headerLength ?? body.byteLength;
  if (!(jsonEnd >= 0 && jsonEnd <= body.byteLength)) {
    throw new ServingClientError(`${INFERENCE_HEADER} ${headerLength} is outside the ${body.byteLength}-byte body`, 2);
  }
  const json = await readJson(body.subarray(0, jsonEnd));
  if (!isJsonObject(json)) throw new ServingClientError('infer response is not a JSON object', 2);
  let at = jsonEnd;
  const tensors: V2OutputTensor[] = [];
  for (const output of Array.isArray(json.outputs) ? json.outputs : []) {
    if (!isJsonObject(output)) continue;
    const name = String(output.name);
    const datatype = String(output.datatype);
    const shape = numbers(output.shape);
    const parameters = isJsonObject(output.parameters) ? output.parameters : {};
    const size = parameters.binary_data_size;
    let tensor: HostTensor;
    if (size !== undefined) {
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
        throw new ServingClientError(`output ${name}: binary_data_size ${String(plain(size))} is not a byte count`, 2);
      }
      if (at + size > body.byteLength) {
        throw new ServingClientError(`output ${name}: binary_data_size ${size} runs past the end of the body`, 2);
      }
      tensor = tensorFromBytes(datatype, shape, body.subarray(at, at + size), name);
      at += size;
    } else {
      tensor = await tensorFromJsonData(datatype, shape, output.data ?? [], name);
    }
    tensors.push({ name, datatype, shape, tensor });
  }
  const result: V2InferResult = {
    modelName: String(json.model_name ?? ''),
    modelVersion: String(json.model_version ?? ''),
    outputs: Object.fromEntries(tensors.map((t) => [t.name, t.tensor])),
    tensors,
  };
  if (typeof json.id === 'string') result.id = json.id;
  if (isJsonObject(json.parameters)) result.parameters = plain(json.parameters) as Record<string, V2Parameter>;
  return result;
}

function numbers(value: JsonValue | undefined): number[] {
  return (plain(value ?? []) as unknown[]).map(Number);
}

/** A JSON value with its packed arrays turned into ordinary arrays (small values only: metadata, configs). */
function plain(value: JsonValue): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (isJsonObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  // A PackedArray: small here, so its text parses as JSON. (This client reads no LongText: readJson without longText.)
  if (value instanceof PackedArray) return JSON.parse(value.preview(Infinity)) as unknown;
  return value;
}

export class RestV2Client implements V2Client {
  readonly protocol = 'v2' as const;
  readonly api = 'rest' as const;
  private readonly baseUrl: string;
  /** Per model/version, its FP16 outputs and all its outputs (JSON mode only; see fp16Outputs). */
  private readonly outputsCache = new Map<string, Promise<{ all: string[]; fp16: Set<string> }>>();

  constructor(
    address: string,
    private readonly options: RestV2ClientOptions = {},
  ) {
    this.baseUrl = address.startsWith('http') ? address.replace(/\/$/, '') : `http://${address}`;
  }

  /** One HTTP exchange: the response's status, headers and body; transport failures become ServingClientError. */
  async send(
    method: 'GET' | 'POST',
    path: string,
    body: Uint8Array<ArrayBuffer> | undefined,
    headers: Record<string, string>,
    options: CallOptions = {},
  ): Promise<{ status: number; headers: Headers; body: Buffer }> {
    try {
      const response = await fetch(this.baseUrl + path, {
        method,
        headers: {
          ...headers,
          ...(this.options.authToken === undefined ? {} : { authorization: `Bearer ${this.options.authToken}` }),
        },
        body,
        signal: options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs),
      });
      return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
    } catch (err) {
      throw restTransportError(this.baseUrl, err, options.timeoutMs);
    }
  }

  /** A non-2xx answer as a ServingClientError with the body's `error` message and the HTTP status. */
  private async check(response: { status: number; body: Buffer }): Promise<void> {
    if (response.status >= 200 && response.status < 300) return;
    let message = response.body.toString('utf8', 0, 1024) || `HTTP ${response.status}`;
    try {
      const json = await readJson(response.body);
      if (isJsonObject(json) && typeof json.error === 'string') message = json.error;
    } catch {
      // Not JSON: keep the text.
    }
    throw new ServingClientError(message, HTTP_TO_GRPC[response.status] ?? 2, response.status);
  }

  /** A JSON call: `body` (when given) as JSON; the answer's JSON (null for an empty body). */
  private async json(method: 'GET' | 'POST', path: string, body?: unknown, options?: CallOptions): Promise<unknown> {
    const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const response = await this.send(method, path, bytes, bytes ? { 'content-type': 'application/json' } : {}, options);
    await this.check(response);
    if (response.body.byteLength === 0) return null;
    return plain(await readJson(response.body));
  }

  /** A status-only call (health, ready): 200 is true, any other answer false; no answer at all is an error. */
  private async ok(path: string, options?: CallOptions): Promise<boolean> {
    const response = await this.send('GET', path, undefined, {}, options);
    return response.status === 200;
  }

  async infer(
    target: V2ModelTarget,
    inputs: Record<string, HostTensor>,
    options: V2InferOptions = {},
  ): Promise<V2InferResult> {
    const request = encodeRestInfer(target, inputs, {
      ...options,
      binary: this.options.binary,
      ...(await this.jsonOutputs(target, options)),
    });
    const response = await this.send('POST', `${v2ModelPath(target)}/infer`, request.body, request.headers, options);
    await this.check(response);
    const headerLength = response.headers.get(INFERENCE_HEADER);
    return decodeRestInfer(response.body, headerLength === null ? undefined : Number(headerLength));
  }

  /**
   * JSON mode: the protocol's JSON has no FP16, so a server refuses to answer an FP16 output as JSON. For the
   * default signature (the one model metadata describes) the model's outputs are read once, and when any is FP16,
   * the request names every output (or the caller's) and asks the FP16 ones as binary.
   */
  private async jsonOutputs(
    target: V2ModelTarget,
    options: V2InferOptions,
  ): Promise<{ outputs?: string[]; binaryOutputs?: Set<string> }> {
    if (this.options.binary || target.signatureName !== undefined) return {};
    const key = `${target.name}|${target.version ?? ''}`;
    let cached = this.outputsCache.get(key);
    if (!cached) {
      cached = this.modelMetadata(target).then((meta) => ({
        all: meta.outputs.map((o) => o.name),
        fp16: new Set(meta.outputs.filter((o) => o.datatype === 'FP16').map((o) => o.name)),
      }));
      cached.catch(() => this.outputsCache.delete(key));
      this.outputsCache.set(key, cached);
    }
    let found: { all: string[]; fp16: Set<string> };
    try {
      found = await cached;
    } catch {
      // No metadata (e.g. the model is missing): send the request as it is and let the server say why.
      return {};
    }
    if (found.fp16.size === 0) return {};
    return { outputs: options.outputs ?? found.all, binaryOutputs: found.fp16 };
  }

  serverLive(options?: CallOptions): Promise<boolean> {
    return this.ok('/v2/health/live', options);
  }

  serverReady(options?: CallOptions): Promise<boolean> {
    return this.ok('/v2/health/ready', options);
  }

  modelReady(target: V2ModelTarget, options?: CallOptions): Promise<boolean> {
    return this.ok(`${v2ModelPath(target)}/ready`, options);
  }

  async serverMetadata(options?: CallOptions): Promise<V2ServerMetadata> {
    return (await this.json('GET', '/v2', undefined, options)) as V2ServerMetadata;
  }

  async modelMetadata(target: V2ModelTarget, options?: CallOptions): Promise<V2ModelMetadata> {
    const meta = (await this.json('GET', v2ModelPath(target), undefined, options)) as V2ModelMetadata;
    return { ...meta, versions: meta.versions ?? [] };
  }

  async modelConfig(target: V2ModelTarget, options?: CallOptions): Promise<V2ModelConfig> {
    const json = (await this.json('GET', `${v2ModelPath(target)}/config`, undefined, options)) as Record<
      string,
      unknown
    >;
    // Triton answers the config itself; a server may wrap it as the gRPC response does ({config: {...}}).
    return (isConfigWrapper(json) ? json.config : json) as V2ModelConfig;
  }

  async modelStatistics(target?: V2ModelTarget, options?: CallOptions): Promise<V2ModelStatistics[]> {
    const path = target ? `${v2ModelPath(target)}/stats` : '/v2/models/stats';
    return statisticsList(await this.json('GET', path, undefined, options));
  }

  async repositoryIndex(filter: { ready?: boolean } = {}, options?: CallOptions): Promise<V2RepositoryModel[]> {
    const json = await this.json('POST', '/v2/repository/index', filter, options);
    return (Array.isArray(json) ? json : []) as V2RepositoryModel[];
  }

  async loadModel(name: string, parameters?: V2RepositoryParameters, options?: CallOptions): Promise<void> {
    await this.json(
      'POST',
      `/v2/repository/models/${encodeURIComponent(name)}/load`,
      parameters ? { parameters } : {},
      options,
    );
  }

  async unloadModel(name: string, parameters?: V2RepositoryParameters, options?: CallOptions): Promise<void> {
    await this.json(
      'POST',
      `/v2/repository/models/${encodeURIComponent(name)}/unload`,
      parameters ? { parameters } : {},
      options,
    );
  }

  close(): void {
    this.outputsCache.clear();
  }
}

function isConfigWrapper(json: Record<string, unknown>): json is { config: Record<string, unknown> } {
  return json.name === undefined && typeof json.config === 'object' && json.config !== null;
}
