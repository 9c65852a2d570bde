/**
 * Request message decompression (`grpc-encoding` gzip/deflate). zlib runs on libuv's thread pool, so the event loop
 * stays free, and its maxOutputLength stops inflation at the receive limit: a small zip bomb cannot make the server
 * allocate more than the limit it would accept uncompressed.
 */
import { gunzip, inflate, type InputType, type ZlibOptions } from 'node:zlib';
import { Internal, ResourceExhausted, Unimplemented } from '../../../../errors.js';

/** What this server reads; sent back as `grpc-accept-encoding` when a client used something else. */
export const ACCEPTED_ENCODINGS = 'identity,deflate,gzip';

type Inflater = (
  input: InputType,
  options: ZlibOptions,
  callback: (error: Error | null, result: Buffer) => void,
) => void;

const INFLATERS: Record<string, Inflater | undefined> = { gzip: gunzip, deflate: inflate };

/** Whether messages compressed with `encoding` can be read (identity: nothing to read). */
export function isSupportedEncoding(encoding: string): boolean {
  return encoding === 'identity' || INFLATERS[encoding] !== undefined;
}

export class UnsupportedEncoding extends Unimplemented {
  constructor(encoding: string) {
    super(
      `Received message compressed with unsupported encoding "${encoding}" (this server reads ${ACCEPTED_ENCODINGS})`,
    );
  }
}

/** The message `body` inflated with `encoding`, refused with RESOURCE_EXHAUSTED once it grows past `maxBytes`. */
export function decompressMessage(body: Buffer, encoding: string, maxBytes: number): Promise<Buffer> {
  const inflater = INFLATERS[encoding];
  if (inflater === undefined) {
    return Promise.reject(
      encoding === 'identity'
        ? new Internal('the message is flagged compressed but the call declares grpc-encoding identity')
        : new UnsupportedEncoding(encoding),
    );
  }
  return new Promise((resolve, reject) => {
    // maxOutputLength must be at least 1; an empty message inflates to 0 bytes under it.
    inflater(body, { maxOutputLength: Math.max(1, maxBytes) }, (error, result) => {
      if (!error) resolve(result);
      else if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        reject(new ResourceExhausted(`Received message that decompresses to a size larger than ${maxBytes}`));
      } else reject(new Internal(`Failed to decompress message: ${error.message}`));
    });
  });
}
