import { availableParallelism } from 'node:os';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import bcrypt from 'bcrypt';
import { LRUCache } from 'lru-cache';
import { RegistryError } from '../errors/registry-error.ts';
import type { AccessRequest, Grants } from './access.ts';
import type { Logger } from '../log.ts';
import type { Authenticator } from './authenticator.ts';
import { CompareQueue } from './compare-queue.ts';

/**
 * auth.htpasswd: HTTP Basic against an htpasswd file of bcrypt entries (`htpasswd -B`), as the
 * reference registry reads it. Every authenticated user may do everything (distribution's rule).
 *
 * bcrypt is slow on purpose (tens of ms of CPU). It must not run on the event loop (issue 9): a
 * stream of wrong passwords would stall every upload and pull. So compares run on libuv's pool
 * (native bcrypt), a few at a time (compare-queue.ts), and each user:password outcome is
 * remembered for a minute by its SHA-256 (never the password itself): a push of many layers pays
 * bcrypt once, and a client retrying the same wrong password pays it once too. Successes and
 * failures have separate caches, so a flood of distinct wrong passwords cannot evict the good ones.
 *
 * The file is read again when it changes, as distribution does (it stats the file at every
 * request): a user added, removed or given a new password takes effect without a restart.
 */
const OUTCOME_TTL_MS = 60_000;
const CACHED_OUTCOMES = 10_000;
/** Leaves the event loop a core on small machines, and most of libuv's pool to fs calls. */
const COMPARES_IN_FLIGHT = Math.max(1, Math.min(2, availableParallelism() - 1));
const COMPARES_QUEUED = 32;
/**
 * A check whose client disconnected while it waited: a flood that gives up would otherwise leave
 * its whole queue of compares to run for nobody, ahead of the next clients.
 */
const ABANDONED = Symbol('abandoned');

/**
 * How often the file is looked at again. distribution stats it at every request; here that would
 * be a libuv round trip on every authenticated small read, so requests share one stat a second.
 */
const RECHECK_MS = 1000;

export class HtpasswdAuthenticator implements Authenticator {
  private readonly file: HtpasswdFile;
  private readonly verified = new LRUCache<string, true>({ max: CACHED_OUTCOMES, ttl: OUTCOME_TTL_MS });
  private readonly refused = new LRUCache<string, true>({ max: CACHED_OUTCOMES, ttl: OUTCOME_TTL_MS });
  /** Checks under way, so concurrent requests with the same credentials share one compare. */
  private readonly pending = new Map<string, Promise<boolean | typeof ABANDONED>>();
  private readonly compares = new CompareQueue(COMPARES_IN_FLIGHT, COMPARES_QUEUED);
  /** The file's version the caches and pending checks belong to. */
  private version = 0;

  constructor(
    private readonly realm: string,
    path: string,
    log?: Logger,
  ) {
    this.file = new HtpasswdFile(path, log);
  }

  async authorize(req: IncomingMessage, _access: readonly AccessRequest[]): Promise<Grants> {
    const credentials = basicCredentials(req.headers.authorization);
    const gone = (): boolean => req.socket.destroyed;
    if (!credentials || !(await this.check(credentials.user, credentials.password, gone))) {
      throw new RegistryError('UNAUTHORIZED', credentials ? { reason: 'invalid username or password' } : null, {
        headers: { 'www-authenticate': `Basic realm="${this.realm}"` },
      });
    }
    return { subject: credentials.user, allows: () => true };
  }

  /** `gone`: whether the client has left, so a check still queued for it can be skipped. */
  private async check(user: string, password: string, gone: () => boolean): Promise<boolean> {
    const users = await this.file.current();
    // A changed file: outcomes against the old entries no longer stand (a removed user, a new password).
    if (this.file.version !== this.version) {
      this.version = this.file.version;
      this.verified.clear();
      this.refused.clear();
      this.pending.clear();
    }
    const hash = users.get(user);
    if (!hash) return false;
    const key = outcomeKey(user, password);
    if (this.verified.has(key)) return true;
    if (this.refused.has(key)) return false;
    let checking = this.pending.get(key);
    if (!checking) {
      const started = this.version;
      const compare = this.compares.run<boolean | typeof ABANDONED>(() => (gone() ? Promise.resolve(ABANDONED) : bcryptMatches(password, hash)));
      checking = compare.finally(() => {
        if (this.pending.get(key) === checking) this.pending.delete(key);
      });
      this.pending.set(key, checking);
      void checking.then((outcome) => {
        // Cached only for the version it was checked against.
        if (outcome !== ABANDONED && this.version === started) (outcome ? this.verified : this.refused).set(key, true);
      }, () => undefined);
    }
    const outcome = await checking;
    // The client this check was queued for left first; one still waiting asks again for itself.
    if (outcome === ABANDONED) return gone() ? false : this.check(user, password, gone);
    return outcome;
  }
}

/**
 * The htpasswd file's entries, read again when its inode, size, mtime or ctime change (looked at
 * once per RECHECK_MS at most). A file that is gone or unreadable admits nobody until it is back
 * (fail closed), and says so once; read at start, its absence is a start-up error.
 */
class HtpasswdFile {
  private users: ReadonlyMap<string, string>;
  private seen: string | undefined;
  private checkedAt = performance.now();
  private checking: Promise<void> | undefined;
  /** Bumped at every reload. */
  version = 0;

  constructor(
    private readonly path: string,
    private readonly log: Logger | undefined,
  ) {
    this.seen = identity(statSync(path));
    this.users = parseHtpasswd(readFileSync(path, 'utf8'));
  }

  async current(): Promise<ReadonlyMap<string, string>> {
    if (performance.now() - this.checkedAt >= RECHECK_MS) {
      this.checking ??= this.reloadIfChanged().finally(() => {
        this.checkedAt = performance.now();
        this.checking = undefined;
      });
      await this.checking;
    }
    return this.users;
  }

  private async reloadIfChanged(): Promise<void> {
    try {
      const now = identity(await stat(this.path));
      if (now === this.seen) return;
      const users = parseHtpasswd(await readFile(this.path, 'utf8'));
      this.seen = now;
      this.users = users;
      this.version += 1;
      this.log?.info({ path: this.path, users: users.size }, 'htpasswd file changed; read again');
    } catch (err) {
      if (this.seen === undefined) return;
      this.seen = undefined;
      this.users = new Map();
      this.version += 1;
      this.log?.error({ err, path: this.path }, 'htpasswd file cannot be read; every request is refused until it can');
    }
  }
}

function identity(stats: Stats): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
}

/** The user's length goes first: 'a\0b' + 'c' and 'a' + 'b\0c' must not share a key. */
function outcomeKey(user: string, password: string): string {
  return createHash('sha256').update(`${Buffer.byteLength(user)}:${user}\0${password}`).digest('base64');
}

/**
 * `htpasswd -B` writes $2y$, which node's bcrypt does not read; $2y$ and $2b$ are the same
 * algorithm (both the fixed crypt_blowfish), only the prefix differs.
 */
function bcryptMatches(password: string, hash: string): Promise<boolean> {
  return bcrypt.compare(password, hash.replace(/^\$2y\$/, '$2b$')).catch(() => false);
}

/** `user:$2y$...` lines; comments and blank lines skipped; only bcrypt entries are accepted. */
export function parseHtpasswd(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const colon = trimmed.indexOf(':');
    const hash = trimmed.slice(colon + 1);
    if (colon > 0 && /^\$2[aby]\$\d\d\$/.test(hash)) users.set(trimmed.slice(0, colon), hash);
  }
  return users;
}

function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
