/**
 * Counter SavedModels written in the test, in the shapes TensorFlow writes them (TF Serving's own stateful fixture,
 * saved_model_counter, is not in ../shared/fixtures):
 * - TF1, a ref variable: `counter` (float scalar, 5 in the checkpoint), signatures `increment` (AssignAdd of 1,
 *   returning the counter read under a control dependency on it), `increment_by` (AssignAdd of the input `delta`,
 *   returning the AssignAdd's own output), `reset` (Assign of 0), `read` (counter/read), and `add_each`, whose
 *   input has a batch dimension (it adds the sum of `deltas` and answers each delta plus the new counter).
 * - TF2, a resource variable behind StatefulPartitionedCall: `v` (10 in the checkpoint under TF2's object-graph
 *   key), signatures `increment` (a function doing AssignAddVariableOp then a ReadVariableOp ordered after it, as
 *   tf.function's automatic control dependencies write it) and `read`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataShardPath } from '../../src/import/tensor-bundle.js';
import { maskedCrc32c } from '../../src/import/masked-crc32c.js';
import { bundleEntry, bundleHeader, writeTable } from './table-writer.js';

const DT_FLOAT = 1;

const f32 = (v: number) => Buffer.from(new Float32Array([v]).buffer);

/** Writes `variables/variables.{index,data-00000-of-00001}` holding float scalars. */
export function writeScalarBundle(versionDir: string, values: Record<string, number>): void {
  const dir = join(versionDir, 'variables');
  mkdirSync(dir, { recursive: true });
  const prefix = join(dir, 'variables');
  const entries: [Buffer, Buffer][] = [[Buffer.alloc(0), bundleHeader()]];
  const data: Buffer[] = [];
  let offset = 0;
  for (const name of Object.keys(values).sort()) {
    const bytes = f32(values[name] as number);
    entries.push([
      Buffer.from(name),
      bundleEntry({ dtype: DT_FLOAT, dims: [], offset, size: 4, crc32c: maskedCrc32c(bytes) }),
    ]);
    data.push(bytes);
    offset += 4;
  }
  writeFileSync(`${prefix}.index`, writeTable(entries));
  writeFileSync(dataShardPath(prefix, 0, 1), Buffer.concat(data));
}

const float = 'attr { key: "T" value { type: DT_FLOAT } }';
const dtypeFloat = 'attr { key: "dtype" value { type: DT_FLOAT } }';
const scalarShape = 'attr { key: "shape" value { shape { } } }';
const constant = (name: string, v: number) =>
  `node { name: "${name}" op: "Const" ${dtypeFloat} attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { } float_val: ${v} } } } }`;

function signature(key: string, inputs: Record<string, string>, outputs: Record<string, string>): string {
  const info = (m: Record<string, string>, field: string) =>
    Object.entries(m)
      .map(([alias, name]) => `${field} { key: "${alias}" value { name: "${name}" dtype: DT_FLOAT tensor_shape { } } }`)
      .join(' ');
  return `signature_def { key: "${key}" value { ${info(inputs, 'inputs')} ${info(outputs, 'outputs')} method_name: "tensorflow/serving/predict" } }`;
}

function savedModel(tfVersion: string, body: string, signatures: string[], extra = ''): string {
  return `saved_model_schema_version: 1
meta_graphs {
  meta_info_def { tags: "serve" tensorflow_version: "${tfVersion}" }
  graph_def {
${body}
    versions { producer: 1645 }
  }
  ${signatures.join('\n  ')}
  ${extra}
}
`;
}

export const TF1_COUNTER_NODES = [
  `node { name: "counter" op: "VariableV2" ${dtypeFloat} ${scalarShape} }`,
  `node { name: "counter/read" op: "Identity" input: "counter" ${float} }`,
  constant('one', 1),
  constant('zero', 0),
  `node { name: "AssignAdd" op: "AssignAdd" input: ["counter", "one"] ${float} }`,
  `node { name: "incremented" op: "Identity" input: ["counter", "^AssignAdd"] ${float} }`,
  `node { name: "delta" op: "Placeholder" ${dtypeFloat} ${scalarShape} }`,
  `node { name: "AssignAdd_1" op: "AssignAdd" input: ["counter", "delta"] ${float} }`,
  `node { name: "Assign" op: "Assign" input: ["counter", "zero"] ${float} }`,
  // add_each: a batch of deltas [-1] adds its sum, and each answers delta + the new counter.
  `node { name: "deltas" op: "Placeholder" ${dtypeFloat} attr { key: "shape" value { shape { dim { size: -1 } } } } }`,
  `node { name: "axis" op: "Const" attr { key: "dtype" value { type: DT_INT32 } } attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape { dim { size: 1 } } int_val: 0 } } } }`,
  `node { name: "Sum" op: "Sum" input: ["deltas", "axis"] ${float} attr { key: "keep_dims" value { b: false } } }`,
  `node { name: "AssignAdd_2" op: "AssignAdd" input: ["counter", "Sum"] ${float} }`,
  `node { name: "each" op: "AddV2" input: ["deltas", "AssignAdd_2"] ${float} }`,
];

