/**
 * The web dashboard: a third adapter on the REST port beside /v1 and /v2 (DESIGN.md), over the same serving core.
 * It serves the page's static files (page-routes.ts) and the JSON endpoints under /api/dashboard/ that the page
 * reads (shapes in api-types.ts, documented in docs/api.md "Dashboard endpoints"). It only reads: actions go
 * through the public APIs like any client's.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { NotFound } from '../../errors.js';
import type { RestRoutes } from '../apis/rest/server.js';
import { sendError } from '../apis/rest/http-common.js';
import { serverMetadataV2 } from '../apis/v2/metadata.js';
import type { ServingCoreImpl } from '../core/serving-core.js';
import type { DashboardServer } from './api-types.js';
import { modelsView } from './models-view.js';
import { isDashboardPagePath, registerPageRoutes } from './page-routes.js';
import { placementView } from './placement-view.js';
import { RunsView } from './runs-view.js';
import { loadDashboardFiles, type DashboardFiles } from './static-files.js';
import { StatsSampler } from './stats-sampler.js';
import { StatsStreams } from './stats-stream.js';

export interface DashboardOptions {
  /** --runs_dir: a folder of training runs whose curves GET /api/dashboard/runs lists. */
  runsDir?: string;
  /** Milliseconds between stats samples (and stream events); default 1000. */
  statsIntervalMs?: number;
  /** Samples kept per series; default 300 (5 minutes at 1 s). */
  statsSamples?: number;
  /** Live streams open at once; default 16. More get 503. */
  maxStreams?: number;
  /** Ops a placement response lists at most; default 2000. */
  maxPlacementOps?: number;
  /** The page's folder (holding index.html and assets/); default: `dashboard/` above this module. */
  pageRoot?: string;
}

/** What the server tells the dashboard about itself. */
export interface DashboardServerInfo {
  core: ServingCoreImpl;
  /** The bound ports (known once listening). */
  ports(): { grpc: number; rest: number };
  grpcTls: boolean;
  restTls: boolean;
  cors: boolean;
  auth: boolean;
  prometheusPath: string | null;
}

export const DEFAULT_STATS_INTERVAL_MS = 1000;
export const DEFAULT_STATS_SAMPLES = 300;
export const DEFAULT_MAX_STREAMS = 16;
export const DEFAULT_MAX_PLACEMENT_OPS = 2000;

const API_PREFIX = '/api/dashboard';

export class Dashboard implements RestRoutes {
  private readonly startedAt = Date.now();
  private readonly settings: Required<Omit<DashboardOptions, 'runsDir' | 'pageRoot'>>;
  /** Samples the metrics registry on a timer (started with the dashboard, stopped at drain). */
  readonly sampler: StatsSampler;
  private readonly streams: StatsStreams;
  private readonly runs: RunsView;

  private constructor(
    private readonly info: DashboardServerInfo,
    private readonly options: DashboardOptions,
    private readonly files: DashboardFiles,
  ) {
    this.settings = {
      statsIntervalMs: options.statsIntervalMs ?? DEFAULT_STATS_INTERVAL_MS,
      statsSamples: options.statsSamples ?? DEFAULT_STATS_SAMPLES,
      maxStreams: options.maxStreams ?? DEFAULT_MAX_STREAMS,
      maxPlacementOps: options.maxPlacementOps ?? DEFAULT_MAX_PLACEMENT_OPS,
    };
    this.sampler = new StatsSampler(info.core.metrics, {
      intervalMs: this.settings.statsIntervalMs,
      samples: this.settings.statsSamples,
    });
    const cors: Record<string, string> = info.cors ? { 'access-control-allow-origin': '*' } : {};
    this.streams = new StatsStreams(this.sampler, this.settings.maxStreams, cors);
    this.runs = new RunsView(options.runsDir || undefined);
    this.sampler.start();
  }

  /** Live streams open now. */
  get openStreams(): number {
    return this.streams.count;
  }

  /** Reads the page's file list once (static-files.ts). */
  static async create(info: DashboardServerInfo, options: DashboardOptions = {}): Promise<Dashboard> {
    const files = await loadDashboardFiles(options.pageRoot);
    return new Dashboard(info, options, files);
  }

  /** Files under dashboard/assets/ that are not served, and why (for a start-up log line). */
  get skippedFiles(): readonly { name: string; reason: string }[] {
    return this.files.skipped;
  }

  isPublicPath(url: string): boolean {
    return isDashboardPagePath(url);
  }

  register(app: FastifyInstance): void {
    registerPageRoutes(app, this.files);
    const json = (path: string, answer: (params: Record<string, string>) => unknown | Promise<unknown>) =>
      app.get(`${API_PREFIX}/${path}`, async (request, reply: FastifyReply) => {
        try {
          const body = await answer(request.params as Record<string, string>);
          return reply.header('cache-control', 'no-store').type('application/json').send(JSON.stringify(body));
        } catch (err) {
          return sendError(reply, err);
        }
      });
    json('server', () => this.server());
    json('models', () => modelsView(this.info.core));
    json('models/:name/versions/:version/placement', (params) =>
      placementView(this.info.core, params.name ?? '', params.version ?? '', this.settings.maxPlacementOps),
    );
    json('stats', () => this.sampler.snapshot());
    app.get(`${API_PREFIX}/stats/stream`, async (request, reply) => this.streams.handle(request, reply));
    json('runs', () => this.runs.list());
    app.all(`${API_PREFIX}/*`, async (request, reply) =>
      sendError(reply, new NotFound(`no dashboard endpoint ${request.method} ${request.url.split('?')[0]}`)),
    );
  }

  /** GET /api/dashboard/server */
  server(): DashboardServer {
    const { core } = this.info;
    const workers = core.workerPoolSize;
    return {
      name: 'flowserve',
      version: serverMetadataV2(core).version,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeSeconds: (Date.now() - this.startedAt) / 1000,
      readiness: core.readiness,
      modelControlMode: core.modelControlMode,
      modelManagement: core.modelManagementEnabled,
      dashboard: {
        enabled: true,
        runs: this.options.runsDir !== undefined && this.options.runsDir !== '',
        ...this.settings,
      },
      ports: this.info.ports(),
      protocols: {
        grpc: {
          tls: this.info.grpcTls,
          services: [
            'tensorflow.serving.PredictionService',
            'tensorflow.serving.ModelService',
            'inference.GRPCInferenceService',
            'grpc.health.v1.Health',
          ],
        },
        rest: { tls: this.info.restTls, apis: ['/v1', '/v2'], cors: this.info.cors },
        prometheusPath: this.info.prometheusPath,
        auth: this.info.auth,
      },
      workers: workers === undefined ? null : { size: workers },
    };
  }

  /** Stops the sampler and ends open streams (called when the server drains). Idempotent. */
  close(): void {
    this.streams.close();
    this.sampler.stop();
  }
}
