/**
 * grpc.health.v1.Health. TF Serving marks the bare names "ModelService" and "PredictionService" SERVING; the
 * fully-qualified names and "" (the whole server) are answered too. SERVING only while the core's readiness is
 * 'ready': NOT_SERVING before the initial models have settled (--wait_for_models=false) and from a shutdown signal on
 * (during --drain_delay_seconds too, while requests are still served).
 */
import {
  status as grpcStatus,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { wellFormed } from '../../../errors.js';

const SERVING = 1;
const NOT_SERVING = 2;

const KNOWN_SERVICES = new Set([
  '',
  'ModelService',
  'PredictionService',
  'tensorflow.serving.ModelService',
  'tensorflow.serving.PredictionService',
]);

interface HealthRequest {
  service?: string;
}

export interface HealthState {
  readonly serving: boolean;
}

export function healthService(state: HealthState): UntypedServiceImplementation {
  return {
    Check(
      call: ServerUnaryCall<HealthRequest, unknown>,
      callback: (err: { code: number; details: string } | null, res?: { status: number }) => void,
    ) {
      const service = call.request.service ?? '';
      if (!KNOWN_SERVICES.has(service)) {
        // Quoted from the client: cut, and lone surrogates replaced (grpc-js's encodeURI of the message throws on them).
        callback({ code: grpcStatus.NOT_FOUND, details: wellFormed(`unknown service: ${service.slice(0, 256)}`) });
        return;
      }
      callback(null, { status: state.serving ? SERVING : NOT_SERVING });
    },
    // Sends the current status once and ends, so open watches never hold up a graceful shutdown.
    Watch(call: ServerWritableStream<HealthRequest, { status: number }>) {
      const service = call.request.service ?? '';
      call.write({ status: KNOWN_SERVICES.has(service) ? (state.serving ? SERVING : NOT_SERVING) : 3 });
      call.end();
    },
  };
}
