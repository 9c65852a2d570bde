/**
 * --auth_token_file: the file's trimmed contents are the one bearer token every data and management call must carry
 * (`authorization: Bearer <token>`, as gRPC metadata or HTTP header). Presented and expected tokens are compared as
 * SHA-256 digests with timingSafeEqual, so neither the time taken nor the digest length tells how much matched.
 * Messages never echo what was sent. The file is followed like the SSL config, so a token can be rotated live.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidArgument, Unauthenticated } from '../../../errors.js';
import type { Log } from '../../core/storage-path-source.js';
import { WatchedFile } from './watched-file.js';

/** A token must fit in an HTTP header and gRPC metadata: visible ASCII, no spaces. */
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;
const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function parseTokenFile(text: string, path: string): Buffer {
  const token = text.trim();
  if (token === '') throw new InvalidArgument(`--auth_token_file=${path} is empty`);
  if (!TOKEN_PATTERN.test(token)) {
    throw new InvalidArgument(
      `--auth_token_file=${path} must hold one token of visible ASCII characters without spaces`,
    );
  }
  return digest(token);
}

export class BearerToken {
  private readonly file: WatchedFile<Buffer>;

  constructor(path: string, options: { pollMs?: number; log: Log }) {
    this.file = new WatchedFile(path, { flag: '--auth_token_file', parse: parseTokenFile, ...options });
  }

  /** Throws UNAUTHENTICATED unless `authorization` is `Bearer <the token>`. */
  verify(authorization: string | undefined): void {
    if (authorization === undefined || authorization === '') {
      throw new Unauthenticated(
        'missing credentials: this server requires an "authorization: Bearer <token>" header (--auth_token_file)',
      );
    }
    const match = BEARER.exec(authorization);
    const presented = digest(match?.[1] ?? '');
    if (!match || !timingSafeEqual(presented, this.file.current)) {
      throw new Unauthenticated('invalid credentials: the bearer token in "authorization" is not accepted');
    }
  }

  /** One poll of the token file now (tests; the server polls on its own). */
  checkNow(): Promise<void> {
    return this.file.checkNow();
  }

  close(): void {
    this.file.close();
  }
}
