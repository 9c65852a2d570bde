/**
 * Device types with kernels, as op definitions declare them. CPU runs every op (ONNX Runtime's CPU execution
 * provider); GPU (the WebGPU execution provider) is listed on the ops it can run.
 */
export const CPU_ONLY = ['CPU'] as const;
export const CPU_AND_GPU = ['CPU', 'GPU'] as const;
