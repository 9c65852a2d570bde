/** SignatureDefMap (as decoded from GetModelMetadata) → the client's signature summary. */
import { dtypeFromTf } from '../graph/dtype.js';
import type { SignatureDefMapMsg, TensorInfoMsg } from '../serving/apis/shared/proto-types.js';
import type { TensorSpec } from '../serving/core/types.js';
import type { ModelMetadata } from './types.js';

function tensorSpecs(infos: Record<string, TensorInfoMsg>): Record<string, TensorSpec> {
  return Object.fromEntries(
    Object.entries(infos).map(([alias, info]) => [
      alias,
      {
        name: info.name ?? '',
        dtype: dtypeFromTf(info.dtype ?? 0) ?? 'float32',
        shape: (info.tensor_shape?.dim ?? []).map((d) => Number(d.size ?? -1)),
      },
    ]),
  );
}

export function signaturesFromDefs(map: SignatureDefMapMsg): ModelMetadata['signatures'] {
  const out: ModelMetadata['signatures'] = {};
  for (const [name, def] of Object.entries(map.signature_def ?? {})) {
    out[name] = {
      method: def.method_name ?? '',
      inputs: tensorSpecs(def.inputs ?? {}),
      outputs: tensorSpecs(def.outputs ?? {}),
    };
  }
  return out;
}
