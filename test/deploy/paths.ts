/** Where the deploy tests find the repository and the shared fixtures (from test/ and from dist/test/ alike). */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('no package.json above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

export const REPOSITORY_ROOT = repositoryRoot();

/** ../shared/fixtures/kserve beside the repository: KServe's CRDs and its TF Serving / Triton runtimes. */
export const KSERVE_FIXTURES = resolve(REPOSITORY_ROOT, '..', 'shared', 'fixtures', 'kserve');
