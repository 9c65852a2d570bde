/** The servable's signatures as TensorFlow SignatureDefs (GetModelMetadata, gRPC and REST). */
import type { ServableInfo, Signature, TensorSpec } from '../../core/types.js';
import type { SignatureDefMapMsg, SignatureDefMsg, TensorInfoMsg } from './proto-types.js';
import { shapeToProto, tfDtypeCode } from './tensor-proto.js';

function tensorInfo(spec: TensorSpec): TensorInfoMsg {
  const tensorShape = spec.unknownRank ? { dim: [], unknown_rank: true } : shapeToProto(spec.shape);
  return { name: spec.name, dtype: tfDtypeCode(spec.dtype), tensor_shape: tensorShape };
}

function mapValues<T, U>(record: Record<string, T>, f: (v: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, f(v)]));
}

export function signatureDef(signature: Signature): SignatureDefMsg {
  return {
    inputs: mapValues(signature.inputs, tensorInfo),
    outputs: mapValues(signature.outputs, tensorInfo),
    method_name: signature.method,
    defaults: {},
  };
}

export function signatureDefMap(info: ServableInfo): SignatureDefMapMsg {
  return { signature_def: mapValues(info.signatures, signatureDef) };
}
