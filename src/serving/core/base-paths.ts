/**
 * Where a model's versions may be read from, checked before a config is applied (at start-up, on a config-file
 * poll and on HandleReloadConfigRequest):
 *  1. Only local directories: a URL-scheme base path (s3://, gs://, hdfs://, file://, …) is UNIMPLEMENTED. Without
 *     this check such a path is accepted and the model stays empty forever (issue 9); object storage is a later
 *     storage layer's job.
 *  2. No control characters: a base path is printed in logs, and a `\n` in it would forge log lines.
 *  3. With --model_base_path_prefix, the path must resolve inside the prefix: path.resolve removes `..`, and the
 *     real path of its longest existing ancestor removes symlinks, so neither can step outside.
 */
import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InvalidArgument, Unimplemented } from '../../errors.js';
import type { ModelServerConfig } from '../config/model-server-config.js';
import { hasControlCharacters, quoteForMessage } from '../config/untrusted-text.js';

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

export async function checkBasePaths(config: ModelServerConfig, prefix?: string): Promise<void> {
  const realPrefix = prefix ? await realPrefixDir(prefix) : undefined;
  for (const model of config.models) {
    const path = model.basePath;
    const scheme = URL_SCHEME.exec(path);
    if (scheme) {
      throw new Unimplemented(
        `base_path ${quoteForMessage(path)} of model ${model.name} uses the ${scheme[0]} scheme: flowserve only ` +
          'serves models from local directories (object storage is not supported yet)',
      );
    }
    if (hasControlCharacters(path)) {
      throw new InvalidArgument(
        `base_path ${quoteForMessage(path)} of model ${model.name} contains control characters`,
      );
    }
    if (realPrefix !== undefined && prefix !== undefined) {
      const real = await realPathOfExistingPart(resolve(path));
      if (!isInside(real, realPrefix)) {
        throw new InvalidArgument(
          `base_path ${quoteForMessage(path)} of model ${model.name} resolves to ${quoteForMessage(real)}, ` +
            `outside --model_base_path_prefix=${quoteForMessage(prefix)}`,
        );
      }
    }
  }
}

async function realPrefixDir(prefix: string): Promise<string> {
  if (!isAbsolute(prefix)) {
    throw new InvalidArgument(`--model_base_path_prefix must be an absolute path; got ${quoteForMessage(prefix)}`);
  }
  try {
    return await realpath(prefix);
  } catch (err) {
    throw new InvalidArgument(
      `--model_base_path_prefix=${quoteForMessage(prefix)} cannot be resolved: ${(err as Error).message}`,
    );
  }
}

/** realpath() of the longest existing ancestor, with the missing rest appended (a model dir may appear later). */
async function realPathOfExistingPart(absolute: string): Promise<string> {
  const missing: string[] = [];
  let current = absolute;
  for (;;) {
    try {
      return join(await realpath(current), ...missing.reverse());
    } catch {
      const parent = dirname(current);
      if (parent === current) return absolute;
      missing.push(basename(current));
      current = parent;
    }
  }
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}
