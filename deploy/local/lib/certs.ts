import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireCommand } from './checks.js';
import { run } from './procs.js';

export interface CertPaths {
  readonly ca: string;
  readonly caKey: string;
  readonly cert: string;
  readonly key: string;
}

/** What the local stack's certificate names: every part listens on 127.0.0.1. */
export const LOCAL_NAMES: readonly string[] = ['DNS:localhost', 'IP:127.0.0.1'];

/**
 * A private CA and one server certificate for `names` (subjectAltName entries, e.g. DNS:kafka, IP:127.0.0.1), made
 * once per folder with openssl. Every part serves it; clients trust the CA file only, never "insecure" switches.
 */
export function ensureCertificates(dir: string, names: readonly string[] = LOCAL_NAMES): CertPaths {
  const paths: CertPaths = { ca: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), cert: join(dir, 'node.crt'), key: join(dir, 'node.key') };
  if (Object.values(paths).every((p) => existsSync(p))) return paths;
  requireCommand('openssl', 'install openssl (for example `apt-get install openssl`); secure mode makes its certificates with it');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const what = 'creating the secure-mode certificates';
  run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-days',
      '825',
      '-keyout',
      paths.caKey,
      '-out',
      paths.ca,
      '-subj',
      '/CN=kccr local CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    { what },
  );
  const csr = join(dir, 'node.csr');
  run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-keyout', paths.key, '-out', csr, '-subj', '/CN=localhost'], { what });
  const ext = join(dir, 'node.ext');
  writeFileSync(
    ext,
    `subjectAltName=${names.join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n`,
  );
  run(
    'openssl',
    ['x509', '-req', '-in', csr, '-CA', paths.ca, '-CAkey', paths.caKey, '-CAcreateserial', '-out', paths.cert, '-days', '825', '-sha256', '-extfile', ext],
    { what },
  );
  return paths;
}
