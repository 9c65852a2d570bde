/**
 * The reference: each case run by plain onnxruntime-node, in this thread, with no flowserve code between the golden
 * data and ONNX Runtime. What it runs correctly, flowserve must serve correctly (issue 11's bar).
 */
import * as ort from 'onnxruntime-node';
import { isDType } from '../../src/graph/dtype.js';
import { fromOrtTensor, toOrtTensor } from '../../src/runtime/ort.js';
import type { NamedTensor } from '../../src/onnx/tensor-proto.js';
import { readDataSet, type ConformanceCase } from './cases.js';
import { compareTensor } from './compare.js';

export type Outcome = { ok: true } | { ok: false; stage: 'load' | 'data' | 'run' | 'compare'; reason: string };

/** The name each golden tensor stands for: its own, else the graph's name at its position. */
export function feedNames(golden: readonly NamedTensor[], graphNames: readonly string[]): string[] {
  return golden.map((t, i) => (t.name !== '' ? t.name : (graphNames[i] ?? `#${i}`)));
}

/** ORT's messages carry file paths and line numbers of its sources; the first line is the reason. */
export function firstLine(message: string): string {
  return (message.trim().split('\n')[0] ?? '').trim();
}

export interface ReferenceResult {
  outcome: Outcome;
  /** The graph's input and output names in graph order, as ONNX Runtime lists them (empty when it cannot load). */
  inputNames: readonly string[];
  outputNames: readonly string[];
}

export async function runReference(testCase: ConformanceCase): Promise<ReferenceResult> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(testCase.modelPath, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      logSeverityLevel: 3, // old-opset warnings, once per model, would bury the report
    });
  } catch (err) {
    return {
      outcome: { ok: false, stage: 'load', reason: firstLine((err as Error).message) },
      inputNames: [],
      outputNames: [],
    };
  }
  const { inputNames, outputNames } = session;
  try {
    return { outcome: await runSession(session, testCase), inputNames, outputNames };
  } finally {
    await session.release();
  }
}

async function runSession(session: ort.InferenceSession, testCase: ConformanceCase): Promise<Outcome> {
  const nonTensor = [...session.inputMetadata, ...session.outputMetadata].find((m) => !m.isTensor);
  if (nonTensor) {
    return {
      ok: false,
      stage: 'load',
      reason: `'${nonTensor.name}' is not a tensor (onnxruntime-node feeds and returns tensors only)`,
    };
  }
  for (const dataSet of testCase.dataSets) {
    let data;
    try {
      data = await readDataSet(dataSet);
    } catch (err) {
      return { ok: false, stage: 'data', reason: (err as Error).message };
    }
    const names = feedNames(data.inputs, session.inputNames);
    const feeds: Record<string, ort.Tensor> = {};
    data.inputs.forEach(({ tensor }, i) => {
      feeds[names[i] as string] = toOrtTensor(tensor);
    });
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await session.run(feeds);
    } catch (err) {
      return { ok: false, stage: 'run', reason: firstLine((err as Error).message) };
    }
    const outputNames = feedNames(data.outputs, session.outputNames);
    for (const [i, { tensor: expected }] of data.outputs.entries()) {
      const name = outputNames[i] as string;
      const value = results[name];
      if (value && !isDType(value.type))
        return { ok: false, stage: 'run', reason: `output '${name}' has type ${value.type}` };
      const actual = value && fromOrtTensor(value);
      const diff = compareTensor(name, expected, actual);
      if (diff) return { ok: false, stage: 'compare', reason: diff };
    }
  }
  return { ok: true };
}
