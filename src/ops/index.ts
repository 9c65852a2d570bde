export { constant, toTensor, type TensorLike, type ConstantOptions } from './convert.js';
export { placeholder, noOp, group, identity, stopGradient } from './source.js';
export {
  Variable,
  assign,
  assignAdd,
  assignSub,
  globalVariables,
  trainableVariables,
  globalVariablesInitializer,
  variablesInitializer,
} from './variables.js';
export * from './math.js';
export * from './array.js';
export * from './random.js';
export * from './reduce.js';
export * from './nn.js';
export * from './losses.js';
export * from './activations.js';
export * from './depthwise-conv.js';
export * from './pad.js';
export * from './batch-norm.js';
export * from './batch-matmul.js';
export * from './pack.js';
export * from './strided-slice.js';
export * from './resize.js';
