import { execFileSync } from 'node:child_process';
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throw-away PKI made with the openssl CLI: a CA, a server certificate for 127.0.0.1, a client
 * certificate, and a token-signing key with its own self-signed certificate (the token
 * server's `rootcertbundle`).
 */
export interface Pki {
  readonly dir: string;
  readonly caCert: Buffer;
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
  readonly caCertPath: string;
  readonly clientCert: Buffer;
  readonly clientKey: Buffer;
  readonly signingKey: KeyObject;
  readonly signingCertPath: string;
  /** The signing certificate, DER base64, for an `x5c` header. */
  readonly signingCertDer: string;
}

function openssl(dir: string, args: readonly string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

export async function makePki(t: { after: (fn: () => Promise<void>) => void }): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-pki-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const days = ['-days', '2'];
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=Quayside Test CA', ...days]);
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-extfile', 'san.ext', ...days]);
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=client']);
  openssl(dir, ['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', ...days]);
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'token.key', '-out', 'token.crt', '-subj', '/CN=token issuer', ...days]);
  const der = execFileSync('openssl', ['x509', '-in', 'token.crt', '-outform', 'DER'], { cwd: dir });
  return {
    dir,
    caCert: await readFile(join(dir, 'ca.crt')),
    caCertPath: join(dir, 'ca.crt'),
    serverCertPath: join(dir, 'server.crt'),
    serverKeyPath: join(dir, 'server.key'),
    clientCert: await readFile(join(dir, 'client.crt')),
    clientKey: await readFile(join(dir, 'client.key')),
    signingKey: createPrivateKey(await readFile(join(dir, 'token.key'))),
    signingCertPath: join(dir, 'token.crt'),
    signingCertDer: der.toString('base64'),
  };
}

/** A compact RS256 JWS over `claims`, with the given header fields (kid or x5c). */
export function mintToken(key: KeyObject, header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode({ alg: 'RS256', typ: 'JWT', ...header })}.${encode(claims)}`;
  return `${signingInput}.${sign('sha256', Buffer.from(signingInput), key).toString('base64url')}`;
}
