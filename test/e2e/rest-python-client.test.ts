/**
 * TF Serving's REST users mostly call it from Python, whose http.client (under `requests`) keeps the connection alive
 * and sends a body of 2,000 bytes or more in a send of its own, after the header block. Python's own client here
 * sends :predict and v2 binary /infer requests of both sizes on one connection: every answer must be right, and the
 * HTTP/1.1 front (src/serving/apis/rest/http1-front.ts) must answer them all, so node:http parses none. On loopback
 * the two sends usually arrive in one read; test/serving/apis/http1-front.test.ts sends a body after its header block
 * deterministically. Skips when python3 is not installed.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createRestServer } from '../../src/serving/apis/rest/server.js';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { tempBase, writeClassifier } from '../serving/apis/fixtures.js';

const PYTHON = spawnSync('python3', ['--version'], { stdio: 'ignore' }).error === undefined;

/**
 * One keep-alive connection: a small and a large :predict (4 features; the large one pads its JSON with spaces past
 * 2,000 bytes), then a v2 binary /infer of two rows. Prints each status and body as one JSON line.
 */
const SCRIPT = String.raw`
import http.client, json, struct, sys
c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]))
out = []
def post(path, body, headers):
    c.request('POST', path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    out.append({'status': r.status, 'bytes': len(body), 'body': data.decode('latin1')})
small = json.dumps({'signature_name': 'predict_probs', 'instances': [[0.5, -1, 2, 0.25]]}).encode()
large = small[:-1] + b' ' * 3000 + b'}'
post('/v1/models/clf:predict', small, {'Content-Type': 'application/json'})
post('/v1/models/clf:predict', large, {'Content-Type': 'application/json'})
x = struct.pack('<8f', 0.5, -1, 2, 0.25, 1, 2, 3, 4)
header = json.dumps({'inputs': [{'name': 'inputs', 'datatype': 'FP32', 'shape': [2, 4],
                     'parameters': {'binary_data_size': len(x)}}]}).encode()
post('/v2/models/clf/infer', header + x, {'Inference-Header-Content-Length': str(len(header))})
print(json.dumps(out))
`;

describe("Python's http.client against the REST port", () => {
  let base: string;
  let server: RunningServer;
  let app: FastifyInstance;
  let port: number;
  let parsedByNode = 0;

  before(async () => {
    base = tempBase('flowserve-python-client-');
    writeClassifier(join(base, 'clf'), 1);
    server = await startServer({
      modelConfig: singleModelConfig('clf', join(base, 'clf')),
      grpcPort: 0,
      fileSystemPollWaitSeconds: -1,
      log: () => {},
    });
    app = createRestServer(server.core, {});
    app.server.on('request', () => parsedByNode++);
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  });

  after(async () => {
    await app?.close();
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('small and large bodies on one kept-alive connection, all answered by the front', async (t) => {
    if (!PYTHON) return t.skip('python3 is not installed');
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile('python3', ['-c', SCRIPT, String(port)], (err, out, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out),
      ),
    );
    const answers = JSON.parse(stdout) as { status: number; bytes: number; body: string }[];
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200],
    );
    assert.ok((answers[1]?.bytes ?? 0) > 2000, "the large body is past http.client's 2,000-byte split");
    assert.equal(answers[0]?.body, answers[1]?.body, 'padding the JSON changes nothing');
    const predictions = (JSON.parse(answers[0]?.body ?? '{}') as { predictions: number[][] }).predictions;
    assert.equal(predictions.length, 1);
    assert.ok(Math.abs((predictions[0] ?? []).reduce((a, b) => a + b, 0) - 1) < 1e-5, 'probabilities sum to 1');
    assert.match(answers[2]?.body ?? '', /"model_name":"clf"/);
    assert.equal(parsedByNode, 0, 'node:http parsed a request the front should have answered');
  });
});
