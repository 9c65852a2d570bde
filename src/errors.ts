/**
 * One error hierarchy for the whole project. Each class maps once to a gRPC status code and an HTTP status
 * (TensorFlow Serving's mapping, spec/tf-serving-api.md); API adapters translate errors in one place.
 */
export class FlowserveError extends Error {
  /** gRPC status code (grpc/status.h). */
  readonly grpcCode: number = 2;
  /** HTTP status used by the REST adapter. */
  readonly httpStatus: number = 500;
  /** TensorFlow Serving's error code name, e.g. INVALID_ARGUMENT. */
  readonly codeName: string = 'UNKNOWN';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

function errorClass(codeName: string, grpcCode: number, httpStatus: number) {
  return class extends FlowserveError {
    override readonly grpcCode = grpcCode;
    override readonly httpStatus = httpStatus;
    override readonly codeName = codeName;
  };
}

export class Cancelled extends errorClass('CANCELLED', 1, 499) {}
export class Unknown extends errorClass('UNKNOWN', 2, 500) {}
export class InvalidArgument extends errorClass('INVALID_ARGUMENT', 3, 400) {}
export class DeadlineExceeded extends errorClass('DEADLINE_EXCEEDED', 4, 504) {}
export class NotFound extends errorClass('NOT_FOUND', 5, 404) {}
export class AlreadyExists extends errorClass('ALREADY_EXISTS', 6, 409) {}
export class PermissionDenied extends errorClass('PERMISSION_DENIED', 7, 403) {}
export class ResourceExhausted extends errorClass('RESOURCE_EXHAUSTED', 8, 429) {}
/** A request over a size limit: RESOURCE_EXHAUSTED on gRPC (as grpc-js's own message limit), 413 on HTTP. */
export class PayloadTooLarge extends errorClass('RESOURCE_EXHAUSTED', 8, 413) {}
export class FailedPrecondition extends errorClass('FAILED_PRECONDITION', 9, 400) {}
export class Aborted extends errorClass('ABORTED', 10, 409) {}
export class OutOfRange extends errorClass('OUT_OF_RANGE', 11, 400) {}
export class Unimplemented extends errorClass('UNIMPLEMENTED', 12, 501) {}
export class Internal extends errorClass('INTERNAL', 13, 500) {}
export class Unavailable extends errorClass('UNAVAILABLE', 14, 503) {}
export class DataLoss extends errorClass('DATA_LOSS', 15, 500) {}
export class Unauthenticated extends errorClass('UNAUTHENTICATED', 16, 401) {}

/** Wraps anything thrown into a FlowserveError, keeping it when it already is one. */
export function toFlowserveError(err: unknown): FlowserveError {
  if (err instanceof FlowserveError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new Unknown(message, { cause: err });
}

/** TF Serving's grpc_status_util.cc: messages longer than 1024 characters are cut and marked. */
export const MAX_ERROR_MESSAGE_CHARS = 1024;

/** A UTF-16 surrogate without its other half. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * The message a client sees, on either protocol: cut to MAX_ERROR_MESSAGE_CHARS, so no error echoes a whole input,
 * and well-formed Unicode. Messages quote client-sent names, which can hold lone surrogates (or a cut can split a
 * pair); grpc-js percent-encodes the status message with encodeURI, which throws on them outside any handler, and
 * that took the whole server down (found by `npm run soak`). Lone surrogates become U+FFFD.
 */
export function clientMessage(error: FlowserveError): string {
  let message = error.message;
  if (message.length > MAX_ERROR_MESSAGE_CHARS) {
    message = message.slice(0, MAX_ERROR_MESSAGE_CHARS) + '...TRUNCATED';
  }
  return wellFormed(message);
}

/** `text` with lone surrogates replaced by U+FFFD: safe for grpc-js status messages (encodeURI) and UTF-8. */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\ufffd');
}
