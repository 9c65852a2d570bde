/** The one place where errors become gRPC statuses: TF code → same gRPC code, message truncated as TF Serving does. */
import type { StatusObject } from '@grpc/grpc-js';
import { toFlowserveError } from '../../../errors.js';

/** grpc_status_util.cc: messages longer than 1024 characters are cut and marked. */
const MAX_MESSAGE_CHARS = 1024;

export function toGrpcStatus(err: unknown): Pick<StatusObject, 'code' | 'details'> {
  const error = toFlowserveError(err);
  const details =
    error.message.length > MAX_MESSAGE_CHARS
      ? error.message.slice(0, MAX_MESSAGE_CHARS) + '...TRUNCATED'
      : error.message;
  return { code: error.grpcCode, details };
}
