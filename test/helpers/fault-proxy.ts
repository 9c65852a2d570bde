/**
 * An HTTP proxy on 127.0.0.1 port 0 that injects storage faults in front of a loopback server (s3rver), per request:
 *   pass    forwards the request
 *   error   answers 503 SlowDown (S3's throttling answer) at once
 *   stall   reads the request and never answers (until the mode changes back or the proxy closes)
 *   reset   destroys the client's connection (a TCP reset)
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FaultMode = 'pass' | 'error' | 'stall' | 'reset';

export interface FaultProxy {
  endpoint: string;
  mode: FaultMode;
  /** Requests answered per mode so far. */
  counts: Record<FaultMode, number>;
  close(): Promise<void>;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const sockets = new Set<Socket>();
  const stalled = new Set<ServerResponse>();
  const proxy: FaultProxy = {
    endpoint: '',
    mode: 'pass',
    counts: { pass: 0, error: 0, stall: 0, reset: 0 },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const upstreamRequest = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upstreamResponse) => {
        res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.pipe(res);
      },
    );
    upstreamRequest.on('error', () => res.destroy());
    req.pipe(upstreamRequest);
  };
  const server = createServer((req, res) => {
    const mode = proxy.mode;
    proxy.counts[mode]++;
    if (mode === 'pass') return forward(req, res);
    if (mode === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    req.resume();
    if (mode === 'stall') {
      stalled.add(res);
      res.on('close', () => stalled.delete(res));
      return;
    }
    req.on('end', () => {
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Injected</Message></Error>');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
