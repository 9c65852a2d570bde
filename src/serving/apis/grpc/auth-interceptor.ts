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

export function bearerTokenInterceptor(token: BearerToken): ServerInterceptor {
  return (method, call) => {
    const open = OPEN_METHODS.includes(method.path) || OPEN_SERVICE_PREFIXES.some((p) => method.path.startsWith(p));
    if (open) return new ServerInterceptingCall(call);
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
