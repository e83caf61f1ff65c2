import { execFileSync } from 'node:child_process';
import { createHmac, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
  return signJws('RS256', key, header, claims);
}

/**
 * A compact JWS signed by hand for any `alg`, whether or not it fits the key: the forged tokens
 * a registry must refuse (an ES256 header over an RSA signature, HS256 keyed with the public key's
 * PEM, `none`) cannot be made with a library that checks what it signs.
 */
export function signJws(alg: string, key: KeyObject | Buffer, header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode({ alg, typ: 'JWT', ...header })}.${encode(claims)}`;
  return `${signingInput}.${signature(alg, key, Buffer.from(signingInput)).toString('base64url')}`;
}

function signature(alg: string, key: KeyObject | Buffer, data: Buffer): Buffer {
  const hash = `sha${alg.slice(2)}`;
  if (alg === 'none') return Buffer.alloc(0);
  if (alg.startsWith('HS')) return createHmac(hash, key).update(data).digest();
  if (Buffer.isBuffer(key)) throw new Error(`${alg} needs a private key`);
  if (alg === 'EdDSA') return sign(null, data, key);
  if (alg.startsWith('PS')) return sign(hash, data, { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: Number(alg.slice(2)) / 8 });
  // RS* and ES* (JWS wants the raw r||s form, RFC 7518 §3.4; node's default is DER), whatever the key.
  return sign(hash, data, { key, dsaEncoding: 'ieee-p1363' });
}

/**
 * Certificate chains for x5c tests, issued by a test root CA with `openssl ca` (which, unlike
 * `openssl x509 -req` of OpenSSL 3.0, can set past and future validity dates). Every leaf holds
 * the same RSA key; `bundlePath` is the token certificate of `makePki` plus the root.
 */
export interface TokenChains {
  readonly bundlePath: string;
  readonly leafKey: KeyObject;
  /** x5c arrays (leaf first), base64 DER. */
  readonly good: string[];
  readonly expiredIntermediate: string[];
  readonly notYetValidLeaf: string[];
  readonly nonCaIntermediate: string[];
  /** A leaf whose issuer is not in x5c and not in the bundle (a self-made CA). */
  readonly foreignRoot: string[];
  /** A JWKS file of public keys named by kid: `es256` (P-256), `es384` (P-384), `ed25519`, `rs-only-ps256` (alg PS256). */
  readonly jwksPath: string;
  readonly jwkPrivate: Readonly<Record<'es256' | 'es384' | 'ed25519' | 'rsOnlyPs256', KeyObject>>;
}

const CA_CONFIG = `[ ca ]
default_ca = test_ca
[ test_ca ]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any_name
unique_subject = no
[ any_name ]
commonName = supplied
[ ca_cert ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ not_ca ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyCertSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
authorityKeyIdentifier = keyid
`;

const PAST = ['-startdate', '20200101000000Z', '-enddate', '20210101000000Z'];
const FUTURE = ['-startdate', '20900101000000Z', '-enddate', '20910101000000Z'];
const NOW = ['-days', '2'];

export async function makeTokenChains(pki: Pki): Promise<TokenChains> {
  const dir = join(pki.dir, 'chains');
  await mkdir(dir);
  await writeFile(join(dir, 'ca.cnf'), CA_CONFIG);
  await writeFile(join(dir, 'index.txt'), '');
  await writeFile(join(dir, 'serial'), '1000\n');
  const ecKey = (name: string): void => openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
  const csr = (name: string, key: string): void => openssl(dir, ['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', `${name}.csr`]);
  const issue = (name: string, issuer: string, extensions: string, dates: readonly string[]): void =>
    openssl(dir, ['ca', '-batch', '-notext', '-config', 'ca.cnf', '-cert', `${issuer}.crt`, '-keyfile', `${issuer}.key`, '-in', `${name}.csr`, '-out', `${name}.crt`, '-extensions', extensions, ...dates]);
  const der = (name: string): string => execFileSync('openssl', ['x509', '-in', `${name}.crt`, '-outform', 'DER'], { cwd: dir }).toString('base64');

  for (const root of ['root', 'foreign-root']) {
    ecKey(root);
    openssl(dir, ['req', '-x509', '-new', '-key', `${root}.key`, '-subj', `/CN=${root}`, '-out', `${root}.crt`, '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  }
  const intermediates: [string, string, readonly string[]][] = [['good-int', 'ca_cert', NOW], ['expired-int', 'ca_cert', PAST], ['nonca-int', 'not_ca', NOW]];
  for (const [name, extensions, dates] of intermediates) {
    ecKey(name);
    csr(name, `${name}.key`);
    issue(name, 'root', extensions, dates);
  }
  openssl(dir, ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'leaf.key']);
  const leaves: [string, string, readonly string[]][] = [['leaf-good', 'good-int', NOW], ['leaf-under-expired', 'expired-int', NOW], ['leaf-future', 'good-int', FUTURE], ['leaf-under-nonca', 'nonca-int', NOW], ['leaf-foreign', 'foreign-root', NOW]];
  for (const [name, issuer, dates] of leaves) {
    csr(name, 'leaf.key');
    issue(name, issuer, 'leaf', dates);
  }
  const bundlePath = join(dir, 'bundle.crt');
  await writeFile(bundlePath, Buffer.concat([await readFile(pki.signingCertPath), await readFile(join(dir, 'root.crt'))]));

  const jwkPrivate = {
    es256: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    es384: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey,
    ed25519: generateKeyPairSync('ed25519').privateKey,
    rsOnlyPs256: pki.signingKey,
  };
  const publicJwk = (key: KeyObject, kid: string, extra: Record<string, string> = {}): Record<string, unknown> => {
    const { d: _private, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = key.export({ format: 'jwk' });
    return { ...pub, kid, use: 'sig', ...extra };
  };
  const jwksPath = join(dir, 'jwks.json');
  const keys = [publicJwk(jwkPrivate.es256, 'es256'), publicJwk(jwkPrivate.es384, 'es384'), publicJwk(jwkPrivate.ed25519, 'ed25519'), publicJwk(pki.signingKey, 'rs-only-ps256', { alg: 'PS256' })];
  await writeFile(jwksPath, JSON.stringify({ keys }));
  return {
    bundlePath,
    leafKey: createPrivateKey(await readFile(join(dir, 'leaf.key'))),
    good: [der('leaf-good'), der('good-int')],
    expiredIntermediate: [der('leaf-under-expired'), der('expired-int')],
    notYetValidLeaf: [der('leaf-future'), der('good-int')],
    nonCaIntermediate: [der('leaf-under-nonca'), der('nonca-int')],
    foreignRoot: [der('leaf-foreign'), der('foreign-root')],
    jwksPath,
    jwkPrivate,
  };
}
