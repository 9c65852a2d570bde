/**
 * The served half of the conformance run: one flowserve server; the cases are loaded in batches through config
 * reloads (each batch replaces the previous one, so at most `batchSize` models are loaded at a time), then each
 * loaded case is sent over every transport with at most `concurrency` requests in flight.
 */
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostTensor } from '../../src/graph/host-tensor.js';
import { startServer, type RunningServer } from '../../src/serving/server.js';
import { readDataSet, type ConformanceCase, type DataSet } from './cases.js';
import { compareTensor } from './compare.js';
import { feedNames, firstLine, type Outcome } from './reference.js';
import type { Transport, TransportFactory } from './transports.js';

export interface ServedOptions {
  transports: readonly TransportFactory[];
  /** Models loaded at a time. */
  batchSize: number;
  /** Requests in flight at a time. */
  concurrency: number;
  numWorkers: number;
}

/** A case to serve, with its graph's input and output names in graph order (from the reference session). */
export interface ServedCase {
  testCase: ConformanceCase;
  inputNames: readonly string[];
  outputNames: readonly string[];
}

/** Per case key (`dir/name`): the outcome of each transport, by transport name. */
export type ServedResults = Map<string, Record<string, Outcome>>;

export const caseKey = (c: ConformanceCase): string => `${c.dir}/${c.name}`;
/** A served model's name: unique across the directories (pytorch-operator and node share test names). */
export const modelNameOf = (c: ConformanceCase): string => `${c.dir}__${c.name}`;

async function mapBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  });
  await Promise.all(lanes);
}

function configText(repo: string, batch: readonly ServedCase[]): string {
  const entries = batch.map(
    ({ testCase }) =>
      `config { name: "${modelNameOf(testCase)}" base_path: "${join(repo, modelNameOf(testCase))}" model_platform: "tensorflow" }`,
  );
  return `model_config_list { ${entries.join(' ')} }`;
}

export async function runServed(cases: readonly ServedCase[], options: ServedOptions): Promise<ServedResults> {
  const repo = await mkdtemp(join(tmpdir(), 'flowserve-conformance-'));
  const results: ServedResults = new Map();
  let server: RunningServer | undefined;
  const transports: Transport[] = [];
  try {
    // Each test model becomes version 1 of its own model, by symlink: nothing is copied.
    for (const { testCase } of cases) {
      await mkdir(join(repo, modelNameOf(testCase), '1'), { recursive: true });
      await symlink(testCase.modelPath, join(repo, modelNameOf(testCase), '1', 'model.onnx'));
    }
    server = await startServer({
      modelConfig: { models: [] },
      grpcPort: 0,
      restPort: 0,
      enableModelManagement: true,
      maxNumLoadRetries: 0,
      fileSystemPollWaitSeconds: 0,
      enableModelWarmup: false,
      numWorkers: options.numWorkers,
      log: () => undefined,
    });
    const running = server;
    const ports = { grpcPort: running.grpcPort, restPort: running.restPort as number };
    for (const factory of options.transports) transports.push(factory(ports));
    for (let at = 0; at < cases.length; at += options.batchSize) {
      const batch = cases.slice(at, at + options.batchSize);
      // A batch with a model that fails to load rejects; each model's status says which and why.
      await running.core.reloadConfig(configText(repo, batch)).catch(() => undefined);
      await mapBounded(batch, options.concurrency, async (served) => {
        results.set(caseKey(served.testCase), await serveCase(running, transports, served));
      });
    }
  } finally {
    for (const t of transports) t.close();
    await server?.close();
    await rm(repo, { recursive: true, force: true });
  }
  return results;
}

async function serveCase(
  server: RunningServer,
  transports: readonly Transport[],
  served: ServedCase,
): Promise<Record<string, Outcome>> {
  const all = (outcome: Outcome) => Object.fromEntries(transports.map((t) => [t.name, outcome]));
  const [status] = server.core.status(modelNameOf(served.testCase));
  if (status?.state !== 'AVAILABLE') {
    const reason = status?.error?.message ?? `version state ${status?.state ?? 'unknown'}`;
    return all({ ok: false, stage: 'load', reason: firstLine(reason) });
  }
  const dataSets: DataSet[] = [];
  for (const path of served.testCase.dataSets) {
    try {
      dataSets.push(await readDataSet(path));
    } catch (err) {
      return all({ ok: false, stage: 'data', reason: (err as Error).message });
    }
  }
  const outcomes: Record<string, Outcome> = {};
  for (const transport of transports) {
    outcomes[transport.name] = await serveOver(transport, modelNameOf(served.testCase), dataSets, served);
  }
  return outcomes;
}

async function serveOver(
  transport: Transport,
  model: string,
  dataSets: readonly DataSet[],
  served: ServedCase,
): Promise<Outcome> {
  for (const data of dataSets) {
    const inputNames = feedNames(data.inputs, served.inputNames);
    const inputs = data.inputs.map((t, i) => ({ name: inputNames[i] as string, tensor: t.tensor }));
    let outputs: Record<string, HostTensor>;
    try {
      outputs = await transport.infer(model, inputs);
    } catch (err) {
      return { ok: false, stage: 'run', reason: firstLine((err as Error).message) };
    }
    const outputNames = feedNames(data.outputs, served.outputNames);
    for (const [i, { tensor }] of data.outputs.entries()) {
      const name = outputNames[i] as string;
      const diff = compareTensor(name, tensor, outputs[name]);
      if (diff) return { ok: false, stage: 'compare', reason: diff };
    }
  }
  return { ok: true };
}
