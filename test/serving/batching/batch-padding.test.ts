import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgument } from '../../../src/errors.js';
import { padsToAllowedSizes, parseBatchPadding } from '../../../src/serving/config/batching-parameters.js';
import { buildCoreOptions } from '../../../src/serving/config/core-options.js';
import { parseServerFlags } from '../../../src/serving/config/flags.js';

describe('--batch_padding', () => {
  it('pads to allowed_batch_sizes only on the GPU by default, on every device with always', () => {
    assert.equal(padsToAllowedSizes({}, 'cpu'), false);
    assert.equal(padsToAllowedSizes({ padding: 'auto' }, 'cpu'), false);
    assert.equal(padsToAllowedSizes({ padding: 'auto' }, 'gpu'), true);
    assert.equal(padsToAllowedSizes({ padding: 'always' }, 'cpu'), true);
    assert.equal(padsToAllowedSizes({ padding: 'always' }, 'gpu'), true);
  });

  it('reaches the batching options, auto by default', async () => {
    const batching = async (...argv: string[]) =>
      (await buildCoreOptions(parseServerFlags(['--model_base_path=/m', '--enable_batching', ...argv]))).batching;
    assert.equal((await batching())?.padding, 'auto');
    assert.equal((await batching('--batch_padding=always'))?.padding, 'always');
    assert.equal((await batching('--batch_padding=ALWAYS'))?.padding, 'always');
  });

  it('refuses other values, naming the flag and the values it takes', async () => {
    assert.throws(() => parseBatchPadding('never'), InvalidArgument);
    await assert.rejects(
      buildCoreOptions(parseServerFlags(['--model_base_path=/m', '--batch_padding=pad'])),
      /invalid value for --batch_padding: 'pad' \(expected auto or always\)/,
    );
  });
});
