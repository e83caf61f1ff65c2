import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * The web UI's static files (issue 11, "A web page"): one HTML page, one script, one stylesheet
 * and an icon, read from src/ui/assets/ once, on the first UI request, so a registry that is never
 * browsed never reads them and the API pays nothing for them.
 *
 * The script, stylesheet and icon are served under names that carry a hash of their bytes
 * (`app.3f2a…e1.js`), so they can be cached for a year (`immutable`): a new version is a new name.
 * The page itself is `no-cache`: the browser revalidates it on every load with its ETag (a 304
 * when unchanged), and so always learns the current asset names. No build step: the files are
 * served as written; the hashed names are put into the page here.
 */

/** Both from src/ui/ (tsx) and from dist/ui/ (a build), the package root is two levels up. */
const ASSET_DIR = fileURLToPath(new URL('../../src/ui/assets/', import.meta.url));

/** The files the page links to, by the name index.html uses for them. */
const LINKED_FILES = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
} as const satisfies Record<string, string>;

const PAGE_FILE = 'index.html';

/** Immutable: the name changes with the bytes (RFC 8246). */
const CACHE_HASHED = 'public, max-age=31536000, immutable';
/** Stored but revalidated on every use (RFC 9111 §5.2.2.4), so a new release shows at once. */
const CACHE_PAGE = 'no-cache';

export interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  /** A strong validator: a quoted prefix of the body's SHA-256. */
  readonly etag: string;
  readonly cacheControl: string;
}

export interface UiAssets {
  /** GET /ui/ */
  readonly page: Asset;
  /** By the hashed file name under /ui/ (`app.<hash>.js`). */
  readonly byName: ReadonlyMap<string, Asset>;
}

function hashOf(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function hashedName(file: string, hash: string): string {
  const dot = file.lastIndexOf('.');
  return `${file.slice(0, dot)}.${hash.slice(0, 16)}${file.slice(dot)}`;
}

function asset(body: Buffer, contentType: string, cacheControl: string, hash = hashOf(body)): Asset {
  return { body, contentType, etag: `"${hash.slice(0, 32)}"`, cacheControl };
}

/** Reads the files and rewrites the page's `"app.js"`-style references to their hashed names. */
export async function readUiAssets(dir: string = ASSET_DIR): Promise<UiAssets> {
  const byName = new Map<string, Asset>();
  let page = await readFile(`${dir}/${PAGE_FILE}`, 'utf8');
  for (const [file, contentType] of Object.entries(LINKED_FILES)) {
    const body = await readFile(`${dir}/${file}`);
    const hash = hashOf(body);
    const name = hashedName(file, hash);
    byName.set(name, asset(body, contentType, CACHE_HASHED, hash));
    page = page.replaceAll(`"${file}"`, `"/ui/${name}"`);
  }
  return { page: asset(Buffer.from(page), 'text/html; charset=utf-8', CACHE_PAGE), byName };
}

let loaded: Promise<UiAssets> | undefined;

/** The assets, read on first use and kept; a failed read is retried by the next request. */
export function uiAssets(): Promise<UiAssets> {
  loaded ??= readUiAssets().catch((err: unknown) => {
    loaded = undefined;
    throw err;
  });
  return loaded;
}