/** The TF1 counter model as saved_model.pbtxt text (its checkpoint: writeTf1Counter). */
export function tf1CounterText(extraNodes: string[] = [], extra = ''): string {
  return savedModel(
    '1.15.0',
    [...TF1_COUNTER_NODES, ...extraNodes].map((n) => `    ${n}`).join('\n'),
    [
      signature('increment', {}, { value: 'incremented:0' }),
      signature('increment_by', { delta: 'delta:0' }, { value: 'AssignAdd_1:0' }),
      signature('reset', {}, { value: 'Assign:0' }),
      signature('read', {}, { value: 'counter/read:0' }),
      `signature_def { key: "add_each" value { inputs { key: "deltas" value { name: "deltas:0" dtype: DT_FLOAT tensor_shape { dim { size: -1 } } } } outputs { key: "value" value { name: "each:0" dtype: DT_FLOAT tensor_shape { dim { size: -1 } } } } method_name: "tensorflow/serving/predict" } }`,
    ],
    extra,
  );
}

/** Writes the TF1 counter version (counter = `start` in the checkpoint) into `versionDir`. */
export function writeTf1Counter(versionDir: string, start = 5, text = tf1CounterText()): void {
  mkdirSync(versionDir, { recursive: true });
  writeFileSync(join(versionDir, 'saved_model.pbtxt'), text);
  writeScalarBundle(versionDir, { counter: start });
}

const resource = 'attr { key: "dtype" value { type: DT_FLOAT } }';

/** The TF2 form: a resource variable captured by the functions that StatefulPartitionedCall calls. */
export function tf2CounterText(): string {
  const body = [
    `node { name: "v" op: "VarHandleOp" ${dtypeFloat} ${scalarShape} attr { key: "shared_name" value { s: "v" } } }`,
    `node { name: "StatefulPartitionedCall" op: "StatefulPartitionedCall" input: "v" attr { key: "f" value { func { name: "__inference_increment_7" } } } }`,
    `node { name: "StatefulPartitionedCall_1" op: "StatefulPartitionedCall" input: "v" attr { key: "f" value { func { name: "__inference_read_9" } } } }`,
    `library {
      function {
        signature {
          name: "__inference_increment_7"
          input_arg { name: "resource" type: DT_RESOURCE }
          output_arg { name: "identity" type: DT_FLOAT }
          is_stateful: true
        }
        node_def { name: "add/y" op: "Const" ${dtypeFloat} attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { } float_val: 1 } } } }
        node_def { name: "AssignAddVariableOp" op: "AssignAddVariableOp" input: ["resource", "add/y:output:0"] ${resource} }
        node_def { name: "ReadVariableOp" op: "ReadVariableOp" input: ["resource", "^AssignAddVariableOp"] ${resource} }
        node_def { name: "Identity" op: "Identity" input: ["ReadVariableOp:value:0", "^AssignAddVariableOp"] ${float} }
        ret { key: "identity" value: "Identity:output:0" }
        control_ret { key: "AssignAddVariableOp" value: "AssignAddVariableOp" }
      }
      function {
        signature {
          name: "__inference_read_9"
          input_arg { name: "resource" type: DT_RESOURCE }
          output_arg { name: "identity" type: DT_FLOAT }
        }
        node_def { name: "ReadVariableOp" op: "ReadVariableOp" input: "resource" ${resource} }
        node_def { name: "Identity" op: "Identity" input: "ReadVariableOp:value:0" ${float} }
        ret { key: "identity" value: "Identity:output:0" }
      }
    }`,
  ];
  return savedModel('2.15.0', body.map((n) => `    ${n}`).join('\n'), [
    signature('increment', {}, { value: 'StatefulPartitionedCall:0' }),
    signature('read', {}, { value: 'StatefulPartitionedCall_1:0' }),
  ]);
}

/** Writes the TF2 counter version (v = `start` in the checkpoint, under its object-graph key). */
export function writeTf2Counter(versionDir: string, start = 10): void {
  mkdirSync(versionDir, { recursive: true });
  writeFileSync(join(versionDir, 'saved_model.pbtxt'), tf2CounterText());
  writeScalarBundle(versionDir, { 'v/.ATTRIBUTES/VARIABLE_VALUE': start });
}
