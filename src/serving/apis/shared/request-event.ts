/** What an adapter reports about each finished request, for the metrics module (request_count, latency). */
export interface RequestEvent {
  /** Model name from the request; '' when the request named none. */
  model: string;
  /** Version that served the request, when one did. */
  version?: number;
  /** gRPC method name (`Predict`, `Classify`, …) or REST verb (`predict`, `classify`, `regress`, '' for GETs). */
  api: string;
  entrypoint: 'GRPC' | 'REST';
  /** Which API family: TF Serving's (v1, the default) or the Open Inference Protocol's (v2). */
  protocol?: 'v1' | 'v2';
  /** TensorFlow error code name, `OK` on success. */
  status: string;
  latencySeconds: number;
}

export type RequestObserver = (event: RequestEvent) => void;
