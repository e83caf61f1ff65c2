import { createHash } from 'node:crypto';
import { contentBytes, derive, Prng } from './prng.ts';

/**
 * What the crash test knows about the registry: per lane (one repository each, one operation at
 * a time), every blob, manifest, tag and open upload, and how sure it is. An acknowledged write
 * is 'present' (or 'absent' for an acknowledged delete); a write whose connection broke under a
 * kill is 'maybe' until the next restart looks. Invariants are checked against this.
 */
export type Presence = 'present' | 'absent' | 'maybe';

export interface BlobSpec {
  readonly seed: number;
  readonly size: number;
  readonly digest: string;
}

export interface BlobState {
  readonly spec: BlobSpec;
  presence: Presence;
  /** Acknowledged (201) at least once: counts as an acknowledged object when verified. */
  acked: boolean;
  /** Checked by a restart since it last changed. */
  checked: boolean;
}

export interface ManifestState {
  readonly digest: string;
  readonly bytes: Buffer;
  presence: Presence;
  acked: boolean;
  checked: boolean;
}

export interface TagState {
  /** The tag's last acknowledged target (null: no tag), or what the last restart found. */
  current: string | null;
  /** What a restart may find: `current` plus the effect of an operation a kill cut short. */
  readonly possible: Set<string | null>;
  acked: boolean;
}

export interface UploadState {
  readonly location: string;
  readonly id: string;
  readonly spec: BlobSpec;
  /** Bytes a 202 acknowledged: a restart must still have them. */
  durable: number;
  /** Bytes the server may have received: a restart may not have more. */
  sent: number;
  /** A PUT ?digest= ('commit') or DELETE ('cancel') was cut short: the upload may be gone, or half gone. */
  ending: 'commit' | 'cancel' | undefined;
  /** Kills this upload was open across. */
  kills: number;
}

export class LaneState {
  readonly repo: string;
  readonly blobs = new Map<string, BlobState>();
  readonly manifests = new Map<string, ManifestState>();
  readonly tags = new Map<string, TagState>();
  /** Uploads with a Location and no 201 yet. */
  readonly uploads = new Set<UploadState>();
  /** Uploads found resumable at a restart, left for this lane to finish under the next kill. */
  carried: UploadState[] = [];
  manifestCounter = 0;

  constructor(readonly index: number) {
    this.repo = `crash/lane${index}`;
    for (const tag of ['v0', 'v1', 'v2']) this.tags.set(tag, { current: null, possible: new Set([null]), acked: false });
  }

  present<T extends { presence: Presence }>(map: Map<string, T>): T[] {
    return [...map.values()].filter((v) => v.presence === 'present');
  }
}

export interface Stats {
  kills: number;
  /** Distinct acknowledged objects (blobs, manifests, tags) verified after at least one kill. */
  readonly verifiedObjects: Set<string>;
  checks: number;
  resumed: number;
  gone: number;
  /** Gone without a PUT or DELETE cut short: allowed, reported. */
  goneUnexplained: number;
  fiveHundreds: number;
  /** Requests a kill cut short, by kind. */
  readonly cutShort: Map<string, number>;
  /** What a restart found in the upload directories of open uploads. */
  readonly uploadStates: Map<string, number>;
  /** Blobs and manifests a cut-short write or delete left uncertain, as the restart found them. */
  uncertainFoundPresent: number;
  uncertainFoundAbsent: number;
  /** Temp files (`~tmp-`) a kill left in blobs/: never visible, counted for the record. */
  leftoverTemps: number;
  /** S3: multipart uploads of uploads no client knows of (a POST cut short), left for the purge. */
  uploadsKeptForPurge: number;
}

export function newStats(): Stats {
  return {
    kills: 0,
    verifiedObjects: new Set(),
    checks: 0,
    resumed: 0,
    gone: 0,
    goneUnexplained: 0,
    fiveHundreds: 0,
    cutShort: new Map(),
    uploadStates: new Map(),
    uncertainFoundPresent: 0,
    uncertainFoundAbsent: 0,
    leftoverTemps: 0,
    uploadsKeptForPurge: 0,
  };
}

export function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export interface Failure {
  /** The kill point (0-based) after which the check ran; -1 before the first kill. */
  readonly step: number;
  readonly plan: string;
  /** A short stable name of what failed, for KNOWN_ISSUES. */
  readonly check: string;
  readonly detail: string;
}

/** Blobs everyone may push: a lane sometimes pushes another lane's bytes (same digest, other repo). */
export class World {
  readonly lanes: LaneState[];
  readonly shared: BlobSpec[] = [];
  private blobCounter = 0;

  constructor(
    readonly seed: number,
    laneCount: number,
  ) {
    this.lanes = Array.from({ length: laneCount }, (_, i) => new LaneState(i));
  }

  /**
   * Sizes: mostly tens to hundreds of KiB, some up to 3 MiB, a few over the 4 MiB worker batch.
   * The bytes are not kept: `contentBytes(spec.seed, spec.size)` makes them again.
   */
  newBlob(prng: Prng): BlobSpec {
    const kind = prng.weighted({ small: 80, medium: 16, large: 4 });
    const size = kind === 'small' ? prng.logUniform(10 * 1024, 512 * 1024) : kind === 'medium' ? prng.logUniform(512 * 1024, 3 * 1024 * 1024) : prng.int(4 * 1024 * 1024 + 1, 6 * 1024 * 1024);
    const seed = derive(this.seed, 'blob', this.blobCounter++);
    const spec = { seed, size, digest: `sha256:${createHash('sha256').update(contentBytes(seed, size)).digest('hex')}` };
    if (this.shared.length < 64) this.shared.push(spec);
    else this.shared[prng.int(0, this.shared.length - 1)] = spec;
    return spec;
  }
}
