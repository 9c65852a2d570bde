/**
 * The gRPC edge of --auth_token_file: a server interceptor checks the `authorization` metadata before any request
 * message is read or decoded, so an unauthenticated client cannot make the server parse a large body. Health checks
 * (grpc.health.v1.Health) stay open for load balancers and orchestrators.
 */
import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import type { BearerToken } from '../security/bearer-token.js';
import { toGrpcStatus } from './status.js';

const OPEN_SERVICE_PREFIXES = ['/grpc.health.v1.Health/'];

export function bearerTokenInterceptor(token: BearerToken): ServerInterceptor {
  return (method, call) => {
    if (OPEN_SERVICE_PREFIXES.some((prefix) => method.path.startsWith(prefix))) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, passOn) => {
            const value = metadata.get('authorization')[0];
            try {
              token.verify(typeof value === 'string' ? value : value?.toString('latin1'));
            } catch (err) {
              call.sendStatus(toGrpcStatus(err));
              return;
            }
            passOn(metadata);
          },
        });
      },
    });
  };
}
