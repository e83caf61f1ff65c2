import { setTimeout as sleep } from 'node:timers/promises';
import { getContentIfExists, type ObjectStore } from './driver.ts';
import { paths } from './paths.ts';

/**
 * The fence between garbage collection dropping untagged manifests (gc/garbage-collect.ts,
 * deleteUntagged) and manifest PUTs that use one of them again, on every driver, through storage
 * alone (the collection may be another process: `quayside garbage-collect`, another replica).
 *
 * The collection looks at a manifest's revision link, then deletes it. A PUT that tags that
 * manifest again (rewriting the link) or lists it in an index (touching the link) between the
 * look and the delete would be acknowledged with the manifest gone. Nothing in a driver makes
 * "look, then delete" atomic (S3 has no rename), so the two sides take turns through one small
 * object, paths.gcDropFence, `{"epoch":n,"raised":bool,"revisions":["repo@digest",...],"at":ms}`:
 *
 * - the collection, per batch: writes epoch n+1 raised with the batch's revisions, looks at their
 *   links, deletes the unused, writes epoch n+1 lowered. The epoch only grows; the object stays.
 * - a PUT touches or writes the links, then reads the fence, and compares it with a read made
 *   before the links began (the previous PUT's, DropFenceReader). The same epoch both times: no
 *   batch began in between, so any later batch looks at the links after the PUT touched them and
 *   keeps them. Another epoch, or a batch raised over a revision it needs: a batch may have looked
 *   before the touch, so the PUT waits for that batch and does its links again (a link deleted by
 *   then makes the PUT fail as it would have without gc).
 *
 * A fence raised longer than STALE_MS ago is a collection that died mid-batch: PUTs stop waiting
 * for it. A batch is one look and one delete per manifest (DROP_BATCH), far below that on any store.
 */
export const DROP_BATCH = 100;
const STALE_MS = 60_000;
const POLL_MS = 50;

export interface DropFence {
  readonly epoch: number;
  readonly raised: boolean;
  /** `repo@digest` of the batch while raised. */
  readonly revisions: readonly string[];
  /** When the collection wrote it, by its clock (ms). */
  readonly at: number;
}

const NONE: DropFence = { epoch: 0, raised: false, revisions: [], at: 0 };

export function revisionKey(repo: string, digest: string): string {
  return `${repo}@${digest}`;
}

/** The fence as it is now; none written yet (no collection ever dropped a manifest) is epoch 0. */
export async function readDropFence(driver: ObjectStore): Promise<DropFence> {
  const bytes = await getContentIfExists(driver, paths.gcDropFence);
  if (bytes === undefined) return NONE;
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as Partial<DropFence>;
    return {
      epoch: typeof parsed.epoch === 'number' ? parsed.epoch : 0,
      raised: parsed.raised === true,
      revisions: Array.isArray(parsed.revisions) ? parsed.revisions.filter((r): r is string => typeof r === 'string') : [],
      at: typeof parsed.at === 'number' ? parsed.at : 0,
    };
  } catch {
    // A torn write of a crashed collection: nothing to wait for; the next one writes it whole.
    return NONE;
  }
}

export async function writeDropFence(driver: ObjectStore, fence: DropFence): Promise<void> {
  await driver.putContent(paths.gcDropFence, JSON.stringify(fence));
}

/** Whether `fence` lists any of `revisions` in a raised batch (staleness aside). */
function lists(fence: DropFence, revisions: readonly string[]): boolean {
  if (!fence.raised) return false;
  const batch = new Set(fence.revisions);
  return revisions.some((r) => batch.has(r));
}

/** Whether `fence` holds back a PUT that needs any of `revisions` now. */
function holds(fence: DropFence, revisions: readonly string[]): boolean {
  return lists(fence, revisions) && Date.now() - fence.at <= STALE_MS;
}

/**
 * The PUT side, for one ObjectStore. The read before the links may be any read that completed
 * before they began, so each PUT reuses the last one this process made (after the previous PUT's
 * links): one read per PUT, not two, while no collection runs.
 */
export class DropFenceReader {
  private last: DropFence = NONE;

  constructor(private readonly driver: ObjectStore) {}

  /**
   * Runs `links` (a PUT's touches and writes of the revision links `revisions`) so that no drop
   * batch can have looked at them before and deleted them after: again, once that batch is done,
   * when one began while it ran.
   */
  async underFence(revisions: readonly string[], links: () => Promise<void>): Promise<void> {
    let before = this.last;
    for (;;) {
      if (holds(before, revisions)) before = await this.awaitClear(revisions);
      await links();
      const after = await this.read();
      // Same epoch: no batch began between the two reads, so none looked at these links before
      // they were touched, and neither read had a batch over them.
      if (after.epoch === before.epoch && !holds(before, revisions) && !holds(after, revisions)) return;
      before = after;
    }
  }

  /** Reads until the fence does not hold `revisions` back (one raised too long ago does not). */
  private async awaitClear(revisions: readonly string[]): Promise<DropFence> {
    for (;;) {
      const fence = await this.read();
      if (!holds(fence, revisions)) return fence;
      await sleep(POLL_MS);
    }
  }

  private async read(): Promise<DropFence> {
    const fence = await readDropFence(this.driver);
    this.last = fence;
    return fence;
  }
}
