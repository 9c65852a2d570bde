import assert from 'node:assert/strict';
import { it } from 'node:test';
import { formatNested, runPlacementDemo } from '../../src/cli/demo-placement.js';
import { resetGpuProbe } from '../../src/devices/webgpu.js';

const CPU0 = '/job:localhost/replica:0/task:0/device:CPU:0';

it("`flowserve demo placement` prints the chapter's examples (CPU-only machine)", async () => {
  const saved = process.env.FLOWSERVE_DISABLE_GPU;
  process.env.FLOWSERVE_DISABLE_GPU = '1';
  resetGpuProbe();
  const lines: string[] = [];
  try {
    await runPlacementDemo((l) => lines.push(l));
  } finally {
    if (saved === undefined) delete process.env.FLOWSERVE_DISABLE_GPU;
    else process.env.FLOWSERVE_DISABLE_GPU = saved;
    resetGpuProbe();
  }
  const count = (line: string) => lines.filter((l) => l === line).length;
  assert.equal(count('Device mapping: no known devices.'), 4);
  assert.equal(count(`MatMul: (MatMul): ${CPU0}`), 3);
  assert.equal(count(`a: (Const): ${CPU0}`), 3);
  assert.equal(count(`b: (Const): ${CPU0}`), 3);
  assert.equal(count('[[22, 28], [49, 64]]'), 3);
  assert.equal(count(`Soft placement: op 'MatMul' requested /device:GPU:1, placed on ${CPU0}`), 1);
  const error = lines.find((l) => l.startsWith('InvalidArgument: '));
  assert.equal(
    error,
    `InvalidArgument: Cannot assign a device for operation MatMul: node MatMul was explicitly assigned to /device:GPU:1 but available devices are [ ${CPU0} ]. Make sure the device specification refers to a valid device. The requested device appears to be a GPU, but GPU discovery is disabled (FLOWSERVE_DISABLE_GPU=1).`,
  );
  // Order inside example 1: mapping, MatMul, then the generators a and b (second pass), then the result.
  assert.deepEqual(lines.slice(1, 6), [
    'Device mapping: no known devices.',
    `MatMul: (MatMul): ${CPU0}`,
    `a: (Const): ${CPU0}`,
    `b: (Const): ${CPU0}`,
    '[[22, 28], [49, 64]]',
  ]);
});

it('formats results like the chapter', () => {
  assert.equal(
    formatNested([
      [22, 28],
      [49, 64],
    ]),
    '[[22, 28], [49, 64]]',
  );
  assert.equal(formatNested(2.5), '2.5');
});
