import type { Config } from '../config/schema.ts';
import { UpstreamClient } from './upstream.ts';

/**
 * Which upstream serves which repository names. distribution proxies one upstream per registry
 * (proxy.remoteurl: every name); `proxy.remotes` maps name prefixes to upstreams of their own, as
 * Harbor's proxy projects and zot's sync do:
 *
 *   docker.io/library/alpine  → https://registry-1.docker.io, name library/alpine
 *   ghcr.io/team/tool         → https://ghcr.io,              name team/tool
 *   team/app                  → no prefix, no remoteurl: a normal repository (push, delete)
 *
 * The longest prefix wins; `remoteurl`, when set, takes every name no prefix matched.
 */
export interface Remote {
  /** '' for proxy.remoteurl. */
  readonly prefix: string;
  readonly client: UpstreamClient;
  /** ms a manifest fetched by tag is served before it is checked upstream again; 0: every pull. */
  readonly ttlMs: number;
}

export interface RemoteName {
  readonly remote: Remote;
  /** The repository's name upstream. */
  readonly name: string;
}

/** Docker Hub keeps its official images under library/: `docker.io/alpine` is library/alpine there, as docker itself maps it. */
const DOCKER_HUB_HOSTS = new Set(['registry-1.docker.io', 'index.docker.io', 'docker.io']);

export class Remotes {
  /** Longest prefix first. */
  private readonly byPrefix: readonly Remote[];

  constructor(proxy: NonNullable<Config['proxy']>) {
    const remotes: Remote[] = Object.entries(proxy.remotes).map(([prefix, remote]) => ({
      prefix,
      client: new UpstreamClient(remote),
      ttlMs: remote.ttl ?? proxy.ttl,
    }));
    if (proxy.remoteurl !== undefined) {
      remotes.push({ prefix: '', client: new UpstreamClient({ remoteurl: proxy.remoteurl, ...credentials(proxy) }), ttlMs: proxy.ttl });
    }
    this.byPrefix = remotes.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The upstream of `name`, or undefined for a normal repository. */
  resolve(name: string): RemoteName | undefined {
    for (const remote of this.byPrefix) {
      if (!name.startsWith(remote.prefix)) continue;
      const rest = name.slice(remote.prefix.length);
      const hub = DOCKER_HUB_HOSTS.has(remote.client.host) && !rest.includes('/');
      return { remote, name: hub ? `library/${rest}` : rest };
    }
    return undefined;
  }

  covers(name: string): boolean {
    return this.byPrefix.some((remote) => name.startsWith(remote.prefix));
  }

  get all(): readonly Remote[] {
    return this.byPrefix;
  }
}

function credentials(settings: { readonly username?: string; readonly password?: string }): { username?: string; password?: string } {
  return { ...(settings.username !== undefined ? { username: settings.username } : {}), ...(settings.password !== undefined ? { password: settings.password } : {}) };
}
