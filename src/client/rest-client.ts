/**
 * ServingClient over TF Serving's REST API. Predict uses the columnar ("inputs") format; output dtypes and aliases
 * come from the model's metadata, fetched once per model/version/signature and cached.
 */
import { Unimplemented } from '../errors.js';
import { HostTensor } from '../graph/host-tensor.js';
import { utf8Text } from '../graph/utf8.js';
import { readJson, type JsonObject, type JsonValue } from '../serving/apis/rest/json-reader.js';
import { jsonToTensor } from '../serving/apis/rest/json-tensors.js';
import { isJsonObject } from '../serving/apis/rest/json-values.js';
import { signaturesFromDefs } from './signatures.js';
import {
  ServingClientError,
  type CallOptions,
  type ClassifyResult,
  type ExampleInput,
  type ModelMetadata,
  type ModelTarget,
  type PredictOptions,
  type PredictResult,
  type RegressResult,
  type ServingClient,
} from './types.js';
import type { VersionState, VersionStatus } from '../serving/core/types.js';
import type { SignatureDefMapMsg } from '../serving/apis/shared/proto-types.js';
import { ERROR_CODES } from '../serving/apis/shared/status-codes.js';

/** HTTP status → gRPC code, for errors answered over REST. */
export const HTTP_TO_GRPC: Record<number, number> = {
  400: 3,
  401: 16,
  403: 7,
  404: 5,
  409: 10,
  429: 8,
  499: 1,
  501: 12,
  503: 14,
  504: 4,
};

function modelPath(target: ModelTarget): string {
  let path = `/v1/models/${encodeURIComponent(target.name)}`;
  if (target.version !== undefined) path += `/versions/${target.version}`;
  else if (target.label !== undefined) path += `/labels/${encodeURIComponent(target.label)}`;
  return path;
}

/**
 * Tensor → JSON value; int64 goes out as a number (JSON has no exact int64). A string element goes as a JSON
 * string when its bytes are UTF-8 text, else as {"b64": …}, so any bytes arrive as they were.
 */
function tensorValue(tensor: HostTensor): unknown {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'bigint') return Number(v);
    if (v instanceof Uint8Array) return utf8Text(v) ?? { b64: Buffer.from(v).toString('base64') };
    return v;
  };
  return walk(tensor.toArray());
}

function exampleJson(example: ExampleInput): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(example).map(([k, values]) => [
      k,
      (values as readonly unknown[]).map((v) =>
        v instanceof Uint8Array ? { b64: Buffer.from(v).toString('base64') } : typeof v === 'bigint' ? Number(v) : v,
      ),
    ]),
  );
}

/**
 * fetch() fails with a bare `TypeError: fetch failed` and hides the reason in `cause`: name the server and the
 * reason (ECONNREFUSED, ENOTFOUND, …) with gRPC's codes, UNAVAILABLE (14) or DEADLINE_EXCEEDED (4).
 */
export function restTransportError(baseUrl: string, err: unknown, timeoutMs: number | undefined): ServingClientError {
  const name = (err as { name?: string }).name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new ServingClientError(`no answer from the REST server at ${baseUrl} within ${timeoutMs} ms`, 4, 504);
  }
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const reason = cause?.code ?? cause?.message ?? (err as Error).message;
  return new ServingClientError(`cannot reach the REST server at ${baseUrl}: ${reason}`, 14);
}

export class RestServingClient implements ServingClient {
  readonly api = 'rest' as const;
  private readonly baseUrl: string;
  private readonly metadataCache = new Map<string, Promise<ModelMetadata>>();

  /** `authToken`: sent as `authorization: Bearer <token>` (servers started with --auth_token_file). */
  constructor(
    address: string,
    private readonly authToken?: string,
  ) {
    this.baseUrl = address.startsWith('http') ? address.replace(/\/$/, '') : `http://${address}`;
  }

