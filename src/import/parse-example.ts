/**
 * Recognises the ParseExample/ParseExampleV2 behind a classify/regress signature: the op that turns the signature's
 * DT_STRING input (a batch of serialized tf.Examples) into dense feature tensors. flowserve does not run it in the
 * model: the import cuts the graph at its dense outputs (they become model inputs), and the serving core parses
 * the examples on the host with what this module reads from the node: the dense keys, dtypes (Tdense), shapes
 * (dense_shapes) and defaults (constant inputs; an empty default means the feature is required).
 *
 * Input order (TF's op defs): ParseExample(serialized, names, sparse_keys[Nsparse], dense_keys[Ndense],
 * dense_defaults[Ndense]); ParseExampleV2(serialized, names, sparse_keys, dense_keys, ragged_keys,
 * dense_defaults[Ndense]). Outputs of both: sparse_indices, sparse_values, sparse_shapes (one each per sparse key),
 * then dense_values (one per dense key), then V2's ragged outputs.
 */
import { InvalidArgument, Unimplemented } from '../errors.js';
import type { DType } from '../graph/dtype.js';
import type { HostTensor } from '../graph/host-tensor.js';
import { utf8Text } from '../graph/utf8.js';
import { canonicalTensorName, neededNodes, parseTensorRef } from './graph-def.js';
import type { ImportedSignature } from './imported-model.js';
import { attrValueOfTf } from './tf-attrs.js';
import type { NodeDefMsg } from './tf-messages.js';

export const PARSE_EXAMPLE_OPS = new Set(['ParseExample', 'ParseExampleV2']);

/** Ops that pass their first input through unchanged in value (for defaults built as Reshape(Const)). */
const VALUE_PRESERVING_OPS = new Set(['Identity', 'Reshape', 'Snapshot', 'StopGradient', 'ExpandDims', 'Squeeze']);

export interface ImportedDenseFeature {
  /** The tf.Example feature key. */
  key: string;
  /** The ParseExample output holding this feature's [N, ...shape] values (`node:index`). */
  output: string;
  dtype: 'float32' | 'int64' | 'string';
  shape: number[];
  /** undefined: the feature is required. */
  defaultValue?: HostTensor;
}

export interface ImportedExampleParsing {
  /** The signature input alias holding the serialized examples. */
  alias: string;
  /** The ParseExample node. */
  node: string;
  features: ImportedDenseFeature[];
}

/**
 * The ParseExample that reads `signature`'s string input on the way to its outputs, or undefined when there is
 * none. Sparse and ragged features, and shapes with an unknown dimension, get an Unimplemented error naming them.
 */
export function findExampleParsing(
  byName: ReadonlyMap<string, NodeDefMsg>,
  signature: ImportedSignature,
  signatureKey: string,
  source: string,
): ImportedExampleParsing | undefined {
  const stringInputs = Object.entries(signature.inputs).filter(([, info]) => info.dtype === 'string');
  if (stringInputs.length === 0) return undefined;
  const inputNodes = new Set(Object.values(signature.inputs).map((i) => parseTensorRef(i.name).node));
  const needed = neededNodes(
    byName,
    Object.values(signature.outputs).map((o) => o.name),
    inputNodes,
    source,
  );
  const found: { alias: string; node: NodeDefMsg }[] = [];
  for (const node of needed) {
    if (!PARSE_EXAMPLE_OPS.has(node.op ?? '')) continue;
    const serialized = identitySource(byName, node.input?.[0] ?? '');
    const match = stringInputs.find(([, info]) => canonicalTensorName(info.name) === serialized);
    if (match) found.push({ alias: match[0], node });
  }
  if (found.length === 0) return undefined;
  const where = `${source}: signature '${signatureKey}'`;
  if (found.length > 1) {
    throw new Unimplemented(
      `${where} parses its examples with ${found.length} ParseExample nodes (${found.map((f) => `'${f.node.name}'`).join(', ')}); flowserve parses them with one`,
    );
  }
  const { alias, node } = found[0] as { alias: string; node: NodeDefMsg };
  if (Object.keys(signature.inputs).length !== 1) {
    throw new Unimplemented(
      `${where} has inputs [${Object.keys(signature.inputs).join(', ')}] besides the serialized tf.Examples in '${alias}'; flowserve parses examples only for a signature whose one input they are`,
    );
  }
  return {
    alias,
    node: node.name as string,
    features: denseFeatures(byName, node, `${where}: node '${node.name}' (${node.op})`),
  };
}

/** `ref` followed back through Identity-like nodes to the tensor it copies, as `node:index`. */
export function identitySource(byName: ReadonlyMap<string, NodeDefMsg>, ref: string): string {
  let current = parseTensorRef(ref);
  for (let hops = 0; hops < byName.size; hops++) {
    const node = byName.get(current.node);
    if (!node || (node.op !== 'Identity' && node.op !== 'Snapshot') || !node.input?.[0]) break;
    current = parseTensorRef(node.input[0]);
  }
  return `${current.node}:${current.index}`;
}

