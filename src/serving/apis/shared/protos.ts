/**
 * Loads the project's own .proto files (proto/) once: a @grpc/proto-loader package definition for grpc-js, and a
 * protobufjs Root for messages that travel inside `google.protobuf.Any` (GetModelMetadata's SignatureDefMap).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

export const SERVICE_PROTO_FILES = [
  'tensorflow_serving/apis/prediction_service.proto',
  'tensorflow_serving/apis/model_service.proto',
  'grpc/health/v1/health.proto',
  'inference/grpc_service.proto',
];

/** What the protobufjs Root loads besides the services: messages that never travel over gRPC. */
export const MESSAGE_PROTO_FILES = ['tensorflow_serving/apis/prediction_log.proto'];

/** The folder holding proto/, found by walking up from this module (works from src/ and from dist/src/). */
export function protoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'tensorflow_serving'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the proto/ folder above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/**
 * keepCase: field names as on the wire (snake_case, like TF Serving's JSON); longs as strings so int64 never loses
 * precision; enums as numbers; bytes stay Buffers; absent fields stay undefined (defaults: false) so presence can
 * be told apart (ModelSpec.version {value: 0} is "version 0"); oneofs: true adds the virtual oneof name field.
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  defaults: false,
  arrays: true,
  oneofs: true,
  includeDirs: [],
};

let packageDefinition: protoLoader.PackageDefinition | undefined;

export function loadServicePackageDefinition(): protoLoader.PackageDefinition {
  packageDefinition ??= protoLoader.loadSync(SERVICE_PROTO_FILES, { ...LOADER_OPTIONS, includeDirs: [protoRoot()] });
  return packageDefinition;
}

let root: protobuf.Root | undefined;

/**
 * protobufjs Root of the same files plus MESSAGE_PROTO_FILES, for encoding/decoding Any payloads and the
 * PredictionLog records of TF Serving's warmup file.
 */
export function protobufRoot(): protobuf.Root {
  if (!root) {
    const dir = protoRoot();
    const r = new protobuf.Root();
    // google/protobuf/* resolve to protobufjs' bundled copies (it matches on the "google/protobuf/" suffix).
    r.resolvePath = (_origin, target) => join(dir, target);
    r.loadSync([...SERVICE_PROTO_FILES, ...MESSAGE_PROTO_FILES], { keepCase: true });
    root = r;
  }
  return root;
}

export const SIGNATURE_DEF_MAP_TYPE_URL = 'type.googleapis.com/tensorflow.serving.SignatureDefMap';
