/**
 * A GraphDef node's attrs (AttrValue) as plain JavaScript values: type → DType, shape → Shape (undefined for
 * unknown rank), tensor → HostTensor, s → string, i → number, list → arrays, func → {name, attr}.
 */
import { InvalidArgument } from '../errors.js';
import type { DType } from '../graph/dtype.js';
import type { HostTensor } from '../graph/host-tensor.js';
import type { Dim } from '../graph/shape.js';
import type { AttrValueMsg } from './tf-messages.js';
import { dtypeOfTf, hostTensorOfTf, shapeOfTf } from './tf-tensor.js';

export type TfAttrValue =
  | string
  | number
  | boolean
  | DType
  | Dim[]
  | HostTensor
  | { func: string }
  | (string | number | boolean | Dim[] | HostTensor | { func: string } | undefined)[]
  | undefined;

/** Converts one attr; `what` (`node 'x' attr 'dtype'`) names it in errors. */
export function attrValueOfTf(value: AttrValueMsg, what: string): TfAttrValue {
  switch (value.value) {
    case 's':
      return Buffer.from(value.s ?? new Uint8Array()).toString('utf8');
    case 'i':
      return Number(value.i ?? 0);
    case 'f':
      return value.f ?? 0;
    case 'b':
      return value.b ?? false;
    case 'type':
      return dtypeOrCode(value.type, what);
    case 'shape':
      return shapeOfTf(value.shape);
    case 'tensor':
      return hostTensorOfTf(value.tensor ?? {}, what);
    case 'func':
      return { func: value.func?.name ?? '' };
    case 'placeholder':
      throw new InvalidArgument(`${what}: attr placeholder '${value.placeholder}' was not substituted`);
    case 'list': {
      const l = value.list ?? {};
      if (l.s?.length) return l.s.map((s) => Buffer.from(s).toString('utf8'));
      if (l.i?.length) return l.i.map(Number);
      if (l.f?.length) return [...l.f];
      if (l.b?.length) return [...l.b];
      if (l.type?.length) return l.type.map((t) => dtypeOrCode(t, what));
      if (l.shape?.length) return l.shape.map((s) => shapeOfTf(s));
      if (l.tensor?.length) return l.tensor.map((t) => hostTensorOfTf(t, what));
      if (l.func?.length) return l.func.map((f) => ({ func: f.name ?? '' }));
      return [];
    }
    default:
      return undefined;
  }
}

/** DType when flowserve has it, else TF's DataType name (DT_RESOURCE, DT_VARIANT…), so attrs still describe it. */
function dtypeOrCode(code: number | undefined, what: string): string {
  try {
    return dtypeOfTf(code, what);
  } catch {
    return `DataType(${code ?? 0})`;
  }
}

/** Every attr of a node, converted; attrs TF adds for its own bookkeeping (`_class`, `_output_shapes`) kept. */
export function attrsOfTf(
  attr: Record<string, AttrValueMsg> | undefined,
  nodeName: string,
): Record<string, TfAttrValue> {
  const out: Record<string, TfAttrValue> = {};
  for (const [key, value] of Object.entries(attr ?? {}))
    out[key] = attrValueOfTf(value, `node '${nodeName}' attr '${key}'`);
  return out;
}
