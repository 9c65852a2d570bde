/**
 * Raw clients for hostile traffic: gRPC calls that send whatever bytes they are given (no client-side encoding to
 * tidy them up) and HTTP requests with any method, path, headers and body. Both give back what the server said,
 * never throw for a server's answer, and give up after a deadline (a request the server never answers is a finding).
 */
import http from 'node:http';
import { Client, credentials, Metadata, status as grpcStatus } from '@grpc/grpc-js';

export interface GrpcReply {
  /** gRPC status code (0 = OK). */
  code: number;
  details: string;
  response?: Buffer;
}

export interface HttpReply {
  /** HTTP status; 0 when no answer came (connection reset, timeout). */
  status: number;
  contentType: string;
  body: Buffer;
  /** Why no answer came, when status is 0. */
  transportError?: string;
}

const identity = (b: Buffer) => b;

/** gRPC status names by code, for tables and messages. */
export const GRPC_CODE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(grpcStatus)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v as number, k]),
);

export class RawGrpc {
  private readonly client: Client;

  constructor(port: number) {
    this.client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
    });
  }

  /** `method` is the full path, e.g. /tensorflow.serving.PredictionService/Predict. */
  call(method: string, bytes: Buffer, deadlineMs: number): Promise<GrpcReply> {
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        method,
        identity,
        identity,
        bytes,
        new Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, value) => {
          if (err) resolve({ code: err.code, details: err.details ?? String(err.message) });
          else resolve({ code: 0, details: '', response: value as Buffer });
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

export interface HttpRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

export class RawHttp {
  private readonly agent: http.Agent;

  constructor(
    private readonly port: number,
    maxSockets: number,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /** Requests sent again because a kept-alive socket was closed by the server as it was reused. */
  retries = 0;

  /**
   * Sends `request`. A reset on a reused keep-alive socket is retried once on a new connection: the server may close
   * an idle connection just as the agent hands it out (Node's documented race, `request.reusedSocket`); that is not
   * the request's doing.
   */
  async send(request: HttpRequest, timeoutMs: number): Promise<HttpReply> {
    const reply = await this.sendOnce(request, timeoutMs);
    if (reply.resetOnReusedSocket) {
      this.retries++;
      return this.sendOnce(request, timeoutMs);
    }
    return reply;
  }

  private sendOnce(request: HttpRequest, timeoutMs: number): Promise<HttpReply & { resetOnReusedSocket?: boolean }> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (reply: HttpReply & { resetOnReusedSocket?: boolean }) => {
        if (settled) return;
        settled = true;
        resolve(reply);
      };
      const headers: Record<string, string | number> = { ...request.headers };
      if (request.body) headers['content-length'] = request.body.length;
      let req: http.ClientRequest;
      try {
        req = http.request(
          {
            host: '127.0.0.1',
            port: this.port,
            method: request.method,
            path: request.path,
            headers,
            agent: this.agent,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              done({
                status: res.statusCode ?? 0,
                contentType: String(res.headers['content-type'] ?? ''),
                body: Buffer.concat(chunks),
              }),
            );
            res.on('error', (err) =>
              done({ status: 0, contentType: '', body: Buffer.alloc(0), transportError: err.message }),
            );
          },
        );
      } catch (err) {
        // Node refused to send it (a path with characters HTTP forbids): not a request the server ever saw.
        done({ status: -1, contentType: '', body: Buffer.alloc(0), transportError: (err as Error).message });
        return;
      }
      req.setTimeout(timeoutMs, () => {
        done({ status: 0, contentType: '', body: Buffer.alloc(0), transportError: `no answer within ${timeoutMs} ms` });
        req.destroy();
      });
      req.on('error', (err: NodeJS.ErrnoException) =>
        done({
          status: 0,
          contentType: '',
          body: Buffer.alloc(0),
          transportError: err.message,
          resetOnReusedSocket: req.reusedSocket && err.code === 'ECONNRESET',
        }),
      );
      req.end(request.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
