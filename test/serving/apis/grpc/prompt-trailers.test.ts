/**
 * A unary reply's OK trailers submitted from 'wantTrailers' through the stream's native handle (prompt-trailers.ts):
 * on the running Node.js they must reach the client exactly as the public sendTrailers sends them, a turn of the
 * event loop sooner; anything unexpected about the handle must answer false and send nothing.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { submitOkTrailersNow } from '../../../../src/serving/apis/grpc/transport/prompt-trailers.js';

type Mode = 'prompt' | 'public';

/** What one reply showed: its trailers at the client, and the server's turns of the event loop until its stream closed. */
interface Reply {
  trailers: IncomingHttpHeaders;
  body: string;
  turnsUntilClosed: number;
  submitted: boolean | undefined;
}

describe('OK trailers in the reply turn (prompt-trailers.ts)', () => {
  const server = createServer();
  let port = 0;
  let mode: Mode = 'prompt';
  let lastServerSide: Promise<{ turnsUntilClosed: number; submitted: boolean | undefined }> | undefined;
  let streamSeen: ServerHttp2Stream | undefined;

  before(async () => {
    server.on('stream', (stream: ServerHttp2Stream) => {
      streamSeen = stream;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      lastServerSide = new Promise((resolve) => {
        stream.once('wantTrailers', () => {
          let closed = false;
          stream.once('close', () => (closed = true));
          let turns = 0;
          let submitted: boolean | undefined;
          const count = () => {
            if (closed) resolve({ turnsUntilClosed: turns, submitted });
            else {
              turns++;
              setImmediate(count);
            }
          };
          setImmediate(count);
          if (mode === 'prompt') submitted = submitOkTrailersNow(stream);
          else stream.sendTrailers({ 'grpc-status': '0' });
        });
      });
      stream.end(Buffer.from('reply'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function reply(as: Mode): Promise<Reply> {
    mode = as;
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      const request = session.request({ ':method': 'POST', ':path': '/test' });
      request.end();
      let trailers: IncomingHttpHeaders = {};
      let body = '';
      request.on('trailers', (t) => (trailers = t));
      request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      await new Promise((resolve) => request.on('close', resolve));
      const serverSide = await (lastServerSide as NonNullable<typeof lastServerSide>);
      return { trailers, body, ...serverSide };
    } finally {
      session.close();
    }
  }

  it('sends exactly `grpc-status: 0` after the message, and the stream closes in the turn the reply went out', async () => {
    const prompt = await reply('prompt');
    assert.equal(prompt.submitted, true, 'this Node.js did not take the trailers from the native handle');
    assert.equal(prompt.body, 'reply');
    assert.deepEqual(Object.entries(prompt.trailers), [['grpc-status', '0']]);
    assert.equal(prompt.turnsUntilClosed, 0);
    // The public way, for comparison: the same trailers, a turn later.
    const viaPublic = await reply('public');
    assert.deepEqual(Object.entries(viaPublic.trailers), [['grpc-status', '0']]);
    assert.equal(viaPublic.turnsUntilClosed, 1);
  });

  it('answers false, and sends nothing, when the handle is missing, lacks `trailers`, refuses or throws', async () => {
    await reply('prompt');
    const real = streamSeen as ServerHttp2Stream;
    const key = Object.getOwnPropertySymbols(real).find((k) => k.description === 'kHandle') as symbol;
    const calls: unknown[] = [];
    const stream = (handle: unknown) => ({ [key]: handle }) as unknown as ServerHttp2Stream;
    assert.equal(submitOkTrailersNow({} as ServerHttp2Stream), false);
    assert.equal(submitOkTrailersNow(stream(undefined)), false);
    assert.equal(submitOkTrailersNow(stream({})), false);
    assert.equal(submitOkTrailersNow(stream({ trailers: (list: unknown) => (calls.push(list), -530) })), false);
    assert.equal(
      submitOkTrailersNow(
        stream({
          trailers: () => {
            throw new TypeError('not a header list');
          },
        }),
      ),
      false,
    );
    assert.equal(calls.length, 1);
  });
});
