/** The one place where errors become gRPC statuses: TF code → same gRPC code, message truncated as TF Serving does. */
import type { StatusObject } from '@grpc/grpc-js';
import { clientMessage, toFlowserveError } from '../../../errors.js';

export function toGrpcStatus(err: unknown): Pick<StatusObject, 'code' | 'details'> {
  const error = toFlowserveError(err);
  return { code: error.grpcCode, details: clientMessage(error) };
}