function denseFeatures(
  byName: ReadonlyMap<string, NodeDefMsg>,
  node: NodeDefMsg,
  where: string,
): ImportedDenseFeature[] {
  const attr = (key: string) => {
    const value = node.attr?.[key];
    return value ? attrValueOfTf(value, `${where} attr '${key}'`) : undefined;
  };
  const inputs = (node.input ?? []).filter((ref) => !ref.startsWith('^'));
  const dtypes = (attr('Tdense') ?? []) as (DType | string)[];
  const shapes = (attr('dense_shapes') ?? []) as ((number | null)[] | undefined)[];
  let keys: string[];
  let defaultRefs: string[];
  if (node.op === 'ParseExample') {
    const nsparse = Number(attr('Nsparse') ?? 0);
    const ndense = Number(attr('Ndense') ?? dtypes.length);
    if (nsparse > 0)
      throw sparseError(
        where,
        inputs.slice(2, 2 + nsparse).map((r) => scalarString(byName, r, where)),
      );
    keys = inputs.slice(2, 2 + ndense).map((ref) => scalarString(byName, ref, where));
    defaultRefs = inputs.slice(2 + ndense, 2 + 2 * ndense);
  } else {
    const sparseKeys = constStrings(byName, inputs[2] ?? '', where);
    if (sparseKeys.length > 0) throw sparseError(where, sparseKeys);
    const raggedKeys = constStrings(byName, inputs[4] ?? '', where);
    if (raggedKeys.length > 0) {
      throw new Unimplemented(
        `${where} parses ragged features [${raggedKeys.join(', ')}]; flowserve parses only dense (FixedLenFeature) features`,
      );
    }
    keys = constStrings(byName, inputs[3] ?? '', where);
    defaultRefs = inputs.slice(5, 5 + keys.length);
  }
  if (keys.length !== dtypes.length || keys.length !== shapes.length || keys.length !== defaultRefs.length) {
    throw new InvalidArgument(
      `${where}: ${keys.length} dense keys but ${dtypes.length} Tdense, ${shapes.length} dense_shapes and ${defaultRefs.length} dense_defaults`,
    );
  }
  return keys.map((key, k) => {
    const dtype = dtypes[k] as string;
    if (dtype !== 'float32' && dtype !== 'int64' && dtype !== 'string') {
      throw new InvalidArgument(
        `${where}: dense feature '${key}' has dtype ${dtype}; tf.Example holds float, int64 or bytes`,
      );
    }
    const shape = shapes[k];
    if (!shape || shape.some((d) => d === null)) {
      throw new Unimplemented(
        `${where}: dense feature '${key}' has shape ${shape ? `[${shape.map((d) => d ?? -1).join(',')}]` : 'of unknown rank'}; flowserve parses only fixed shapes (FixedLenFeature, not FixedLenSequenceFeature)`,
      );
    }
    const dims = shape as number[];
    const defaults = constValue(byName, defaultRefs[k] as string, where);
    const size = dims.reduce((a, b) => a * b, 1);
    if (defaults.size !== 0 && defaults.size !== size) {
      throw new InvalidArgument(
        `${where}: the default of dense feature '${key}' has ${defaults.size} values but its shape [${dims.join(',')}] needs ${size}`,
      );
    }
    return {
      key,
      output: `${node.name}:${k}`,
      dtype,
      shape: dims,
      ...(defaults.size === 0 ? {} : { defaultValue: defaults }),
    };
  });
}

function sparseError(where: string, keys: string[]): Unimplemented {
  return new Unimplemented(
    `${where} parses sparse features [${keys.join(', ')}] (VarLenFeature/SparseFeature); flowserve parses only dense (FixedLenFeature) features`,
  );
}

/** The constant behind `ref`, through value-preserving ops (TF builds defaults as Reshape(Const)). */
function constValue(byName: ReadonlyMap<string, NodeDefMsg>, ref: string, where: string): HostTensor {
  let name = parseTensorRef(ref).node;
  for (let hops = 0; hops <= byName.size; hops++) {
    const node = byName.get(name);
    if (!node) throw new InvalidArgument(`${where} reads '${ref}', which is not in the graph`);
    if (node.op === 'Const') {
      const value = node.attr?.value;
      if (!value) throw new InvalidArgument(`${where}: Const '${name}' has no value`);
      return attrValueOfTf(value, `${where}: Const '${name}'`) as HostTensor;
    }
    if (!VALUE_PRESERVING_OPS.has(node.op ?? '') || !node.input?.[0]) break;
    name = parseTensorRef(node.input[0]).node;
  }
  throw new Unimplemented(
    `${where} reads '${ref}', which is not a constant; flowserve needs constant keys and defaults`,
  );
}

function constStrings(byName: ReadonlyMap<string, NodeDefMsg>, ref: string, where: string): string[] {
  const value = constValue(byName, ref, where);
  if (value.dtype !== 'string')
    throw new InvalidArgument(`${where}: '${ref}' is ${value.dtype}, not a string constant`);
  // Feature keys are proto `string`s (UTF-8), the keys of tf.Example's feature map.
  return (value.data as Uint8Array[]).map((bytes) => {
    const text = utf8Text(bytes);
    if (text === undefined) throw new InvalidArgument(`${where}: '${ref}' holds a key that is not UTF-8 text`);
    return text;
  });
}

function scalarString(byName: ReadonlyMap<string, NodeDefMsg>, ref: string, where: string): string {
  const values = constStrings(byName, ref, where);
  if (values.length !== 1) throw new InvalidArgument(`${where}: key '${ref}' holds ${values.length} strings, not one`);
  return values[0] as string;
}
