/**
 * The protobufjs messages that TensorFlow's model files are made of (proto/tensorflow/core/..., and TF Serving's
 * legacy session_bundle manifest), loaded once. Decoded with keepCase (snake_case fields as in the .proto files),
 * int64 as strings, bytes as Buffers.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const IMPORT_PROTO_FILES = [
  'tensorflow/core/protobuf/saved_model.proto',
  'tensorflow/core/framework/graph.proto',
  'tensorflow_serving/session_bundle/manifest.proto',
];

/** proto/ above this module (works from src/ and from dist/src/). */
function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'tensorflow', 'core'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the proto/ folder above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

let root: protobuf.Root | undefined;

function importRoot(): protobuf.Root {
  if (!root) {
    const dir = protoDir();
    const r = new protobuf.Root();
    // google/protobuf/* resolve to protobufjs' bundled copies (it matches on the "google/protobuf/" suffix).
    r.resolvePath = (_origin, target) => join(dir, target);
    r.loadSync(IMPORT_PROTO_FILES, { keepCase: true });
    root = r;
  }
  return root;
}

const CONVERSION: protobuf.IConversionOptions = {
  longs: String,
  enums: Number,
  bytes: Buffer,
  defaults: false,
  arrays: true,
  oneofs: true,
};

/** The reflected message type `typeName` with snake_case field names, as the .proto files (and text format) spell them. */
export function importMessageType(typeName: string): protobuf.Type {
  return importRoot().lookupType(typeName);
}

/** Decodes `bytes` as the message `typeName` (e.g. `tensorflow.SavedModel`) into a plain object. */
export function decodeMessage<T>(typeName: string, bytes: Uint8Array): T {
  const type = importRoot().lookupType(typeName);
  return type.toObject(type.decode(bytes), CONVERSION) as T;
}

let jsonRoot: protobuf.Root | undefined;

/** The same messages with protobufjs' default lowerCamelCase field names, as TF's JSON form spells them. */
function jsonMessageRoot(): protobuf.Root {
  if (!jsonRoot) {
    const dir = protoDir();
    const r = new protobuf.Root();
    r.resolvePath = (_origin, target) => join(dir, target);
    r.loadSync(IMPORT_PROTO_FILES);
    jsonRoot = r;
  }
  return jsonRoot;
}

/**
 * A message given in protobuf's JSON mapping (lowerCamelCase fields, enum names like `DT_FLOAT`, base64 bytes,
 * int64 as strings), as TF.js's model.json holds a GraphDef, → the same plain object decodeMessage gives for
 * its binary form. It goes through the binary encoding so every reader sees one shape of message.
 * Throws TypeError when a field has the wrong JSON type (an object where a list belongs, …).
 */
export function messageFromJson<T>(typeName: string, json: unknown): T {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new TypeError(`${typeName} must be a JSON object`);
  }
  const type = jsonMessageRoot().lookupType(typeName);
  return decodeMessage<T>(typeName, type.encode(type.fromObject(json as Record<string, unknown>)).finish());
}
