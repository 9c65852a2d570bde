/**
 * GET /api/dashboard/stats/stream: Server-Sent Events, one `stats` event per sample (DashboardStats holding the
 * newest sample only), a comment line as heartbeat every HEARTBEAT_MS so proxies keep the connection, at most
 * `maxStreams` at once (more get 503 UNAVAILABLE), and every stream ended when the server drains.
 *
 * EventSource cannot send an Authorization header: with --auth_token_file a page reads the stream with fetch()
 * (which can) and parses the events itself, or polls GET /api/dashboard/stats.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Unavailable } from '../../errors.js';
import { sendError } from '../apis/rest/http-common.js';
import type { StatsSampler } from './stats-sampler.js';

export const HEARTBEAT_MS = 15_000;

export class StatsStreams {
  private readonly open = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly sampler: StatsSampler,
    private readonly maxStreams: number,
    private readonly corsHeaders: Record<string, string>,
  ) {}

  get count(): number {
    return this.open.size;
  }

  handle(request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
    if (this.closed) return sendError(reply, new Unavailable('the server is shutting down'));
    if (this.open.size >= this.maxStreams) {
      return sendError(reply, new Unavailable(`too many dashboard streams open (at most ${this.maxStreams})`));
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...this.corsHeaders,
    });
    raw.write('retry: 2000\n\n');
    const unsubscribe = this.sampler.onSample((stats) => {
      // A client that does not read is not buffered for: its events are skipped until its socket drains.
      if (raw.writableNeedDrain) return;
      raw.write(`event: stats\ndata: ${JSON.stringify(stats)}\n\n`);
    });
    const heartbeat = setInterval(() => raw.write(': heartbeat\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    const end = () => {
      if (!this.open.delete(end)) return;
      clearInterval(heartbeat);
      unsubscribe();
      raw.end();
    };
    this.open.add(end);
    request.raw.socket.once('close', end);
    raw.once('close', end);
    return undefined;
  }

  /** Ends every stream and refuses new ones (the server drains). */
  close(): void {
    this.closed = true;
    for (const end of [...this.open]) end();
  }
}