  /** One HTTP call; non-2xx answers become ServingClientError with the body's "error" message. */
  async request(method: 'GET' | 'POST', path: string, body?: unknown, options: CallOptions = {}): Promise<JsonObject> {
    let response: Response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.authToken === undefined ? {} : { authorization: `Bearer ${this.authToken}` }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs),
      });
    } catch (err) {
      throw this.transportError(err, options.timeoutMs);
    }
    const bytes = Buffer.from(await response.arrayBuffer());
    let json: JsonObject;
    try {
      const value = await readJson(bytes);
      if (!isJsonObject(value)) throw new TypeError('not a JSON object');
      json = value;
    } catch {
      throw new ServingClientError(
        `HTTP ${response.status}: ${bytes.toString('utf8', 0, 200)}`,
        HTTP_TO_GRPC[response.status] ?? 2,
        response.status,
      );
    }
    if (!response.ok) {
      const message = typeof json.error === 'string' ? json.error : bytes.toString('utf8', 0, 1024);
      throw new ServingClientError(message, HTTP_TO_GRPC[response.status] ?? 2, response.status);
    }
    return json;
  }

  private transportError(err: unknown, timeoutMs: number | undefined): ServingClientError {
    return restTransportError(this.baseUrl, err, timeoutMs);
  }

  async predict(
    target: ModelTarget,
    inputs: Record<string, HostTensor>,
    options: PredictOptions = {},
  ): Promise<PredictResult> {
    const meta = await this.cachedMetadata(target);
    const signatureName =
      target.signatureName ??
      Object.keys(meta.signatures).find((n) => n === 'serving_default') ??
      Object.keys(meta.signatures)[0] ??
      '';
    const signature = meta.signatures[signatureName];
    const body: Record<string, unknown> = {
      inputs: Object.fromEntries(Object.entries(inputs).map(([alias, t]) => [alias, tensorValue(t)])),
    };
    if (target.signatureName) body.signature_name = target.signatureName;
    const json = await this.request('POST', `${modelPath(target)}:predict`, body, options);
    const aliases = Object.keys(signature?.outputs ?? {});
    const raw = json.outputs as JsonValue;
    const named: Record<string, JsonValue> =
      aliases.length === 1 ? { [aliases[0] as string]: raw } : ((raw ?? {}) as Record<string, JsonValue>);
    const outputs: Record<string, HostTensor> = {};
    for (const [alias, value] of Object.entries(named)) {
      if (options.outputFilter && !options.outputFilter.includes(alias)) continue;
      outputs[alias] = await jsonToTensor(value, signature?.outputs[alias]?.dtype ?? 'float32', alias);
    }
    return { outputs, model: { name: target.name, version: meta.model.version, signatureName } };
  }

  async classify(
    target: ModelTarget,
    examples: ExampleInput[],
    context?: ExampleInput,
    options?: CallOptions,
  ): Promise<ClassifyResult> {
    const body: Record<string, unknown> = { examples: examples.map(exampleJson) };
    if (context) body.context = exampleJson(context);
    if (target.signatureName) body.signature_name = target.signatureName;
    const json = await this.request('POST', `${modelPath(target)}:classify`, body, options);
    const results = Array.isArray(json.results) ? json.results : [];
    return {
      // A row is [[label, score], …]; an empty row reads as a packed empty array.
      classifications: results.map((row) =>
        (Array.isArray(row) ? (row as [string, JsonValue][]) : []).map(([label, score]) => ({
          label,
          score: typeof score === 'number' ? score : NaN,
        })),
      ),
      model: { name: target.name, version: target.version },
    };
  }

  async regress(
    target: ModelTarget,
    examples: ExampleInput[],
    context?: ExampleInput,
    options?: CallOptions,
  ): Promise<RegressResult> {
    const body: Record<string, unknown> = { examples: examples.map(exampleJson) };
    if (context) body.context = exampleJson(context);
    if (target.signatureName) body.signature_name = target.signatureName;
    const json = await this.request('POST', `${modelPath(target)}:regress`, body, options);
    return {
      values: (await jsonToTensor(json.results ?? [], 'float64', 'results')).toNumbers(),
      model: { name: target.name, version: target.version },
    };
  }

  async metadata(target: ModelTarget, options?: CallOptions): Promise<ModelMetadata> {
    const json = await this.request('GET', `${modelPath(target)}/metadata`, undefined, options);
    const spec = json.model_spec as { name?: string; version?: string } | undefined;
    const defs = ((json.metadata as JsonObject | undefined)?.signature_def ?? {}) as JsonObject;
    const map = defs as unknown as SignatureDefMapMsg;
    // REST writes dtypes by name ("DT_FLOAT"); map them to enum numbers for signaturesFromDefs.
    for (const def of Object.values(map.signature_def ?? {})) {
      for (const info of [...Object.values(def.inputs ?? {}), ...Object.values(def.outputs ?? {})]) {
        const name = info.dtype as unknown;
        if (typeof name === 'string') info.dtype = DTYPE_CODES[name] ?? 0;
      }
    }
    return {
      model: {
        name: spec?.name ?? target.name,
        version: spec?.version === undefined ? undefined : Number(spec.version),
      },
      signatures: signaturesFromDefs(map),
    };
  }

  async status(target: ModelTarget, options?: CallOptions): Promise<VersionStatus[]> {
    const json = await this.request(
      'GET',
      modelPath({ name: target.name, version: target.version }),
      undefined,
      options,
    );
    const list = (json.model_version_status ?? []) as {
      version: string;
      state: string;
      status?: { error_code?: string; error_message?: string };
    }[];
    return list.map((s) => {
      const status: VersionStatus = { version: Number(s.version), state: s.state as VersionState };
      const code = s.status?.error_code;
      if (code && code !== 'OK' && code in ERROR_CODES) status.error = { code, message: s.status?.error_message ?? '' };
      return status;
    });
  }

  async reload(): Promise<void> {
    throw new Unimplemented('config reload is a gRPC-only API (ModelService/HandleReloadConfigRequest)');
  }

  close(): void {
    this.metadataCache.clear();
  }

  private cachedMetadata(target: ModelTarget): Promise<ModelMetadata> {
    const key = `${target.name}|${target.version ?? ''}|${target.label ?? ''}`;
    let meta = this.metadataCache.get(key);
    if (!meta) {
      meta = this.metadata(target);
      meta.catch(() => this.metadataCache.delete(key));
      this.metadataCache.set(key, meta);
    }
    return meta;
  }
}

const DTYPE_CODES: Record<string, number> = {
  DT_FLOAT: 1,
  DT_DOUBLE: 2,
  DT_INT32: 3,
  DT_UINT8: 4,
  DT_STRING: 7,
  DT_INT64: 9,
  DT_BOOL: 10,
};
