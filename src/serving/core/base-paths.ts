/**
 * Where a model's versions may be read from, checked before a config is applied (at start-up, on a config-file
 * poll and on HandleReloadConfigRequest):
 *  1. Local directories and the URL schemes of src/serving/storage (`s3://`); any other scheme (gs://, hdfs://,
 *     file://, …) is UNIMPLEMENTED, naming what works. Without this check such a path would be accepted and the model
 *     stay empty forever (issue 9). An s3:// path must be `s3://BUCKET[/PREFIX]` without `.`/`..` segments.
 *  2. No control characters: a base path is printed in logs, and a `\n` in it would forge log lines.
 *  3. With --model_base_path_prefix, the path must lie inside the prefix, and be of the prefix's kind:
 *     - a local prefix confines local paths: path.resolve removes `..`, and the real path of its longest existing
 *       ancestor removes symlinks, so neither can step outside; an s3:// base path is refused (the prefix is there to
 *       confine where models come from, and object storage is outside any local directory);
 *     - an `s3://BUCKET/PREFIX` prefix confines s3:// paths to that bucket and key prefix (whole path segments:
 *       `s3://b/models` admits `s3://b/models/a`, not `s3://b/models-old`); local paths are refused.
 */
import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InvalidArgument } from '../../errors.js';
import { schemeOf, storageSchemes, unsupportedScheme } from '../storage/model-storage.js';
import { parseS3Location, type S3Location } from '../storage/s3-location.js';
import type { ModelServerConfig } from '../config/model-server-config.js';
import { hasControlCharacters, quoteForMessage } from '../config/untrusted-text.js';

export async function checkBasePaths(config: ModelServerConfig, prefix?: string): Promise<void> {
  const s3Prefix = prefix && schemeOf(prefix) === 's3' ? parseS3Prefix(prefix) : undefined;
  const realPrefix = prefix && !s3Prefix ? await realPrefixDir(prefix) : undefined;
  for (const model of config.models) {
    const path = model.basePath;
    if (hasControlCharacters(path)) {
      throw new InvalidArgument(
        `base_path ${quoteForMessage(path)} of model ${model.name} contains control characters`,
      );
    }
    const scheme = schemeOf(path);
    if (scheme !== undefined && !storageSchemes.includes(scheme)) throw unsupportedScheme(path, model.name);
    const s3Path = scheme === 's3' ? parseS3Location(path) : undefined;
    if (prefix !== undefined && prefix !== '' && (s3Prefix === undefined) !== (s3Path === undefined)) {
      throw new InvalidArgument(
        `base_path ${quoteForMessage(path)} of model ${model.name} is ${s3Path ? 'in object storage' : 'a local path'}, ` +
          `outside --model_base_path_prefix=${quoteForMessage(prefix)}, which admits only ` +
          `${s3Prefix ? 's3:// paths under it' : 'local paths under it'}`,
      );
    }
    if (s3Prefix && s3Path && !s3Inside(s3Path, s3Prefix)) {
      throw new InvalidArgument(
        `base_path ${quoteForMessage(path)} of model ${model.name} is outside --model_base_path_prefix=` +
          `${quoteForMessage(prefix as string)}`,
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

function parseS3Prefix(prefix: string): S3Location {
  try {
    return parseS3Location(prefix);
  } catch (err) {
    throw new InvalidArgument(`--model_base_path_prefix: ${(err as Error).message}`);
  }
}

/** Same bucket, and the path's key prefix starts with the prefix's whole segments (both end in '/'). */
function s3Inside(path: S3Location, prefix: S3Location): boolean {
  return path.bucket === prefix.bucket && path.prefix.startsWith(prefix.prefix);
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
