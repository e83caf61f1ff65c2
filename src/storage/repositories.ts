import type { ObjectStore } from './driver.ts';
import { paths, REPOSITORY_MARKERS } from './paths.ts';

/**
 * Every repository name under repositories/: a folder holding `_layers`, `_manifests` or
 * `_uploads` is a repository (distribution registry/storage/catalog.go). Sorted as strings.
 */
export async function listRepositories(driver: ObjectStore): Promise<string[]> {
  const found: string[] = [];
  const walk = async (prefix: string): Promise<void> => {
    const children = await driver.list(paths.repositoriesUnder(prefix));
    if (prefix !== '' && children.some((c) => (REPOSITORY_MARKERS as readonly string[]).includes(c))) found.push(prefix);
    for (const child of children) {
      if (child.startsWith('_')) continue;
      await walk(prefix === '' ? child : `${prefix}/${child}`);
    }
  };
  await walk('');
  return found.sort();
}

/** A repository exists when its folder holds one of the markers, not merely as a prefix of another. */
export async function repositoryExists(driver: ObjectStore, repo: string): Promise<boolean> {
  const children = await driver.list(paths.repository(repo));
  return children.some((c) => (REPOSITORY_MARKERS as readonly string[]).includes(c));
}
