/** `s3://bucket/prefix` base paths and version locations. */
import { InvalidArgument } from '../../errors.js';
import { quoteForMessage } from '../config/untrusted-text.js';

export interface S3Location {
  bucket: string;
  /** The key prefix: '' for the bucket's root, else ending in '/'. */
  prefix: string;
}

// S3's bucket naming rules (3-63 characters of lower-case letters, digits, dots and hyphens), plus the underscores
// and capitals older buckets and S3-compatible stores allow.
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;

export function parseS3Location(url: string): S3Location {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/i.exec(url);
  const bucket = match?.[1] ?? '';
  if (!match || !BUCKET.test(bucket)) {
    throw new InvalidArgument(`${quoteForMessage(url)} is not s3://BUCKET[/PREFIX] with a valid bucket name`);
  }
  const path = (match[2] ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  if (path.split('/').some((part) => part === '.' || part === '..')) {
    throw new InvalidArgument(`${quoteForMessage(url)} has a '.' or '..' path segment`);
  }
  return { bucket, prefix: path === '' ? '' : `${path}/` };
}

export function s3Url(location: S3Location): string {
  return `s3://${location.bucket}/${location.prefix}`;
}
