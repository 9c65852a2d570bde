/**
 * Real X.509 material made by the openssl CLI for TLS tests: two CAs, server certificates for 127.0.0.1/localhost,
 * and client certificates. P-256 keys keep generation fast. `opensslMissing()` says why tests must skip.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const OPENSSL = '/usr/bin/openssl';

export interface KeyPair {
  key: string;
  cert: string;
}

export interface Ca extends KeyPair {
  name: string;
  keyFile: string;
  certFile: string;
}

export function opensslMissing(): string | undefined {
  return existsSync(OPENSSL) ? undefined : `${OPENSSL} is absent: TLS tests need it to make certificates`;
}

function openssl(args: string[]): void {
  execFileSync(OPENSSL, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function makeCa(dir: string, name: string): Ca {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.pem`);
  openssl([
    'req', '-x509', ...EC_KEY, '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]); // prettier-ignore
  return { name, keyFile, certFile, key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
}

let serial = Date.now();

/** A leaf certificate signed by `ca`: a server one (SAN 127.0.0.1, localhost) or a client one. */
export function makeLeaf(dir: string, ca: Ca, commonName: string, usage: 'server' | 'client'): KeyPair {
  const keyFile = join(dir, `${commonName}.key`);
  const csrFile = join(dir, `${commonName}.csr`);
  const certFile = join(dir, `${commonName}.pem`);
  const extFile = join(dir, `${commonName}.ext`);
  writeFileSync(
    extFile,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      usage === 'server' ? 'extendedKeyUsage=serverAuth' : 'extendedKeyUsage=clientAuth',
      ...(usage === 'server' ? ['subjectAltName=IP:127.0.0.1,DNS:localhost'] : []),
    ].join('\n'),
  );
  openssl(['req', '-new', ...EC_KEY, '-keyout', keyFile, '-out', csrFile, '-subj', `/CN=${commonName}`]);
  openssl([
    'x509', '-req', '-in', csrFile, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', String(serial++),
    '-days', '2', '-extfile', extFile, '-out', certFile,
  ]); // prettier-ignore
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
}

/** TF Serving's text-format SSLConfig holding PEM contents. */
export function sslConfigText(server: KeyPair, options: { customCa?: string; clientVerify?: boolean } = {}): string {
  const quote = (pem: string) => JSON.stringify(pem);
  return [
    `server_key: ${quote(server.key)}`,
    `server_cert: ${quote(server.cert)}`,
    ...(options.customCa ? [`custom_ca: ${quote(options.customCa)}`] : []),
    ...(options.clientVerify ? ['client_verify: true'] : []),
  ].join('\n');
}
