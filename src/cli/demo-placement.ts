import type { Command } from 'commander';
import { initDevices } from '../devices/webgpu.js';
import { FlowserveError } from '../errors.js';
import { Graph, withGraph, type Tensor } from '../graph/graph.js';
import type { NestedArray } from '../graph/host-tensor.js';
import { constant } from '../ops/convert.js';
import { matmul } from '../ops/math.js';
import { Session } from '../runtime/session.js';

/** Formats a nested array as the chapter shows results: `[[22, 28], [49, 64]]`. */
export function formatNested(value: NestedArray): string {
  if (Array.isArray(value)) return `[${value.map((v) => formatNested(v)).join(', ')}]`;
  return String(value);
}

/** The chapter's graph: a (2×3) times b (3×2). `pin` opens a device scope around a and b. */
function buildMatmul(g: Graph, pin?: { ab?: string; matmul?: string }): Tensor {
  return withGraph(g, () => {
    const make = () => ({
      a: constant([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], { shape: [2, 3], name: 'a' }),
      b: constant([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], { shape: [3, 2], name: 'b' }),
    });
    const { a, b } = pin?.ab ? g.device(pin.ab, make) : make();
    return pin?.matmul ? g.device(pin.matmul, () => matmul(a, b)) : matmul(a, b);
  });
}

async function runOnce(
  log: (line: string) => void,
  pin: { ab?: string; matmul?: string } | undefined,
  allowSoftPlacement: boolean,
): Promise<void> {
  const g = new Graph();
  const c = buildMatmul(g, pin);
  const sess = new Session(g, { logDevicePlacement: true, allowSoftPlacement, logger: log });
  try {
    const out = await sess.run(c);
    log(formatNested(out?.toArray() ?? []));
  } catch (err) {
    if (!(err instanceof FlowserveError)) throw err;
    log(`${err.name}: ${err.message}`);
  } finally {
    await sess.close();
  }
}

/**
 * The chapter's GPU examples end to end: (1) default placement with the device mapping, (2) a and b pinned to
 * /cpu:0, (3) MatMul requested on /gpu:1 with soft placement (fallback line and result) and without (the error).
 */
export async function runPlacementDemo(log: (line: string) => void = (l) => console.log(l)): Promise<void> {
  await initDevices();
  log('# 1. Default placement: sess = Session(config=ConfigProto(log_device_placement=True)); sess.run(c)');
  await runOnce(log, undefined, false);
  log('');
  log("# 2. with tf.device('/cpu:0'): a = ...; b = ...  (MatMul placed by default)");
  await runOnce(log, { ab: '/cpu:0' }, false);
  log('');
  log("# 3a. with tf.device('/gpu:1'): c = tf.matmul(a, b)  with allow_soft_placement=True");
  await runOnce(log, { matmul: '/gpu:1' }, true);
  log('');
  log('# 3b. the same without allow_soft_placement');
  await runOnce(log, { matmul: '/gpu:1' }, false);
}

/** Registers `flowserve demo placement` under the `demo` command. */
export function registerDemoPlacement(demoCommand: Command): Command {
  return demoCommand
    .command('placement')
    .description("the chapter's device-placement examples: default placement, tf.device('/cpu:0'), soft placement")
    .action(async () => {
      await runPlacementDemo();
    });
}
