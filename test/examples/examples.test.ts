/** Every file in examples/ is a config the server accepts, parsed by the parser of its kind. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import {
  parseBatchingParameters,
  parseModelServerConfig,
  parseMonitoringConfig,
} from '../../src/serving/config/index.js';

// Tests run from dist/test/examples/: the repository's examples/ is three folders up.
const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

/** File name → the parser --flag would use on it. */
const PARSERS: readonly { pattern: RegExp; parse: (text: string, file: string) => unknown }[] = [
  { pattern: /^batching.*\.txt$/, parse: (text, file) => parseBatchingParameters(text, file) },
  { pattern: /^monitoring.*\.txt$/, parse: (text, file) => parseMonitoringConfig(text, file) },
  { pattern: /\.config$/, parse: (text, file) => parseModelServerConfig(text, file, { baseDir: dirname(file) }) },
];

describe('examples/', () => {
  const files = readdirSync(EXAMPLES);

  it('holds the batching file the README serves with', () => {
    assert.ok(files.includes('batching.txt'), files.join(', '));
  });

  for (const name of files) {
    it(`${name} parses`, () => {
      const parser = PARSERS.find((p) => p.pattern.test(name));
      assert.ok(parser, `no parser for examples/${name}: name it batching*.txt, monitoring*.txt or *.config`);
      const file = join(EXAMPLES, name);
      parser.parse(readFileSync(file, 'utf8'), file);
    });
  }

  it('models.config points at the folder npm run demo exports to', () => {
    const file = join(EXAMPLES, 'models.config');
    const config = parseModelServerConfig(readFileSync(file, 'utf8'), file, { baseDir: dirname(file) });
    assert.equal(config.models[0]?.basePath, join(EXAMPLES, '..', 'models', 'mnist'));
  });

  it('the batching example caps batches at 128 and waits at most 1 ms to fill one', () => {
    const file = join(EXAMPLES, 'batching.txt');
    const parameters = parseBatchingParameters(readFileSync(file, 'utf8'), file);
    assert.equal(parameters.maxBatchSize, 128);
    assert.equal(parameters.batchTimeoutMicros, 1000);
  });
});
