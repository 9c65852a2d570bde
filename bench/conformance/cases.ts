/**
 * The cases of ONNX's backend test data as Debian's libonnx-testdata installs it (spec/tensorflow-model-formats.md
 * §5): `<root>/<dir>/<test>/model.onnx` beside `test_data_set_N/{input,output}_M.pb`, serialized TensorProtos.
 */
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeOnnxTensor, type NamedTensor } from '../../src/onnx/tensor-proto.js';

export const DEFAULT_TESTDATA_ROOT = '/usr/share/libonnx-testdata/data';
/** The directories with models in the package (`real/` holds only download URLs). */
export const CONFORMANCE_DIRS = ['node', 'simple', 'pytorch-converted', 'pytorch-operator'] as const;
export type ConformanceDir = (typeof CONFORMANCE_DIRS)[number];

export interface ConformanceCase {
  dir: ConformanceDir;
  /** The test's folder name, e.g. `test_add`; also its served model name. */
  name: string;
  modelPath: string;
  dataSets: string[];
}

export interface DataSet {
  inputs: NamedTensor[];
  outputs: NamedTensor[];
}

/** Why the package cannot be used, or undefined when `root` holds the conformance directories. */
export async function testdataMissing(root: string): Promise<string | undefined> {
  for (const dir of CONFORMANCE_DIRS) {
    try {
      await access(join(root, dir));
    } catch {
      return `ONNX backend test data not found at ${join(root, dir)} (Debian package libonnx-testdata; .ci/run installs it as root)`;
    }
  }
  return undefined;
}

export async function listCases(
  root: string,
  dirs: readonly ConformanceDir[] = CONFORMANCE_DIRS,
): Promise<ConformanceCase[]> {
  const cases: ConformanceCase[] = [];
  for (const dir of dirs) {
    const names = (await readdir(join(root, dir))).sort();
    for (const name of names) {
      const caseDir = join(root, dir, name);
      const entries = await readdir(caseDir);
      if (!entries.includes('model.onnx')) continue;
      const dataSets = entries
        .filter((e) => /^test_data_set_\d+$/.test(e))
        .sort()
        .map((e) => join(caseDir, e));
      cases.push({ dir, name, modelPath: join(caseDir, 'model.onnx'), dataSets });
    }
  }
  return cases;
}

/** `input_0.pb`, `input_1.pb`, … in index order (not string order: input_10 after input_9). */
async function numbered(dataSet: string, prefix: 'input' | 'output'): Promise<string[]> {
  const pattern = new RegExp(`^${prefix}_(\\d+)\\.pb$`);
  return (await readdir(dataSet))
    .map((f) => ({ f, m: pattern.exec(f) }))
    .filter((e): e is { f: string; m: RegExpExecArray } => e.m !== null)
    .sort((a, b) => Number(a.m[1]) - Number(b.m[1]))
    .map((e) => join(dataSet, e.f));
}

/** Reads one data set; throws (naming the file) when a file is not a TensorProto (sequence/optional golden data). */
export async function readDataSet(dataSet: string): Promise<DataSet> {
  const read = async (paths: string[]) =>
    Promise.all(paths.map(async (p) => decodeOnnxTensor(new Uint8Array(await readFile(p)), p)));
  return {
    inputs: await read(await numbered(dataSet, 'input')),
    outputs: await read(await numbered(dataSet, 'output')),
  };
}
