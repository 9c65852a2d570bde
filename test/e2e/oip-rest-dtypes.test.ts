/**
 * Every datatype flowserve serves, through /v2 infer on an identity model per dtype: binary in, binary out, bit for
 * bit (FP16 and BYTES included), and JSON in, JSON out where the protocol allows it (FP16 is refused in JSON).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DType } from '../../src/graph/dtype.js';
import { DEFAULT_VERSION_POLICY, validateModelServerConfig } from '../../src/serving/config/model-server-config.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { tempBase, writeIdentityModel } from '../serving/apis/fixtures.js';
import { binaryBody, readBinaryResponse } from '../helpers/oip-rest.js';

interface Case {
  datatype: string;
  dtype: DType;
  /** Three elements as their little-endian bytes. */
  bytes: Uint8Array;
  /** The same three elements as JSON values; undefined where JSON cannot carry them. */
  json?: unknown[];
}

const le = (array: ArrayBufferView) => new Uint8Array(array.buffer, array.byteOffset, array.byteLength);

/** BYTES elements framed as the protocol frames them: a 4-byte little-endian length before each. */
function framed(elements: string[]): Uint8Array {
  return Buffer.concat(
    elements.map((e) => {
      const bytes = Buffer.from(e, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.length);
      return Buffer.concat([length, bytes]);
    }),
  );
}

const CASES: Case[] = [
  { datatype: 'BOOL', dtype: 'bool', bytes: new Uint8Array([1, 0, 1]), json: [true, false, true] },
  { datatype: 'UINT8', dtype: 'uint8', bytes: le(new Uint8Array([0, 255, 7])), json: [0, 255, 7] },
  { datatype: 'INT8', dtype: 'int8', bytes: le(new Int8Array([-128, 127, 0])), json: [-128, 127, 0] },
  { datatype: 'UINT16', dtype: 'uint16', bytes: le(new Uint16Array([0, 65535, 1])), json: [0, 65535, 1] },
  { datatype: 'INT16', dtype: 'int16', bytes: le(new Int16Array([-32768, 32767, 5])), json: [-32768, 32767, 5] },
  { datatype: 'UINT32', dtype: 'uint32', bytes: le(new Uint32Array([0, 4294967295, 3])), json: [0, 4294967295, 3] },
  {
    datatype: 'INT32',
    dtype: 'int32',
    bytes: le(new Int32Array([-2147483648, 2147483647, 0])),
    json: [-2147483648, 2147483647, 0],
  },
  {
    datatype: 'UINT64',
    dtype: 'uint64',
    bytes: le(new BigUint64Array([0n, 18446744073709551615n, 1n])),
    json: [0, 9007199254740991, 1],
  },
  {
    datatype: 'INT64',
    dtype: 'int64',
    bytes: le(new BigInt64Array([-9223372036854775808n, 9223372036854775807n, -1n])),
    json: [-9007199254740991, 9007199254740991, -1],
  },
  // 1, -2, 65504 (the largest half) as binary16 bit patterns.
  { datatype: 'FP16', dtype: 'float16', bytes: le(new Uint16Array([0x3c00, 0xc000, 0x7bff])) },
  { datatype: 'FP32', dtype: 'float32', bytes: le(new Float32Array([1.5, -0, 3.4e38])), json: [1.5, 0.1, 3.4e38] },
  {
    datatype: 'FP64',
    dtype: 'float64',
    bytes: le(new Float64Array([Math.PI, -1e300, 5e-324])),
    json: [Math.PI, -1e300, 5e-324],
  },
  { datatype: 'BYTES', dtype: 'string', bytes: framed(['', 'héllo wörld', 'a/b']), json: ['', 'héllo', 'x'] },
];

