/** The version the CLI prints: package.json's, read once, so a release bumps it in one place. */
import { readFileSync } from 'node:fs';

// The CLI runs compiled, from dist/src/cli/: the package root is three folders up.
const packageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export const FLOWSERVE_VERSION = packageJson.version;
