/**
 * SSLConfig (--ssl_config_file), TensorFlow Serving's text format: `server_key`, `server_cert` and `custom_ca` hold
 * PEM *contents* (not file names); `client_verify: true` requires every client to present a certificate signed by
 * `custom_ca`. Beyond TF's checks, the key, certificate and CA are loaded into a TLS context here, so a bad or
 * mismatched PEM is reported with the file's name before a server uses it (at start-up or on a reload).
 */
import { createSecureContext } from 'node:tls';
import { InvalidArgument } from '../../errors.js';
import { MessageReader } from './message-reader.js';
import { parseTextFormat } from './text-format.js';

export interface SslConfig {
  /** PEM private key of the server. */
  serverKey: string;
  /** PEM certificate chain of the server. */
  serverCert: string;
  /** PEM CA certificate(s) that client certificates must chain to; '' = none. */
  customCa: string;
  /** Require and verify client certificates (mTLS). */
  clientVerify: boolean;
}

const SSL_CONFIG_FIELDS = ['server_key', 'server_cert', 'custom_ca', 'client_verify'];

export function parseSslConfig(text: string, fileName = '<ssl config>'): SslConfig {
  const root = new MessageReader(parseTextFormat(text, fileName), 'SSLConfig', fileName, SSL_CONFIG_FIELDS);
  const config: SslConfig = {
    serverKey: root.string('server_key') ?? '',
    serverCert: root.string('server_cert') ?? '',
    customCa: root.string('custom_ca') ?? '',
    clientVerify: root.bool('client_verify') ?? false,
  };
  if (config.serverKey.trim() === '' || config.serverCert.trim() === '') {
    throw new InvalidArgument(`${fileName}: SSLConfig needs both server_key and server_cert (PEM contents)`);
  }
  if (config.clientVerify && config.customCa.trim() === '') {
    throw new InvalidArgument(
      `${fileName}: client_verify is true but custom_ca is empty: give the PEM of the CA that signs client certificates`,
    );
  }
  try {
    createSecureContext({
      key: config.serverKey,
      cert: config.serverCert,
      ...(config.customCa ? { ca: config.customCa } : {}),
    });
  } catch (err) {
    throw new InvalidArgument(`${fileName}: the PEM in SSLConfig cannot be used: ${(err as Error).message}`);
  }
  return config;
}
