/**
 * A TCP port on 127.0.0.1 that was free a moment ago: for child processes whose flags treat port 0 as "off"
 * (`flowserve serve --rest_api_port=0`) or that cannot report the port they bound (HAProxy). Another process may take
 * it before the child binds; callers start the child soon after.
 */
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}
