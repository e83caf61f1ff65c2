import { execFile, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Driver } from '../../src/storage/s3/driver.ts';
import type { S3Params } from '../../src/storage/s3/params.ts';
import { repoRoot } from './targets.ts';

/**
 * The S3 service of the S3 benchmarks: a Ceph RGW from scripts/s3-ceph.sh, the one the tests use.
 * When S3_ENDPOINT (and the other S3_* variables s3-ceph.sh prints) are set, that service is used
 * and left running; otherwise `s3-ceph.sh start` brings one up (its S3_CEPH_DIR / S3_CEPH_PORT /
 * S3_CEPH_MON_PORT / S3_CEPH_SIZE_GB pass through: pick your own instance on a shared machine) and
 * `release()` stops it. Its own module, not test/helpers/s3.ts: the bench does not depend on test
 * internals.
 */
export interface S3Service {
  /** distribution-style parameters, without rootdirectory (one per target). */
  readonly params: S3Params;
  /** The cluster's folder (pid files, ceph.conf), when it is the endpoint's: RGW CPU and forced gc need it. */
  readonly cephDir: string | undefined;
  /** user + system CPU seconds of the cluster's daemons (radosgw, ceph-osd, ceph-mon, ceph-mgr); undefined when their pids are unknown. */
  cpuSeconds(): Promise<number | undefined>;
  /** Deletes every object under `rootdirectory` and has RGW reclaim the space at once (memstore keeps data in RAM). */
  clear(rootdirectory: string): Promise<void>;
  release(): Promise<void>;
}

const SCRIPT = join(repoRoot, 'scripts', 's3-ceph.sh');
const TICKS_PER_SECOND = 100;

function variablesOf(text: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^(S3_[A-Z0-9_]+)=(.*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) found[match[1]] = match[2];
  }
  return found;
}

export async function acquireS3(log: (text: string) => void): Promise<S3Service> {
  let vars: Record<string, string>;
  let started = false;
  const endpoint = process.env['S3_ENDPOINT'];
  if (endpoint !== undefined && endpoint !== '') {
    vars = variablesOf(Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`).join('\n'));
    log(`S3: using ${endpoint} from the environment (left running)`);
  } else {
    log(`S3: starting Ceph RGW (scripts/s3-ceph.sh start, S3_CEPH_DIR=${process.env['S3_CEPH_DIR'] ?? '/tmp/s3-ceph'})`);
    const result = spawnSync('bash', [SCRIPT, 'start'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (result.status !== 0) throw new Error(`scripts/s3-ceph.sh start exited ${String(result.status ?? result.signal)}`);
    vars = variablesOf(result.stdout);
    started = true;
    // Ctrl-C during a run: the cluster we started goes too (its daemons are not our children).
    process.once('SIGINT', () => {
      spawnSync('bash', [SCRIPT, 'stop'], { cwd: repoRoot, stdio: 'inherit' });
      process.exit(130);
    });
  }
  const params: S3Params = {
    region: vars['S3_REGION'] ?? 'us-east-1',
    regionendpoint: vars['S3_ENDPOINT'] ?? 'http://127.0.0.1:7480',
    bucket: vars['S3_BUCKET'] ?? 'test-bucket',
    accesskey: vars['S3_ACCESS_KEY'] ?? '',
    secretkey: vars['S3_SECRET_KEY'] ?? '',
    forcepathstyle: (vars['S3_FORCE_PATH_STYLE'] ?? 'true') === 'true',
  };
  const cephDir = await clusterDirOf(process.env['S3_CEPH_DIR'] ?? '/tmp/s3-ceph', params.regionendpoint ?? '');
  if (cephDir === undefined) log('S3: the cluster behind the endpoint is not S3_CEPH_DIR\'s: no RGW CPU figures, no forced gc');
  const pidFiles = cephDir === undefined ? [] : ['client', 'osd', 'mon', 'mgr'].map((daemon) => join(cephDir, 'run', `${daemon}.pid`));
  return {
    params,
    cephDir,
    async cpuSeconds() {
      let total = 0;
      let found = 0;
      for (const file of pidFiles) {
        const pid = (await readFile(file, 'utf8').catch(() => '')).trim();
        if (pid === '') continue;
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (fields.length < 13) continue;
        total += (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
        found++;
      }
      return found > 0 ? total : undefined;
    },
    async clear(rootdirectory) {
      const driver = new S3Driver({ ...params, rootdirectory });
      try {
        await driver.delete('/');
      } finally {
        driver.close();
      }
      if (cephDir === undefined) return;
      // RGW only queues deleted data for its garbage collector (rgw gc obj min wait: 60 s in
      // s3-ceph.sh); on memstore that is RAM the next target needs. Reclaim it now.
      await new Promise<void>((resolve) =>
        execFile('radosgw-admin', ['-c', join(cephDir, 'ceph.conf'), 'gc', 'process', '--include-all'], { timeout: 120_000 }, (err) => {
          if (err) log(`S3: radosgw-admin gc process failed (space comes back within ~2 min anyway): ${err.message.split('\n')[0] ?? ''}`);
          resolve();
        }),
      );
    },
    async release() {
      if (started) spawnSync('bash', [SCRIPT, 'stop'], { cwd: repoRoot, stdio: 'inherit' });
    },
  };
}

/** `dir` when its ceph.conf serves `endpoint` (`rgw frontends = beast endpoint=host:port`), else undefined. */
async function clusterDirOf(dir: string, endpoint: string): Promise<string | undefined> {
  const conf = await readFile(join(dir, 'ceph.conf'), 'utf8').catch(() => '');
  const served = /endpoint=(\S+)/.exec(conf)?.[1];
  return served !== undefined && endpoint.replace(/^https?:\/\//, '').replace(/\/$/, '') === served ? dir : undefined;
}

/** REGISTRY_* variables that put Quayside on `params` under `rootdirectory`, pulls streamed through it. */
export function quaysideS3Env(params: S3Params, rootdirectory: string): Record<string, string> {
  const env: Record<string, string> = {
    REGISTRY_STORAGE: 's3',
    REGISTRY_STORAGE_S3_REGION: params.region,
    REGISTRY_STORAGE_S3_BUCKET: params.bucket,
    REGISTRY_STORAGE_S3_ROOTDIRECTORY: rootdirectory,
    REGISTRY_STORAGE_S3_FORCEPATHSTYLE: String(params.forcepathstyle ?? true),
    REGISTRY_STORAGE_REDIRECT_DISABLE: 'true',
  };
  if (params.regionendpoint !== undefined) {
    env['REGISTRY_STORAGE_S3_REGIONENDPOINT'] = params.regionendpoint;
    env['REGISTRY_STORAGE_S3_SECURE'] = String(!params.regionendpoint.startsWith('http://'));
  }
  if (params.accesskey !== undefined) env['REGISTRY_STORAGE_S3_ACCESSKEY'] = params.accesskey;
  if (params.secretkey !== undefined) env['REGISTRY_STORAGE_S3_SECRETKEY'] = params.secretkey;
  if (params.chunksize !== undefined) env['REGISTRY_STORAGE_S3_CHUNKSIZE'] = String(params.chunksize);
  return env;
}
