/**
 * Hostile REST requests against TF Serving's /v1 API: predict bodies in the row and columnar formats,
 * classify/regress examples, each mutated (wrong types and lengths, numbers out of float range, NaN/Infinity
 * tokens, bad b64, huge arrays); malformed JSON text (truncated, flipped, deeply nested, invalid UTF-8); gzip bodies
 * (valid, corrupt, a bomb); and bad paths and methods. Bodies are written as text so that tokens JSON.stringify
 * cannot produce (1e400, NaN) reach the server as a client would send them.
 */
import { gzipSync } from 'node:zlib';
import { FEATURES } from '../../test/serving/apis/fixtures.js';
import { mutateBytes } from './byte-mutations.js';
import { summarize, type FuzzCase, type ServerRole } from './fuzz-case.js';
import type { Rng } from './rng.js';
import { MODELS, STABLE_LABEL } from './server-process.js';
import type { HttpRequest } from './transport.js';

/** A JSON token written as is: 1e400, NaN, -Infinity, a bare word. */
class Raw {
  constructor(readonly text: string) {}
  toJSON(): string {
    return this.text;
  }
}

type Value = Raw | string | number | boolean | null | Value[] | { [key: string]: Value };

export function writeJson(value: Value): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(writeJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${writeJson(v)}`)
      .join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return JSON.stringify(value);
}

const NASTY_NUMBER_TOKENS = [
  '1e400',
  '-1e400',
  '1e-400',
  '3.5e38',
  '-3.5e38',
  '123456789012345678901234567890',
  '-0',
  '0.000000000000000000000000000000000000000000001',
  'NaN',
  'Infinity',
  '-Infinity',
  'nan',
  'inf',
  '+1',
  '01',
  '1.',
  '.5',
  '0x10',
  '1e',
  '-',
  '9223372036854775808',
  '18446744073709551616',
];

function nastyValue(rng: Rng): Value {
  return rng.weighted<Value>([
    [4, new Raw(rng.pick(NASTY_NUMBER_TOKENS))],
    [1, null],
    [1, true],
    [1, rng.pick(['', 'abc', '\u0000flowserve:Infinity', '\u0000flowserve:NaN', 'NaN', '1'])],
    [1, { b64: rng.pick(['AAAA', '!!!', '', 'QQ', 'QQ==='.repeat(3)]) }],
    [1, {}],
    [1, []],
    [1, [[[1]]]],
    [1, { a: 1 }],
  ]);
}

function floats(rng: Rng, n: number): Value[] {
  return Array.from({ length: n }, () => Math.fround(rng.float() * 2 - 1));
}

/** Replaces one leaf somewhere in `value` (a nested array/object) with a nasty one, or reshapes a list. */
function mutateValue(rng: Rng, value: Value): Value {
  if (Array.isArray(value) && value.length > 0 && rng.chance(0.7)) {
    const i = rng.int(value.length);
    const copy = [...value];
    copy[i] = mutateValue(rng, copy[i] as Value);
    return copy;
  }
  if (Array.isArray(value) && rng.chance(0.5)) {
    return rng.pick<Value>([
      [],
      [...value, ...value],
      value.slice(1),
      [value],
      floats(rng, rng.pick([100_000, 300_000])),
    ]);
  }
  return nastyValue(rng);
}

interface RestTarget {
  model: string;
  signature?: string;
  /** Input alias for the columnar format. */
  alias: string;
  row: (rng: Rng) => Value;
}

const TARGETS: readonly RestTarget[] = [
  { model: MODELS.classifier, alias: 'inputs', row: (rng) => floats(rng, FEATURES) },
  { model: MODELS.classifier, signature: 'predict_probs', alias: 'x', row: (rng) => floats(rng, FEATURES) },
  { model: MODELS.identityFloat, alias: 'x', row: (rng) => floats(rng, 3) },
  {
    model: MODELS.identityString,
    alias: 'x',
    row: (rng) => (rng.chance(0.5) ? rng.name() : { b64: rng.bytes(rng.size(24)).toString('base64') }),
  },
];

/** A path segment for `text`, lone surrogates replaced (encodeURIComponent refuses them). */
function segment(text: string): string {
  return encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '\ufffd'));
}

function modelPath(rng: Rng, model: string, verb: string): string {
  const selector = rng.weighted<string>([
    [8, ''],
    [1, '/versions/1'],
    [1, `/labels/${STABLE_LABEL}`],
    [
      1,
      rng.pick([
        '/versions/2',
        '/versions/0',
        '/versions/9223372036854775807',
        '/versions/99999999999999999999',
        `/labels/${rng.name()}`,
      ]),
    ],
  ]);
  return `/v1/models/${model}${selector}:${verb}`;
}

function post(path: string, body: string | Buffer, headers: Record<string, string> = {}): HttpRequest {
  return {
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json', ...headers },
    body: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
  };
}

function predictBody(rng: Rng, server: ServerRole, mutate: boolean): { model: string; body: Value } {
  const target = rng.pick(TARGETS);
  const rows = rng.weighted<number>([
    [8, rng.range(1, 4)],
    [2, rng.range(1, server === 'batched' ? 20 : 64)],
  ]);
  const instances = Array.from({ length: rows }, () => target.row(rng));
  const body: { [key: string]: Value } = rng.chance(0.6)
    ? { instances }
    : { inputs: rng.chance(0.5) ? instances : { [target.alias]: instances } };
  if (target.signature) body.signature_name = target.signature;
  if (mutate) {
    const which = rng.int(8);
    if (which < 4) {
      const key = 'instances' in body ? 'instances' : 'inputs';
      body[key] = mutateValue(rng, body[key] as Value);
    } else if (which === 4) body.signature_name = rng.pick<Value>([1, null, '', rng.name(), [], 'regress_first']);
    else if (which === 5) {
      body.instances = instances;
      body.inputs = instances;
    } else if (which === 6) body[rng.pick(['', 'instance', 'Instances', rng.name()])] = instances;
    else {
      delete body.instances;
      delete body.inputs;
    }
  }
  return { model: target.model, body };
}

function examplesBody(rng: Rng, mutate: boolean): { [key: string]: Value } {
  const examples: Value[] = Array.from({ length: rng.range(1, 4) }, () => ({ x: floats(rng, FEATURES) }));
  const body: { [key: string]: Value } = { examples };
  if (rng.chance(0.2)) body.context = {};
  if (mutate) {
    const which = rng.int(6);
    if (which < 3) body.examples = mutateValue(rng, examples);
    else if (which === 3) body.context = mutateValue(rng, { x: floats(rng, FEATURES) });
    else if (which === 4) (examples[0] as { [key: string]: Value }).x = mutateValue(rng, floats(rng, FEATURES));
    else body.examples = rng.pick<Value>([null, {}, 'x', [[1, 2]], [{ x: { b64: 'AAAA' } }]]);
  }
  return body;
}

let gzipBomb: Buffer | undefined;
/** 80 MiB of zeros in ~80 KB: inflates past the default --max_request_bytes (64 MiB). */
function bomb(): Buffer {
  gzipBomb ??= gzipSync(Buffer.alloc(80 * 1024 * 1024, 0x20), { level: 9 });
  return gzipBomb;
}

function malformedText(rng: Rng, valid: string): { text: Buffer; how: string } {
  switch (rng.int(9)) {
    case 0: {
      const depth = rng.pick([1000, 10_000, 100_000]);
      const open = rng.chance(0.5) ? '[' : '{"a":';
      const close = open === '[' ? ']' : '}';
      const inner = `${open.repeat(depth)}1${close.repeat(rng.chance(0.8) ? depth : rng.int(depth))}`;
      return { text: Buffer.from(`{"instances":${inner}}`), how: `nested ${depth} deep` };
    }
    case 1:
      return {
        text: Buffer.concat([
          Buffer.from('{"instances":["'),
          Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]),
          Buffer.from('"]}'),
        ]),
        how: 'invalid UTF-8',
      };
    case 2:
      return { text: Buffer.from(`\ufeff${valid}`), how: 'byte-order mark' };
    case 3:
      return {
        text: Buffer.from(
          rng.pick([
            '',
            ' ',
            'null',
            '[]',
            '"x"',
            '123',
            'true',
            '{',
            '}',
            '{"instances":}',
            '{"a":1,}',
            "{'instances':[1]}",
          ]),
        ),
        how: 'not an object',
      };
    case 4:
      return {
        text: Buffer.from(`{"instances":["${'a'.repeat(rng.pick([1 << 20, 4 << 20]))}"]}`),
        how: 'one huge string',
      };
    case 5:
      return {
        text: Buffer.from(`{"instances":[[1,2,3,4]],"instances":[[1]],"signature_name":"a","signature_name":1}`),
        how: 'duplicate keys',
      };
    case 6:
      return {
        text: Buffer.from(`{"instances":[${Array.from({ length: 200_000 }, () => '[]').join(',')}]}`),
        how: '200,000 empty rows',
      };
    default: {
      const m = mutateBytes(rng, Buffer.from(valid));
      return { text: m.bytes, how: m.description };
    }
  }
}

function badPath(rng: Rng): HttpRequest {
  const path = rng.pick([
    '/',
    '/v1',
    '/v1/',
    '/v1/models',
    '/v1/models/',
    '/v1/models//:predict',
    '/v1/models/clf:PREDICT',
    '/v1/models/clf:predictx',
    '/v1/models/clf/:predict',
    '/v1/models/clf/versions/:predict',
    '/v1/models/clf/versions/-1:predict',
    '/v1/models/clf/versions/1.5/metadata',
    '/v1/models/clf/versions/00000000000000000000001',
    '/v1/models/clf/versions/99999999999999999999999',
    '/v1/models/clf/labels/:predict',
    '/v1/models/clf/labels/%ZZ',
    '/v1/models/%ZZ',
    '/v1/models/%E0%A4%A',
    '/v1/models/%C0%AF/metadata',
    '/v1/models/%00:predict',
    '/v1/models/..%2F..%2Fetc:predict',
    '/v1/models/clf/labels/%2e%2e/metadata',
    '/v1/models/clf?x=%ZZ',
    '/v1/models/clf/metadata/extra',
    '/v1/../v1/models/clf',
    `/v1/models/${'a'.repeat(rng.pick([300, 20_000]))}`,
    `/v1/models/clf/labels/${'%41'.repeat(3000)}`,
    '/v2/models/clf/infer',
    '/monitoring/prometheus/metrics',
    '/monitoring/prometheus/metrics?name[]=x',
    '/v1/models/clf:classify:regress',
    `/v1/models/${segment(rng.name())}`,
    `/v1/models/${segment(rng.name())}:predict`,
  ]);
  const method = rng.pick(['GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND']);
  const body = method === 'GET' || method === 'HEAD' ? undefined : Buffer.from('{"instances":[[1,2,3,4]]}');
  return { method, path, headers: { 'content-type': 'application/json', origin: rng.pick(['http://a', 'x']) }, body };
}

/** Draws one REST case. */
export function restCase(rng: Rng, server: ServerRole): FuzzCase {
  const kind = rng.weighted<string>([
    [8, 'predict'],
    [3, 'classify'],
    [1, 'regress'],
    [3, 'malformed'],
    [1.5, 'gzip'],
    [2, 'path'],
    [1.5, 'status'],
    [0.05, 'metrics'],
  ]);
  const make = (category: string, request: HttpRequest, shown: unknown): FuzzCase => ({
    category,
    server,
    http: request,
    summary: () =>
      `${request.method} ${request.path.slice(0, 300)} ${JSON.stringify(request.headers ?? {})} ${summarize(shown)}`,
  });
  if (kind === 'predict') {
    const mutate = rng.chance(0.75);
    const { model, body } = predictBody(rng, server, mutate);
    const text = writeJson(body);
    return make(
      mutate ? 'rest.json.predict' : 'rest.predict.valid',
      post(modelPath(rng, model, 'predict'), text),
      text,
    );
  }
  if (kind === 'classify' || kind === 'regress') {
    const mutate = rng.chance(0.7);
    const body = examplesBody(rng, mutate);
    if (kind === 'regress') body.signature_name = 'regress_first';
    const text = writeJson(body);
    const model = rng.chance(0.9) ? MODELS.classifier : rng.pick([MODELS.identityFloat, MODELS.identityString]);
    return make(mutate ? `rest.json.${kind}` : `rest.${kind}.valid`, post(modelPath(rng, model, kind), text), text);
  }
  if (kind === 'malformed') {
    const { model, body } = predictBody(rng, server, false);
    const { text, how } = malformedText(rng, writeJson(body));
    return make(
      'rest.json.malformed',
      post(modelPath(rng, model, 'predict'), text),
      `${how}: ${text.subarray(0, 200).toString('latin1')}`,
    );
  }
  if (kind === 'gzip') {
    const { model, body } = predictBody(rng, server, rng.chance(0.3));
    const text = Buffer.from(writeJson(body));
    const which = rng.int(5);
    const [payload, how] =
      which === 0
        ? [gzipSync(text), 'gzip of a predict body']
        : which === 1
          ? [text, 'plain body marked gzip']
          : which === 2
            ? [gzipSync(text).subarray(0, rng.range(1, 20)), 'truncated gzip']
            : which === 3
              ? [bomb(), 'gzip bomb (80 MiB inflated)']
              : [mutateBytes(rng, gzipSync(text)).bytes, 'mutated gzip'];
    const encoding = rng.pick(['gzip', 'GZIP', 'gzip, deflate', 'x-gzip']);
    return make('rest.gzip', post(modelPath(rng, model, 'predict'), payload, { 'content-encoding': encoding }), how);
  }
  if (kind === 'path') return make('rest.path', badPath(rng), '');
  if (kind === 'metrics') return make('rest.metrics', { method: 'GET', path: '/monitoring/prometheus/metrics' }, '');
  const model = rng.weighted<string>([
    [6, rng.pick(Object.values(MODELS))],
    [1, segment(rng.name()) || 'x'],
  ]);
  const selector = rng.pick([
    '',
    '',
    '/versions/1',
    `/labels/${STABLE_LABEL}`,
    '/versions/7',
    `/labels/${segment(rng.name())}`,
  ]);
  return make(
    'rest.status',
    { method: 'GET', path: `/v1/models/${model}${selector}${rng.chance(0.5) ? '/metadata' : ''}` },
    '',
  );
}
