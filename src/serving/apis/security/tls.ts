/**
 * TLS for both front ends from one --ssl_config_file (TF Serving's SSLConfig; TF secures only gRPC). The file is
 * followed while the server runs: a new key, certificate or CA applies to new connections, existing ones keep the
 * context they were opened with. `client_verify` is fixed at start (grpc-js and Node set "request a client
 * certificate" per listening server), so a change that flips it is refused and logged like a bad PEM.
 */
import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import type { SecureContextOptions } from 'node:tls';
import { InvalidArgument } from '../../../errors.js';
import { parseSslConfig, type SslConfig } from '../../config/ssl-config.js';
import type { Log } from '../../core/storage-path-source.js';
import { WatchedFile } from './watched-file.js';

export type SslConfigFile = WatchedFile<SslConfig>;

export function watchSslConfig(path: string, options: { pollMs?: number; log: Log }): SslConfigFile {
  // Set once the first config is read; later configs must keep it.
  const fixed: { clientVerify?: boolean } = {};
  const file = new WatchedFile(path, {
    flag: '--ssl_config_file',
    pollMs: options.pollMs,
    log: options.log,
    parse: (text, fileName) => {
      const config = parseSslConfig(text, fileName);
      if (fixed.clientVerify !== undefined && config.clientVerify !== fixed.clientVerify) {
        throw new InvalidArgument(
          `client_verify changed to ${String(config.clientVerify)}; that takes a restart (certificates may change live)`,
        );
      }
      return config;
    },
  });
  fixed.clientVerify = file.current.clientVerify;
  return file;
}

/** Key, certificate and CA of a config as Node TLS context options. */
export function secureContextOptions(config: SslConfig): SecureContextOptions {
  return {
    key: config.serverKey,
    cert: config.serverCert,
    ...(config.clientVerify ? { ca: config.customCa } : {}),
  };
}

/** Node https server options for the REST port: the context, plus mTLS when client_verify is set. */
export function httpsServerOptions(config: SslConfig): SecureContextOptions & {
  requestCert: boolean;
  rejectUnauthorized: boolean;
} {
  return { ...secureContextOptions(config), requestCert: config.clientVerify, rejectUnauthorized: config.clientVerify };
}

/**
 * Serves the config file's identity (key + certificate) and CA to grpc-js, which installs every update with
 * setSecureContext on its listening socket. Listeners get the current value on the next tick, as grpc-js's own
 * providers do (its credentials register their watcher only after adding the listener).
 */
class SslConfigCertificateProvider implements experimental.CertificateProvider {
  private readonly caListeners = new Set<experimental.CaCertificateUpdateListener>();
  private readonly identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();

  constructor(private readonly file: SslConfigFile) {
    file.onChange(() => {
      for (const listener of this.caListeners) listener(this.caUpdate());
      for (const listener of this.identityListeners) listener(this.identityUpdate());
    });
  }

  private caUpdate(): experimental.CaCertificateUpdate {
    return { caCertificate: Buffer.from(this.file.current.customCa) };
  }

  private identityUpdate(): experimental.IdentityCertificateUpdate {
    const config = this.file.current;
    return { certificate: Buffer.from(config.serverCert), privateKey: Buffer.from(config.serverKey) };
  }

  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    process.nextTick(() => this.caListeners.has(listener) && listener(this.caUpdate()));
  }

  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    process.nextTick(() => this.identityListeners.has(listener) && listener(this.identityUpdate()));
  }

  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
  }
}

/** grpc-js server credentials that follow the SSL config file; mTLS (required client certificates) with client_verify. */
export function grpcServerCredentials(file: SslConfigFile): ServerCredentials {
  const provider = new SslConfigCertificateProvider(file);
  const { clientVerify } = file.current;
  // grpc-js 1.14 hands its first argument to the credentials as the identity provider and its second as the CA
  // provider (its typings name them the other way round); one provider serves both, so the order cannot go wrong.
  return experimental.createCertificateProviderServerCredentials(
    provider,
    clientVerify ? provider : null,
    clientVerify,
  );
}
