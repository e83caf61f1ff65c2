/**
 * Quayside's configuration. Keys are the reference registry's where they apply
 * (distribution configuration.Configuration: version, log.level, http.addr,
 * storage.filesystem.rootdirectory, storage.delete.enabled, storage.maintenance...), so a
 * docker-registry config.yml works here unchanged for the parts we share.
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'silent';

export interface Config {
  readonly version: string;
  readonly log: { readonly level: LogLevel };
  readonly http: {
    /** host:port, `:port` for every interface, port 0 for any free port. */
    readonly addr: string;
    /** Serve HTTPS: PEM files; clientcas makes clients present a certificate signed by one of them. */
    readonly tls?: { readonly certificate: string; readonly key: string; readonly clientcas: readonly string[] };
  };
  /** At most one scheme, as in distribution. */
  readonly auth: {
    readonly htpasswd?: { readonly realm: string; readonly path: string };
    readonly token?: { readonly realm: string; readonly service: string; readonly issuer: string; readonly rootcertbundle?: string; readonly jwks?: string };
  };
  readonly storage: {
    readonly filesystem: { readonly rootdirectory: string };
    readonly delete: { readonly enabled: boolean };
    readonly maintenance: {
      /** Stale uploads are removed after `age` ms, checked every `interval` ms (distribution's keys). */
      readonly uploadpurging: { readonly enabled: boolean; readonly age: number; readonly interval: number; readonly dryrun: boolean };
      /** Writes answer 405 UNSUPPORTED while reads go on. */
      readonly readonly: { readonly enabled: boolean };
    };
  };
  /** Quayside's own settings (no distribution equivalent); REGISTRY_QUAYSIDE_* overrides apply too. */
  readonly quayside: {
    /** SHA-256 engine: auto (native when built, else wasm), native, wasm. QUAYSIDE_HASH_ENGINE wins. */
    readonly hashengine: 'auto' | 'native' | 'wasm';
    /** Chunk worker threads (persist + hash); 0 = sized to the engine (workers/pool.ts defaultWorkerCount). */
    readonly workers: number;
    readonly limits: {
      /** Largest blob an upload may grow to, bytes; 0 = no limit. Beyond: 413. */
      readonly uploadsize: number;
      /** Requests writing upload bytes at once; 0 = no limit. Beyond: 429 TOOMANYREQUESTS. */
      readonly concurrentuploads: number;
      /** A connection silent this long is closed (ms), slow-client protection; 0 = never. */
      readonly idletimeout: number;
      /** All request headers must arrive within this (ms): slowloris protection. */
      readonly headertimeout: number;
    };
  };
}

const HOUR = 3_600_000;

export const defaultConfig: Config = {
  version: '0.1',
  log: { level: 'info' },
  http: { addr: '127.0.0.1:5000' },
  auth: {},
  storage: {
    filesystem: { rootdirectory: './data' },
    delete: { enabled: false },
    maintenance: {
      uploadpurging: { enabled: true, age: 168 * HOUR, interval: 24 * HOUR, dryrun: false },
      readonly: { enabled: false },
    },
  },
  quayside: { hashengine: 'auto', workers: 0, limits: { uploadsize: 0, concurrentuploads: 256, idletimeout: 5 * 60_000, headertimeout: 30_000 } },
};

export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug', 'silent'];
