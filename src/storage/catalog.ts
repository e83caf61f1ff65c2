import type { ObjectStore } from './driver.ts';
import { listRepositories } from './repositories.ts';

/**
 * The repository names GET /v2/_catalog answers with, walked from storage at most once per
 * `ttlMs` instead of once per request (issue 10: the walk is one `list` per folder level, and on an
 * object store each is a LIST request). Concurrent requests share one walk.
 *
 * A repository made through this process shows at once: the handlers that can create one (POST
 * of an upload, PUT of a manifest) call `noteWrite`, which drops a snapshot that lacks the name.
 * One made by another process (a replica, docker-registry on the same root) shows within
 * `ttlMs`, as a tag moved elsewhere does (link-cache.ts); a repository removed by hand or by
 * garbage collection disappears within it too.
 */
export class Catalog {
  #snapshot: { readonly names: readonly string[]; readonly known: ReadonlySet<string>; readonly takenAt: number } | undefined;
  /** The walk in flight and the write count it started at: a write since makes the next caller walk anew. */
  #walking: { readonly names: Promise<readonly string[]>; readonly writes: number } | undefined;
  /** Bumped by every write that may have added a repository the snapshot or a walk in flight lacks. */
  #writes = 0;

  constructor(
    private readonly driver: ObjectStore,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Every repository, sorted as strings. */
  names(): Promise<readonly string[]> {
    const snapshot = this.#snapshot;
    if (snapshot && this.now() - snapshot.takenAt < this.ttlMs) return Promise.resolve(snapshot.names);
    if (this.#walking?.writes === this.#writes) return this.#walking.names;
    const walking = { names: this.#walk(this.#writes), writes: this.#writes };
    this.#walking = walking;
    const done = (): void => {
      if (this.#walking === walking) this.#walking = undefined;
    };
    walking.names.then(done, done);
    return walking.names;
  }

  /** A write into `repo` through this process, finished: it is listed from the next call on. */
  noteWrite(repo: string): void {
    if (this.#snapshot?.known.has(repo) === true) return;
    this.#writes++;
    this.#snapshot = undefined;
  }

  async #walk(writes: number): Promise<readonly string[]> {
    const takenAt = this.now();
    const names = await listRepositories(this.driver);
    // A walk that raced a write may have missed the new repository: answer with it, keep it not.
    if (writes === this.#writes) this.#snapshot = { names, known: new Set(names), takenAt };
    return names;
  }
}
