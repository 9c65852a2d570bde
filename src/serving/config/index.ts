/** Server flags and protobuf text-format config files. */
export * from './batching-parameters.js';
export * from './core-options.js';
export * from './flags.js';
export * from './grpc-channel-arguments.js';
export * from './model-server-config.js';
export * from './model-server-config-object.js';
export * from './monitoring-config.js';
export * from './ssl-config.js';
export * from './text-format.js';
export * from './unsupported-flags.js';
