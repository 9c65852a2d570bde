/**
 * What both gRPC clients (TF Serving's API and the Open Inference Protocol) share: a channel with unlimited message
 * sizes (TF Serving's and Triton's servers allow INT32_MAX), and one unary call whose server errors become
 * ServingClientError with the gRPC code and the server's message.
 */
import { Client, credentials, Metadata, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { ServingClientError, type CallOptions } from './types.js';

export type AnyMethod = MethodDefinition<object, object>;

export interface ChannelOptions {
  /** Largest response accepted; default unlimited. */
  maxReceiveMessageBytes?: number;
  /** Channel credentials (TLS/mTLS); default plaintext. */
  credentials?: ChannelCredentials;
}

export function openChannel(address: string, options: ChannelOptions): Client {
  // -1 is grpc-js's "unlimited".
  return new Client(address, options.credentials ?? credentials.createInsecure(), {
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? -1,
    'grpc.max_send_message_length': -1,
  });
}

/** One unary call of `method` (undefined: a method the service does not have, named in the error). */
export function unaryCall<Res>(
  client: Client,
  method: AnyMethod | undefined,
  methodName: string,
  request: object,
  authToken: string | undefined,
  options: CallOptions = {},
): Promise<Res> {
  if (!method) return Promise.reject(new Error(`unknown method ${methodName}`));
  const metadata = new Metadata();
  if (authToken !== undefined) metadata.set('authorization', `Bearer ${authToken}`);
  const callOptions = options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      metadata,
      callOptions,
      (err: ServiceError | null, response?: object) => {
        if (err) reject(new ServingClientError(err.details, err.code));
        else resolve(response as Res);
      },
    );
  });
}
