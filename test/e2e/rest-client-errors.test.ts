/**
 * Requests the HTTP parser refuses before routing (here: a request line over Node's header size limit) get a
 * well-formed answer: a HEAD request no body at all (fastify's default sent one, and the client then failed to
 * parse the reply: "Expected HTTP/", found by `npm run fuzz`), any other method TF Serving's {"error": ...} body.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { singleModelConfig } from '../../src/serving/config/model-server-config.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { tempBase, writeClassifier } from '../serving/apis/fixtures.js';

/** Sends raw bytes and returns everything the server wrote before closing the connection. */
function exchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let reply = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(reply));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no reply within 10 s')));
  });
}

describe('REST answers to requests refused by the HTTP parser', () => {
  const base = tempBase('flowserve-client-errors-');
  let server: RunningServer;
  const longPath = `/v1/models/${'a'.repeat(20_000)}`;

  before(async () => {
    writeClassifier(join(base, 'clf'), 1);
    server = await startServer({
      modelConfig: singleModelConfig('clf', join(base, 'clf')),
      fileSystemPollWaitSeconds: -1,
      numWorkers: 1,
      grpcPort: 0,
      restPort: 0,
      log: () => {},
    });
  });

  after(async () => {
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('a HEAD request with a 20 KB path gets 431 with no body', async () => {
    const reply = await exchange(server.restPort as number, `HEAD ${longPath} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const [head, body] = reply.split('\r\n\r\n');
    assert.match(head as string, /^HTTP\/1\.1 431 /);
    assert.match(head as string, /\r\nConnection: close/i);
    assert.equal(body, '');
  });

  test('a GET with a 20 KB path gets 431 with a TF Serving error body', async () => {
    const reply = await exchange(server.restPort as number, `GET ${longPath} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const [head, body] = reply.split('\r\n\r\n');
    assert.match(head as string, /^HTTP\/1\.1 431 /);
    assert.match((JSON.parse(body as string) as { error: string }).error, /Request Header Fields Too Large/);
  });

  test('garbage instead of a request line gets 400 with an error body', async () => {
    const reply = await exchange(server.restPort as number, 'NOT HTTP AT ALL\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400 /);
    assert.match(reply.split('\r\n\r\n')[1] as string, /^\{"error":/);
  });
});
