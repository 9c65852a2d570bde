/** --saved_model_tags: parsed as TF Serving splits it, and handed to the serving core. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildCoreOptions } from '../../../src/serving/config/core-options.js';
import { parseServerFlags } from '../../../src/serving/config/flags.js';

describe('--saved_model_tags', () => {
  it('defaults to serve and reaches the core as a tag list', async () => {
    const defaults = parseServerFlags(['--model_base_path=/models/x']);
    assert.deepEqual((await buildCoreOptions(defaults)).savedModelTags, ['serve']);
    const flags = parseServerFlags(['--model_base_path=/models/x', '--saved_model_tags=serve, gpu']);
    assert.deepEqual((await buildCoreOptions(flags)).savedModelTags, ['serve', 'gpu']);
  });

  it('refuses an empty tag, naming the flag and the value', () => {
    assert.throws(
      () => parseServerFlags(['--model_base_path=/models/x', '--saved_model_tags=serve,,gpu']),
      /invalid value for --saved_model_tags: 'serve,,gpu'/,
    );
  });
});