describe('Open Inference Protocol over REST: every datatype', () => {
  let base: string;
  let server: RunningServer;
  let root: string;

  before(async () => {
    base = tempBase('flowserve-oip-dtypes-');
    for (const c of CASES) writeIdentityModel(join(base, c.dtype), 1, c.dtype, [-1]);
    server = await startServer({
      modelConfig: validateModelServerConfig({
        models: CASES.map((c) => ({
          name: c.dtype,
          basePath: join(base, c.dtype),
          modelPlatform: 'tensorflow',
          versionPolicy: DEFAULT_VERSION_POLICY,
          versionLabels: {},
        })),
      }),
      grpcPort: 0,
      restPort: 0,
      fileSystemPollWaitSeconds: -1,
      log: () => {},
    });
    root = `http://127.0.0.1:${server.restPort}`;
  });

  after(async () => {
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  for (const c of CASES) {
    test(`${c.datatype}: binary in, binary out, byte for byte; metadata names the datatype`, async () => {
      const meta = (await (await fetch(`${root}/v2/models/${c.dtype}`)).json()) as { inputs: { datatype: string }[] };
      assert.equal(meta.inputs[0]?.datatype, c.datatype);
      const { body, headerLength } = binaryBody(
        {
          inputs: [{ name: 'x', datatype: c.datatype, shape: [3], parameters: { binary_data_size: c.bytes.length } }],
          outputs: [{ name: 'y', parameters: { binary_data: true } }],
        },
        [c.bytes],
      );
      const res = await fetch(`${root}/v2/models/${c.dtype}/infer`, {
        method: 'POST',
        headers: { 'inference-header-content-length': String(headerLength) },
        body: new Uint8Array(body),
      });
      assert.equal(res.status, 200, await res.clone().text());
      const { json, tail } = await readBinaryResponse(res);
      assert.deepEqual(json.outputs[0], {
        name: 'y',
        datatype: c.datatype,
        shape: [3],
        parameters: { binary_data_size: c.bytes.length },
      });
      assert.deepEqual(new Uint8Array(tail), new Uint8Array(c.bytes));
    });

    test(`${c.datatype}: JSON in, JSON out${c.json ? '' : ' is refused, as Triton refuses it'}`, async () => {
      const res = await fetch(`${root}/v2/models/${c.dtype}/infer`, {
        method: 'POST',
        body: JSON.stringify({ inputs: [{ name: 'x', datatype: c.datatype, shape: [3], data: c.json ?? [1, 2, 3] }] }),
      });
      if (!c.json) {
        assert.equal(res.status, 400);
        assert.match(((await res.json()) as { error: string }).error, /FP16 data via JSON is not supported/);
        return;
      }
      assert.equal(res.status, 200, await res.clone().text());
      const json = (await res.json()) as { outputs: { datatype: string; data: unknown[] }[] };
      assert.equal(json.outputs[0]?.datatype, c.datatype);
      // FP32 is printed in its shortest form that reads back as the same float32.
      const single = (values: unknown[]) => values.map((v) => Math.fround(v as number));
      if (c.dtype === 'float32') assert.deepEqual(single(json.outputs[0]?.data ?? []), single(c.json));
      else assert.deepEqual(json.outputs[0]?.data, c.json);
    });
  }

  test('FP16 outputs asked as JSON are refused before the model runs; binary ones are served', async () => {
    const { body, headerLength } = binaryBody(
      { inputs: [{ name: 'x', datatype: 'FP16', shape: [1], parameters: { binary_data_size: 2 } }] },
      [le(new Uint16Array([0x3c00]))],
    );
    const res = await fetch(`${root}/v2/models/float16/infer`, {
      method: 'POST',
      headers: { 'inference-header-content-length': String(headerLength) },
      body: new Uint8Array(body),
    });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /output 'y': sending FP16 data via JSON/);
  });

  test('BYTES framing that overruns its chunk or leaves bytes over is refused', async () => {
    const bad: [Uint8Array, RegExp][] = [
      [framed(['ab', 'cd']).subarray(0, 10), /needs at least 12 bytes|claims 2 bytes but only 0 are left/],
      [Buffer.concat([framed(['ab', 'cd', 'ef']), Buffer.from('zz')]), /take 18 bytes, but binary_data_size is 20/],
      [Buffer.from([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0]), /element 0 claims 2147483647 bytes/],
    ];
    for (const [chunk, message] of bad) {
      const { body, headerLength } = binaryBody(
        { inputs: [{ name: 'x', datatype: 'BYTES', shape: [3], parameters: { binary_data_size: chunk.length } }] },
        [chunk],
      );
      const res = await fetch(`${root}/v2/models/string/infer`, {
        method: 'POST',
        headers: { 'inference-header-content-length': String(headerLength) },
        body: new Uint8Array(body),
      });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { error: string }).error, message);
    }
  });
});
