/**
 * The gRPC edge of --auth_token_file: a server interceptor checks the `authorization` metadata before any request
 * message is read or decoded, so an unauthenticated client cannot make the server parse a large body. Health checks
 * stay open for load balancers and orchestrators: grpc.health.v1.Health, and the Open Inference Protocol's
 * ServerLive and ServerReady (as REST's /v2/health/live and /ready).
 */
import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import type { BearerToken } from '../security/bearer-token.js';
import { toGrpcStatus } from './status.js';

const OPEN_SERVICE_PREFIXES = ['/grpc.health.v1.Health/'];
const OPEN_METHODS = ['/inference.GRPCInferenceService/ServerLive', '/inference.GRPCInferenceService/ServerReady'];

/** Whether `path` is a health check, answered without a token. */
export function isOpenToAll(path: string): boolean {
  return OPEN_METHODS.includes(path) || OPEN_SERVICE_PREFIXES.some((p) => path.startsWith(p));
}

export function bearerTokenInterceptor(token: BearerToken): ServerInterceptor {
  return (method, call) => {
    if (isOpenToAll(method.path)) return new ServerInterceptingCall(call);
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
