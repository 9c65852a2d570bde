/**
 * The signatures of a version: read from signatures.json (docs/servable-format.md), or derived from the ONNX graph
 * (a `serving_default` predict signature whose aliases are the graph's input and output names).
 */
import { readOptionalText } from './read-optional.js';
import { join } from 'node:path';
import { InvalidArgument } from '../../errors.js';
import { DTYPES, dtypeInfo, isDType } from '../../graph/dtype.js';
import { onnxElementTypeName } from '../../onnx/tensor-proto.js';
import type { WireValueInfo } from '../worker/protocol.js';
import { DEFAULT_SIGNATURE, METHOD_PREDICT, type Signature, type SignatureFile, type TensorSpec } from './types.js';

export interface VersionSignatures {
  signatures: Record<string, Signature>;
  defaultSignature: string;
}

export const SIGNATURES_FILE = 'signatures.json';

/** ONNX's names of the element types flowserve has a dtype for, for the load error of any other value. */
const SERVABLE_DTYPES = DTYPES.map((d) => onnxElementTypeName(dtypeInfo(d).onnx)).join(', ');

export function deriveSignatures(
  inputs: readonly WireValueInfo[],
  outputs: readonly WireValueInfo[],
): VersionSignatures {
  const toSpecs = (infos: readonly WireValueInfo[], role: string): Record<string, TensorSpec> => {
    const specs: Record<string, TensorSpec> = {};
    for (const info of infos) {
      if (!info.dtype) {
        throw new InvalidArgument(
          `ONNX graph ${role} '${info.name}' is of type ${info.onnxType ?? 'unknown'}: flowserve serves models whose ` +
            `inputs and outputs are tensors of ${SERVABLE_DTYPES}`,
        );
      }
      specs[info.name] = { name: info.name, dtype: info.dtype, shape: [...info.shape] };
    }
    return specs;
  };
  return {
    signatures: {
      [DEFAULT_SIGNATURE]: {
        method: METHOD_PREDICT,
        inputs: toSpecs(inputs, 'input'),
        outputs: toSpecs(outputs, 'output'),
      },
    },
    defaultSignature: DEFAULT_SIGNATURE,
  };
}

/** Reads `<versionDir>/signatures.json` if present (undefined otherwise) and checks it against the ONNX graph. */
export async function readSignatureFile(
  versionDir: string,
  graphInputs: readonly WireValueInfo[],
  graphOutputs: readonly WireValueInfo[],
): Promise<VersionSignatures | undefined> {
  const path = join(versionDir, SIGNATURES_FILE);
  const text = await readOptionalText(path);
  if (text === undefined) return undefined;
  let file: SignatureFile;
  try {
    file = JSON.parse(text) as SignatureFile;
  } catch (err) {
    throw new InvalidArgument(`${path}: invalid JSON: ${(err as Error).message}`);
  }
  if (typeof file !== 'object' || file === null || typeof file.signatures !== 'object' || file.signatures === null) {
    throw new InvalidArgument(`${path}: expected an object with "signatures"`);
  }
  const inputNames = new Set(graphInputs.map((i) => i.name));
  const outputNames = new Set([...graphOutputs.map((o) => o.name), ...inputNames]);
  for (const [key, signature] of Object.entries(file.signatures)) {
    // Serialized tf.Examples that the server parses (parseExamples) feed the model through its features' tensors.
    const parsed = signature.parseExamples;
    const { [parsed?.input ?? '']: _examples, ...modelInputs } = signature.inputs ?? {};
    checkSpecs(path, key, 'inputs', parsed ? modelInputs : signature.inputs, inputNames);
    for (const [feature, spec] of Object.entries(parsed?.features ?? {})) {
      for (const tensor of spec.tensors ?? []) {
        if (!inputNames.has(tensor)) {
          throw new InvalidArgument(
            `${path}: signature "${key}" parseExamples feature "${feature}" feeds ONNX tensor '${tensor}', which the model does not have`,
          );
        }
      }
    }
    checkSpecs(path, key, 'outputs', signature.outputs, outputNames);
    for (const { variable, input, output } of signature.state ?? []) {
      if (!inputNames.has(input) || !outputNames.has(output)) {
        throw new InvalidArgument(
          `${path}: signature "${key}" state of variable '${variable}' names ONNX input '${input}' and output '${output}', which the model does not both have`,
        );
      }
    }
  }
  const defaultSignature = typeof file.default === 'string' && file.default !== '' ? file.default : DEFAULT_SIGNATURE;
  if (!(defaultSignature in file.signatures)) {
    throw new InvalidArgument(`${path}: default signature "${defaultSignature}" is not in "signatures"`);
  }
  return { signatures: file.signatures, defaultSignature };
}

function checkSpecs(
  path: string,
  signature: string,
  role: 'inputs' | 'outputs',
  specs: Record<string, TensorSpec> | undefined,
  graphNames: ReadonlySet<string>,
): void {
  if (typeof specs !== 'object' || specs === null) {
    throw new InvalidArgument(`${path}: signature "${signature}" has no "${role}" object`);
  }
  for (const [alias, spec] of Object.entries(specs)) {
    const where = `${path}: signature "${signature}" ${role} "${alias}"`;
    if (!isDType(spec.dtype)) throw new InvalidArgument(`${where} has unknown dtype '${String(spec.dtype)}'`);
    if (!Array.isArray(spec.shape)) throw new InvalidArgument(`${where} has no shape`);
    if (!graphNames.has(spec.name)) {
      throw new InvalidArgument(`${where} names ONNX tensor '${spec.name}', which the model does not have`);
    }
  }
}
