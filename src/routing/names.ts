/**
 * The spec's grammars (spec "Pulling manifests", `<name>` and `<reference>`). Anything that fails
 * them is refused before it can reach a storage path, so '..', '%2e%2e' and friends never do.
 */
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** distribution's limit on a whole repository name (reference.NameTotalLengthMax). */
export const NAME_MAX_LENGTH = 255;

export function isValidName(name: string): boolean {
  return name.length <= NAME_MAX_LENGTH && NAME.test(name);
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}
