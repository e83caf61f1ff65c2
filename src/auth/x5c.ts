import { X509Certificate, type KeyObject } from 'node:crypto';

/**
 * The `x5c` header of a token (RFC 7515 §4.1.6): x5c[0] holds the signing key and each next
 * certificate certifies the one before it; the last one must be, or be issued by, a certificate
 * of `rootcertbundle`. A signature chain alone is not trust (issue 9): as Go's x509.Verify does
 * for distribution, every certificate must be inside its validity period and every issuer must be
 * a CA (basicConstraints CA:TRUE), so an expired or a leaf certificate cannot vouch for a key.
 */
const MAX_CHAIN = 8;

/** The signing key of a chain we trust at `now` (ms); throws with the reason otherwise. */
export function trustedX5cKey(x5c: unknown, roots: readonly X509Certificate[], skewMs: number, now = Date.now()): KeyObject {
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > MAX_CHAIN) throw new Error(`x5c must list 1 to ${MAX_CHAIN} certificates`);
  const chain = x5c.map(parseX5cEntry);
  for (const cert of chain) assertCurrent(cert, skewMs, now);
  for (let i = 0; i + 1 < chain.length; i++) assertIssued(chain[i] as X509Certificate, chain[i + 1] as X509Certificate);
  const last = chain.at(-1) as X509Certificate;
  if (!roots.some((root) => root.fingerprint256 === last.fingerprint256)) {
    const anchor = roots.find((root) => issuedBy(last, root));
    if (!anchor) throw new Error('x5c chain does not lead to rootcertbundle');
    assertCurrent(anchor, skewMs, now);
    assertCa(anchor);
  }
  return (chain[0] as X509Certificate).publicKey;
}

/** Standard base64 DER, not base64url (RFC 7515 §4.1.6). */
function parseX5cEntry(entry: unknown): X509Certificate {
  if (typeof entry !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(entry)) throw new Error('x5c entries must be base64 DER certificates');
  try {
    return new X509Certificate(Buffer.from(entry, 'base64'));
  } catch {
    throw new Error('x5c holds a certificate that does not parse');
  }
}

function assertCurrent(cert: X509Certificate, skewMs: number, now: number): void {
  if (Date.parse(cert.validFrom) - skewMs > now) throw new Error(`certificate "${cert.subject}" is not valid before ${cert.validFrom}`);
  if (Date.parse(cert.validTo) + skewMs < now) throw new Error(`certificate "${cert.subject}" expired ${cert.validTo}`);
}

function assertCa(cert: X509Certificate): void {
  if (!cert.ca) throw new Error(`certificate "${cert.subject}" is not a CA (basicConstraints) and cannot issue others`);
}

function assertIssued(cert: X509Certificate, issuer: X509Certificate): void {
  assertCa(issuer);
  if (!issuedBy(cert, issuer)) throw new Error(`certificate "${cert.subject}" is not issued by the next one in x5c`);
}

/** Names (and key identifiers) match, and the issuer's key signed it. */
function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}
