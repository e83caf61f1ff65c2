import { tryParseDigest, type Digest } from '../digest/digest.ts';
import { getContentIfExists, PathNotFoundError, type StorageDriver } from '../storage/driver.ts';
import { paths } from '../storage/paths.ts';

/**
 * Blobs moved aside (`data` → `data~gc`) by a garbage collection that then died.
 *
 * A blob aside is invisible: a pull gets BLOB_UNKNOWN, a HEAD tells a client to upload it again,
 * and a manifest PUT that references it is refused (MANIFEST_BLOB_UNKNOWN). Left there until the
 * next collection (often a daily cron) it would break images that still use it, so it is put back
 * at the next registry start *and* at the next collection (issue 9). Putting back is always safe:
 * at worst a blob nothing references survives until the next collection.
 *
 * Start-up must not walk every blob to find out nothing crashed. So before it moves anything aside a
 * collection writes the digests it is about to move to one journal file (paths.gcAsideJournal),
 * durably, and removes the file when that batch is settled. No journal (the usual case) costs start-up
 * one failed read. A collection also restores any `data~gc` it meets while listing blobs, journal or
 * not (a crash of a build without the journal), which costs it nothing: it lists every blob anyway.
 *
 * One collection at a time per root, as with distribution's garbage-collect. A registry starting while
 * a collection runs may put back blobs the collection moved aside: the collection then finds its
 * `data~gc` gone and keeps the blob (see settle in garbage-collect.ts).
 */
export async function writeAsideJournal(driver: StorageDriver, digests: readonly Digest[]): Promise<void> {
  await driver.putContent(paths.gcAsideJournal, `${digests.map((d) => d.value).join('\n')}\n`);
}

export async function clearAsideJournal(driver: StorageDriver): Promise<void> {
  await driver.delete(paths.gcAsideJournal);
}

/** Puts back every blob the journal names that is still aside, then drops the journal. Returns how many. */
export async function recoverAsideBlobs(driver: StorageDriver): Promise<number> {
  const journal = await getContentIfExists(driver, paths.gcAsideJournal);
  if (journal === undefined) return 0;
  let restored = 0;
  for (const line of journal.toString('utf8').split('\n')) {
    const digest = tryParseDigest(line.trim());
    if (digest && (await restoreAside(driver, digest))) restored++;
  }
  await clearAsideJournal(driver);
  return restored;
}

/**
 * Moves `data~gc` back to `data`; false when nothing was aside. If the blob was uploaded again
 * meanwhile, `data` is there already with the same bytes (content-addressed): the copy aside goes.
 */
export async function restoreAside(driver: StorageDriver, digest: Digest): Promise<boolean> {
  const aside = paths.blobDataAside(digest);
  if (!(await driver.stat(aside))) return false;
  if (await driver.stat(paths.blobData(digest))) {
    await driver.delete(aside);
    return false;
  }
  try {
    await driver.move(aside, paths.blobData(digest));
  } catch (err) {
    if (err instanceof PathNotFoundError) return false; // another process put it back first
    throw err;
  }
  return true;
}
