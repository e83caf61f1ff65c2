// @ts-check
// Quayside's web UI: a read-only view of the registry, read through the registry's own API
// (same-origin fetch of /v2/...), so whatever auth the API asks for applies here too: under
// auth.htpasswd the browser answers the API's 401 `WWW-Authenticate: Basic` with its login prompt.
//
// No framework, no build step: this file is served as written (src/ui/assets.ts gives it a hashed
// name). Everything is built with createElement/textContent, never innerHTML: repository names,
// tags and annotations come from whoever pushed, and must never become markup. The page's CSP
// (`script-src 'self'; style-src 'self'`) forbids inline script and style, so nothing here sets a
// `style` attribute either; classes and `hidden` do that work.
//
// Views, by the location's hash (names contain '/', never ':' or '@', so these parse as docker
// references do):  #/            repositories, with search
//                  #/<name>      its tags: digest, media type, platforms, size, created, referrers
//                  #/<name>:<tag> and #/<name>@<digest>   one manifest: layers, config, platforms,
//                                 referrers, and the docker pull / skopeo copy lines
'use strict';

const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  schema1: 'application/vnd.docker.distribution.manifest.v1+json',
  schema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
};
/** Every manifest type we can show, for the Accept of a manifest GET (spec "Pulling manifests"). */
const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest, MEDIA.schema1Signed, MEDIA.schema1].join(', ');
const PAGE_SIZE = 1000; // n= for _catalog and tags/list; the Link header gives the next page
const TAGS_SHOWN = 50; // rows detailed at first; "Show more" adds as many again
const CONCURRENT_REQUESTS = 4;
const CREATED_NOTE = "Created: the image config's `created` field, i.e. when the image was built. " +
  'The registry API records no push time, so none is shown.';

/** @typedef {{ mediaType?: string, digest: string, size: number, artifactType?: string, annotations?: Record<string, string>, platform?: Platform }} Descriptor */
/** @typedef {{ architecture?: string, os?: string, variant?: string, 'os.version'?: string }} Platform */
/** @typedef {{ schemaVersion?: number, mediaType?: string, artifactType?: string, config?: Descriptor, layers?: Descriptor[], manifests?: Descriptor[], subject?: Descriptor, annotations?: Record<string, string>, fsLayers?: { blobSum: string }[], architecture?: string }} Manifest */
/** @typedef {{ digest: string, mediaType: string, size: number, json: Manifest, text: string }} FetchedManifest */
/** @typedef {{ created?: string, architecture?: string, os?: string, variant?: string, author?: string, config?: { Entrypoint?: string[] | null, Cmd?: string[] | null, WorkingDir?: string, User?: string, Labels?: Record<string, string> | null, Env?: string[] | null }, history?: { created_by?: string, empty_layer?: boolean }[] }} ImageConfig */

// ---------------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  /** @param {number} status @param {string} message @param {string} [code] */
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * A same-origin GET of the registry API. Credentials the browser holds for this origin go along
 * (fetch's default, `same-origin`); a 401 with a Basic challenge makes the browser ask for them.
 * @param {string} path @param {Record<string, string>} headers @param {AbortSignal} signal
 */
async function api(path, headers, signal) {
  const res = await fetch(path, { headers, signal, credentials: 'same-origin', cache: 'no-cache' });
  if (res.ok) return res;
  throw await apiError(res);
}

/** @param {Response} res */
async function apiError(res) {
  let code;
  let message = `${res.status} ${res.statusText}`;
  try {
    /** @type {{ errors?: { code?: string, message?: string, detail?: unknown }[] }} */
    const body = await res.json();
    const first = body.errors?.[0];
    if (first) {
      code = first.code;
      message = `${first.code ?? ''}: ${first.message ?? ''}`;
    }
  } catch {
    // not an OCI error body; the status says enough
  }
  if (res.status === 401) {
    const challenge = res.headers.get('www-authenticate') ?? '';
    message = /^bearer/i.test(challenge)
      ? 'This registry uses token authentication (auth.token). A browser cannot fetch a token by itself, so this page can only show registries that use HTTP Basic (auth.htpasswd) or no auth.'
      : 'Sign-in needed: the registry asked for a username and password (HTTP Basic). Reload the page to be asked again.';
  } else if (res.status === 403) {
    message = `Access denied (${message}).`;
  }
  return new ApiError(res.status, message, code);
}

/**
 * Every entry of a paginated list (end-8b, catalog): follows `Link: <...>; rel="next"`.
 * @param {string} path @param {'repositories' | 'tags'} key @param {AbortSignal} signal
 */
async function listAll(path, key, signal) {
  /** @type {string[]} */
  const all = [];
  let next = `${path}?n=${PAGE_SIZE}`;
  for (let page = 0; next && page < 1000; page++) {
    const res = await api(next, {}, signal);
    /** @type {Record<string, string[] | null | undefined>} */
    const body = await res.json();
    all.push(...(body[key] ?? []));
    next = nextLink(res.headers.get('link'));
  }
  return all;
}

/** @param {string | null} link @returns {string} a same-origin path, or '' */
function nextLink(link) {
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link ?? '');
  if (!match || !match[1]) return '';
  const url = new URL(match[1], location.href);
  return url.origin === location.origin ? url.pathname + url.search : '';
}

/** @param {string} name @param {string} reference @param {AbortSignal} signal @returns {Promise<FetchedManifest>} */
async function getManifest(name, reference, signal) {
  const res = await api(`/v2/${name}/manifests/${reference}`, { accept: MANIFEST_ACCEPT }, signal);
  const text = await res.text();
  /** @type {Manifest} */
  const json = JSON.parse(text);
  const mediaType = (res.headers.get('content-type') ?? json.mediaType ?? '').split(';')[0]?.trim() ?? '';
  const digest = res.headers.get('docker-content-digest') ?? (reference.includes(':') ? reference : '');
  return { digest, mediaType, size: new TextEncoder().encode(text).length, json, text };
}

/**
 * The image config. Under s3 storage with redirects, the registry answers this page's blob GETs
 * itself (it sees `Sec-Fetch-Site: same-origin`) instead of a 307 to the bucket, which the page's
 * CSP (connect-src 'self') would refuse; should a config still be unreadable, the caller says so.
 * @param {string} name @param {Descriptor} descriptor @param {AbortSignal} signal @returns {Promise<ImageConfig>}
 */
async function getConfig(name, descriptor, signal) {
  const res = await api(`/v2/${name}/blobs/${descriptor.digest}`, {}, signal);
  return res.json();
}

/** @param {string} name @param {string} digest @param {AbortSignal} signal @returns {Promise<Descriptor[]>} */
async function getReferrers(name, digest, signal) {
  const res = await api(`/v2/${name}/referrers/${digest}`, {}, signal);
  /** @type {Manifest} */
  const index = await res.json();
  return index.manifests ?? [];
}

// ---------------------------------------------------------------------------------------------
// What a manifest says

/** @param {string} mediaType */
function isIndex(mediaType) {
  return mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList;
}

/** @param {FetchedManifest} m */
function manifestKind(m) {
  if (isIndex(m.mediaType)) return 'index';
  if (m.mediaType === MEDIA.schema1 || m.mediaType === MEDIA.schema1Signed) return 'schema1';
  return 'image';
}

/** @param {Platform | undefined} p */
function platformText(p) {
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/') + (p['os.version'] ? ` (${p['os.version']})` : '');
}

/** buildx's attestation manifests sit in an index as platform unknown/unknown. @param {Descriptor} d */
function isAttestation(d) {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}

/** What a referrer is, in words, from its artifactType (or its config's media type). @param {Descriptor} d */
function referrerKind(d) {
  const type = (d.artifactType ?? d.mediaType ?? '').toLowerCase();
  if (type.includes('cosign') && type.includes('sig')) return 'signature (cosign)';
  if (type.includes('notary') || type.includes('notation')) return 'signature (Notation)';
  if (type.includes('signature') || type.includes('.sig')) return 'signature';
  if (type.includes('spdx')) return 'SBOM (SPDX)';
  if (type.includes('cyclonedx')) return 'SBOM (CycloneDX)';
  if (type.includes('sbom')) return 'SBOM';
  if (type.includes('in-toto') || type.includes('attestation') || type.includes('provenance')) return 'attestation';
  return 'artifact';
}

/**
 * Size of what a pull of this manifest downloads (compressed, as stored): config + layers of an
 * image; for an index, every distinct blob of its platforms' images (the manifests are fetched).
 * @param {string} name @param {FetchedManifest} m @param {AbortSignal} signal
 * @returns {Promise<{ bytes: number, children: Map<string, FetchedManifest> }>}
 */
async function totalSize(name, m, signal) {
  /** @type {Map<string, FetchedManifest>} */
  const children = new Map();
  /** @type {Map<string, number>} */
  const blobs = new Map();
  /** @param {Manifest} json */
  const addImage = (json) => {
    for (const d of [json.config, ...(json.layers ?? [])]) if (d) blobs.set(d.digest, d.size);
  };
  if (isIndex(m.mediaType)) {
    const entries = m.json.manifests ?? [];
    await eachLimited(entries, async (d) => {
      if (isIndex(d.mediaType ?? '')) return; // nested indexes: not followed
      const child = await getManifest(name, d.digest, signal);
      children.set(d.digest, child);
      addImage(child.json);
    });
  } else {
    addImage(m.json);
  }
  let bytes = 0;
  for (const size of blobs.values()) bytes += Number(size) || 0;
  return { bytes, children };
}

/**
 * When the image was built: the config's `created`; for an index, the newest of its platforms'.
 * undefined when no config could be read (artifacts, s3 redirects, no `created`).
 * @param {string} name @param {FetchedManifest} m @param {Map<string, FetchedManifest>} children @param {AbortSignal} signal
 */
async function createdOf(name, m, children, signal) {
  const images = isIndex(m.mediaType) ? [...children.values()] : [m];
  /** @type {string | undefined} */
  let newest;
  await eachLimited(images, async (image) => {
    const config = image.json.config;
    if (!config || !isImageConfig(config.mediaType)) return;
    const created = (await getConfig(name, config, signal).catch(() => /** @type {ImageConfig} */ ({}))).created;
    if (created && (!newest || Date.parse(created) > Date.parse(newest))) newest = created;
  });
  return newest;
}

/** @param {string | undefined} mediaType */
function isImageConfig(mediaType) {
  return mediaType === 'application/vnd.oci.image.config.v1+json' || mediaType === 'application/vnd.docker.container.image.v1+json';
}

/**
 * Runs `fn` over `items`, a few at a time (the registry is shared; a repository with hundreds of
 * tags must not open hundreds of requests at once).
 * @template T @param {readonly T[]} items @param {(item: T) => Promise<void>} fn
 */
async function eachLimited(items, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = /** @type {T} */ (items[next++]);
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_REQUESTS, items.length) }, worker));
}

// ---------------------------------------------------------------------------------------------
// DOM helpers

/**
 * @param {string} tag
 * @param {Record<string, string | boolean | ((ev: Event) => void)>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (typeof value === 'function') node.addEventListener(key.replace(/^on/, ''), value);
    else if (value === true) node.setAttribute(key, '');
    else if (value !== false) node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

/** @param {number} bytes */
function formatSize(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** @param {number} bytes */
function sizeCell(bytes) {
  return el('span', { title: `${bytes} bytes`, 'data-bytes': String(bytes) }, formatSize(bytes));
}

/** A digest shortened for the eye, whole in its title and data attribute. @param {string} digest */
function digestCode(digest) {
  const [algorithm = '', hex = ''] = digest.split(':');
  return el('code', { class: 'digest', title: digest, 'data-digest': digest }, hex.length > 12 ? `${algorithm}:${hex.slice(0, 12)}…` : digest);
}

/** @param {string | undefined} iso */
function formatTime(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toISOString().replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
}

/** @param {string} name @param {string} [reference] like ':latest' or '@sha256:…' */
function href(name, reference = '') {
  return `#/${name}${reference}`;
}

/** @param {string} digest */
function refByDigest(digest) {
  return `@${digest}`;
}

/** @param {unknown} err */
function errorBox(err) {
  const message = err instanceof Error ? err.message : String(err);
  return el('p', { class: 'error', role: 'alert' }, message);
}

/** @param {Record<string, string> | undefined} annotations */
function annotationList(annotations) {
  const entries = Object.entries(annotations ?? {});
  if (entries.length === 0) return null;
  return el('dl', { class: 'annotations' }, ...entries.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

/**
 * A command with a copy button. The Clipboard API needs a secure context (https or localhost);
 * elsewhere the text is selected for Ctrl-C.
 * @param {string} label @param {string} command
 */
function copyLine(label, command) {
  const input = /** @type {HTMLInputElement} */ (el('input', { type: 'text', readonly: true, value: command, class: 'command', 'aria-label': label, spellcheck: 'false' }));
  const status = el('span', { class: 'copied', 'aria-live': 'polite' });
  const copy = async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(command);
      status.textContent = 'copied';
    } catch {
      status.textContent = 'selected: press Ctrl-C';
    }
  };
  return el('div', { class: 'copyline' }, el('span', { class: 'label' }, label), input, el('button', { type: 'button', onclick: copy }, 'Copy'), status);
}

/** @param {string} label @param {Node | string} value */
function fact(label, value) {
  return [el('dt', {}, label), el('dd', {}, value)];
}

// ---------------------------------------------------------------------------------------------
// Views

const view = /** @type {HTMLElement} */ (document.getElementById('view'));
const crumbs = /** @type {HTMLElement} */ (document.getElementById('crumbs'));
/** @type {AbortController | undefined} */
let current;

/** The hash as a view: { name, tag } or { name, digest }; no name = the repository list. @param {string} hash */
function parseRoute(hash) {
  const path = decodeURIComponent(hash.replace(/^#\/?/, ''));
  const at = path.indexOf('@');
  if (at !== -1) return { name: path.slice(0, at), tag: '', digest: path.slice(at + 1) };
  const colon = path.lastIndexOf(':');
  if (colon !== -1 && !path.slice(colon).includes('/')) return { name: path.slice(0, colon), tag: path.slice(colon + 1), digest: '' };
  return { name: path.replace(/\/+$/, ''), tag: '', digest: '' };
}

async function render() {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const route = parseRoute(location.hash);
  view.dataset['state'] = 'loading';
  view.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
  setCrumbs(route);
  document.title = route.name ? `${route.name}${route.tag ? `:${route.tag}` : ''} · Quayside` : 'Quayside';
  try {
    if (!route.name) await renderRepositories(controller.signal);
    else if (route.tag || route.digest) await renderManifest(route.name, route.tag, route.digest, controller.signal);
    else await renderTags(route.name, controller.signal);
    if (controller.signal.aborted) return;
    // For whoever waits on the page (the browser test, a script): this view, fully read.
    view.dataset['route'] = location.hash;
    view.dataset['state'] = 'ready';
  } catch (err) {
    if (controller.signal.aborted) return;
    view.replaceChildren(errorBox(err));
    view.dataset['route'] = location.hash;
    view.dataset['state'] = 'error';
  }
}

/** @param {{ name: string, tag: string, digest: string }} route */
function setCrumbs(route) {
  const parts = [el('a', { href: '#/' }, 'Repositories')];
  if (route.name) parts.push(el('span', { class: 'sep' }, '/'), el('a', { href: href(route.name) }, route.name));
  if (route.tag) parts.push(el('span', { class: 'sep' }, ':'), el('span', {}, route.tag));
  if (route.digest) parts.push(el('span', { class: 'sep' }, '@'), digestCode(route.digest));
  crumbs.replaceChildren(...parts);
}

/** #/ — every repository (GET /v2/_catalog, all pages), filtered as you type. @param {AbortSignal} signal */
async function renderRepositories(signal) {
  const names = await listAll('/v2/_catalog', 'repositories', signal);
  const search = /** @type {HTMLInputElement} */ (el('input', { type: 'search', id: 'search', placeholder: 'Search repositories', 'aria-label': 'Search repositories', autocomplete: 'off' }));
  const count = el('p', { class: 'muted', id: 'repo-count' });
  const list = el('ul', { class: 'repos', id: 'repos' });
  const show = () => {
    const query = search.value.trim().toLowerCase();
    const shown = query ? names.filter((n) => n.toLowerCase().includes(query)) : names;
    list.replaceChildren(...shown.map((n) => el('li', { 'data-repo': n }, el('a', { href: href(n) }, n))));
    count.textContent = query ? `${shown.length} of ${names.length} repositories match “${search.value.trim()}”` : `${names.length} repositories`;
  };
  search.addEventListener('input', show);
  show();
  view.replaceChildren(el('h1', {}, 'Repositories'), search, count, list);
  if (names.length === 0) view.append(el('p', { class: 'muted' }, 'Nothing has been pushed yet.'));
  search.focus();
}

/** #/<name> — the tags, each with what its manifest says. @param {string} name @param {AbortSignal} signal */
async function renderTags(name, signal) {
  const tags = await listAll(`/v2/${name}/tags/list`, 'tags', signal);
  const body = el('tbody', {});
  const table = el(
    'table',
    { class: 'tags', id: 'tags' },
    el('thead', {}, el('tr', {}, ...['Tag', 'Digest', 'Media type', 'Platforms', 'Size', 'Created', 'Referrers'].map((h) => el('th', { scope: 'col', ...(h === 'Created' ? { title: CREATED_NOTE } : {}) }, h)))),
    body,
  );
  const more = el('button', { type: 'button', class: 'more', hidden: true }, 'Show more');
  view.replaceChildren(
    el('h1', {}, name),
    el('p', { class: 'muted' }, `${tags.length} tag${tags.length === 1 ? '' : 's'}`),
    copyLine('Pull', `docker pull ${location.host}/${name}:${tags.includes('latest') ? 'latest' : (tags[0] ?? 'latest')}`),
    table,
    more,
    el('p', { class: 'note' }, CREATED_NOTE),
  );
  let shown = 0;
  const showMore = async () => {
    const batch = tags.slice(shown, shown + TAGS_SHOWN);
    shown += batch.length;
    more.hidden = shown >= tags.length;
    const rows = batch.map((tag) => tagRow(name, tag));
    body.append(...rows.map((r) => r.row));
    await eachLimited(rows, (r) => r.fill(signal));
  };
  more.addEventListener('click', () => {
    view.dataset['state'] = 'loading';
    showMore().then(() => { if (!signal.aborted) view.dataset['state'] = 'ready'; }, () => undefined);
  });
  await showMore();
}

/** One row of the tag table, filled once its manifest (and children, config, referrers) are read. @param {string} name @param {string} tag */
function tagRow(name, tag) {
  const cells = Array.from({ length: 6 }, () => el('td', {}, el('span', { class: 'muted' }, '…')));
  const row = el('tr', { 'data-tag': tag }, el('td', {}, el('a', { href: href(name, `:${tag}`) }, tag)), ...cells);
  /** @param {number} i @param {...(Node | string)} content */
  const set = (i, ...content) => cells[i]?.replaceChildren(...content);
  /** @param {AbortSignal} signal */
  const fill = async (signal) => {
    try {
      const m = await getManifest(name, tag, signal);
      set(0, digestCode(m.digest));
      set(1, el('span', { class: 'media' }, m.mediaType));
      if (isIndex(m.mediaType)) {
        const entries = m.json.manifests ?? [];
        const platforms = entries.filter((d) => !isAttestation(d)).map((d) => el('span', { class: 'platform' }, platformText(d.platform)));
        set(2, ...(platforms.length ? platforms : ['—']));
      } else {
        set(2, el('span', { class: 'platform' }, m.json.architecture ?? '—'));
      }
      const size = await totalSize(name, m, signal);
      set(3, sizeCell(size.bytes));
      const [created, referrers] = await Promise.all([
        createdOf(name, m, size.children, signal),
        m.digest ? getReferrers(name, m.digest, signal).catch(() => /** @type {Descriptor[]} */ ([])) : Promise.resolve([]),
      ]);
      set(4, el('time', created ? { datetime: created } : {}, formatTime(created)));
      set(5, referrers.length ? el('a', { href: href(name, refByDigest(m.digest)), class: 'refcount' }, String(referrers.length)) : '0');
      if (!isIndex(m.mediaType)) await fillPlatform(name, m, signal, (text) => set(2, el('span', { class: 'platform' }, text)));
    } catch (err) {
      if (signal.aborted) throw err;
      set(0, errorBox(err));
    }
  };
  return { row, fill };
}

/** An image's platform is in its config. @param {string} name @param {FetchedManifest} m @param {AbortSignal} signal @param {(text: string) => void} done */
async function fillPlatform(name, m, signal, done) {
  const config = m.json.config;
  if (!config || !isImageConfig(config.mediaType)) return done('—');
  const c = await getConfig(name, config, signal).catch(() => undefined);
  done(c ? platformText(c) : '—');
}

/**
 * #/<name>:<tag>, #/<name>@<digest> — one manifest: pull lines, its platforms (an index) or its
 * config and layers (an image), its referrers, and the manifest itself.
 * @param {string} name @param {string} tag @param {string} digest @param {AbortSignal} signal
 */
async function renderManifest(name, tag, digest, signal) {
  const m = await getManifest(name, tag || digest, signal);
  const reference = tag ? `:${tag}` : `@${m.digest || digest}`;
  const host = location.host;
  // Over plain http a registry is "insecure" to docker (daemon.json insecure-registries) and to
  // skopeo (--src-tls-verify=false); say it in the line rather than let the copy fail.
  const tlsFlag = location.protocol === 'http:' ? ' --src-tls-verify=false' : '';
  const localName = name.split('/').pop() ?? name;
  const sections = [
    el('h1', {}, `${name}${reference.length > 40 ? reference.slice(0, 40) + '…' : reference}`),
    el(
      'section',
      { class: 'pull', id: 'pull' },
      copyLine('docker', `docker pull ${host}/${name}${reference}`),
      m.digest && tag ? copyLine('by digest', `docker pull ${host}/${name}@${m.digest}`) : null,
      copyLine('skopeo', `skopeo copy${manifestKind(m) === 'index' ? ' --all' : ''}${tlsFlag} docker://${host}/${name}${reference} oci:${localName}:${tag || 'image'}`),
    ),
    el(
      'dl',
      { class: 'facts', id: 'facts' },
      ...fact('Digest', el('code', { 'data-digest': m.digest }, m.digest)),
      ...fact('Media type', m.mediaType),
      ...fact('Manifest size', sizeCell(m.size)),
      ...(m.json.artifactType ? fact('Artifact type', m.json.artifactType) : []),
      ...(m.json.subject ? fact('Subject', el('a', { href: href(name, refByDigest(m.json.subject.digest)) }, digestCode(m.json.subject.digest))) : []),
    ),
  ];
  const annotations = annotationList(m.json.annotations);
  if (annotations) sections.push(el('h2', {}, 'Annotations'), annotations);
  view.replaceChildren(...sections);

  const kind = manifestKind(m);
  if (kind === 'index') await appendPlatforms(name, m, signal);
  else if (kind === 'image') await appendImage(name, m, signal);
  else appendSchema1(m);
  if (m.digest) await appendReferrers(name, m.digest, signal);
  view.append(el('details', { class: 'raw' }, el('summary', {}, 'Manifest JSON'), el('pre', {}, JSON.stringify(m.json, null, 2))));
}

/** @param {string} name @param {FetchedManifest} m @param {AbortSignal} signal */
async function appendPlatforms(name, m, signal) {
  const entries = m.json.manifests ?? [];
  const { bytes, children } = await totalSize(name, m, signal);
  const rows = entries.map((d) => {
    const child = children.get(d.digest);
    let childBytes = 0;
    if (child) for (const b of [child.json.config, ...(child.json.layers ?? [])]) childBytes += b ? Number(b.size) || 0 : 0;
    return el(
      'tr',
      { 'data-platform': platformText(d.platform) },
      el('td', {}, isAttestation(d) ? `attestation (${d.annotations?.['vnd.docker.reference.digest']?.slice(0, 19) ?? ''}…)` : platformText(d.platform)),
      el('td', {}, el('a', { href: href(name, refByDigest(d.digest)) }, digestCode(d.digest))),
      el('td', {}, el('span', { class: 'media' }, d.mediaType ?? '')),
      el('td', {}, child ? sizeCell(childBytes) : '—'),
    );
  });
  view.append(
    el('h2', {}, `Platforms (${entries.length})`),
    el('table', { class: 'platforms', id: 'platforms' }, el('thead', {}, el('tr', {}, ...['Platform', 'Manifest', 'Media type', 'Size'].map((h) => el('th', { scope: 'col' }, h)))), el('tbody', {}, ...rows)),
    el('p', { class: 'muted' }, 'Total, distinct blobs of all platforms (compressed): ', sizeCell(bytes)),
  );
}

/** @param {string} name @param {FetchedManifest} m @param {AbortSignal} signal */
async function appendImage(name, m, signal) {
  const config = m.json.config;
  const layers = m.json.layers ?? [];
  let total = config ? Number(config.size) || 0 : 0;
  for (const l of layers) total += Number(l.size) || 0;
  if (config) {
    /** @type {ImageConfig | undefined} */
    let parsed;
    /** @type {unknown} */
    let failure;
    if (isImageConfig(config.mediaType)) parsed = await getConfig(name, config, signal).catch((err) => { failure = err; return undefined; });
    const facts = [
      ...fact('Media type', config.mediaType ?? ''),
      ...fact('Digest', digestCode(config.digest)),
      ...fact('Size', sizeCell(config.size)),
    ];
    if (parsed) {
      facts.push(...fact('Platform', platformText(parsed)));
      facts.push(...fact('Created', el('time', parsed.created ? { datetime: parsed.created, title: CREATED_NOTE } : {}, formatTime(parsed.created))));
      if (parsed.author) facts.push(...fact('Author', parsed.author));
      const c = parsed.config ?? {};
      if (c.Entrypoint?.length) facts.push(...fact('Entrypoint', el('code', {}, JSON.stringify(c.Entrypoint))));
      if (c.Cmd?.length) facts.push(...fact('Cmd', el('code', {}, JSON.stringify(c.Cmd))));
      if (c.WorkingDir) facts.push(...fact('Working dir', c.WorkingDir));
      if (c.User) facts.push(...fact('User', c.User));
      if (c.Env?.length) facts.push(...fact('Env', el('ul', { class: 'plain' }, ...c.Env.map((e) => el('li', {}, el('code', {}, e))))));
    } else if (failure) {
      facts.push(...fact('Content', `not readable (${failure instanceof Error ? failure.message : String(failure)}).`));
    }
    view.append(el('h2', {}, 'Config'), el('dl', { class: 'facts', id: 'config' }, ...facts));
    const labels = parsed?.config?.Labels ? annotationList(parsed.config.Labels) : null;
    if (labels) view.append(el('h3', {}, 'Labels'), labels);
  }
  view.append(
    el('h2', {}, `Layers (${layers.length})`),
    el(
      'table',
      { class: 'layers', id: 'layers' },
      el('thead', {}, el('tr', {}, ...['#', 'Media type', 'Digest', 'Size'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, ...layers.map((l, i) => el('tr', { 'data-layer': l.digest }, el('td', {}, String(i + 1)), el('td', {}, el('span', { class: 'media' }, l.mediaType ?? '')), el('td', {}, digestCode(l.digest)), el('td', {}, sizeCell(l.size))))),
    ),
    el('p', { class: 'muted' }, 'Total, config and layers (compressed): ', sizeCell(total)),
  );
}

/** Docker schema 1 (read-only legacy): its layers are `fsLayers`, newest first, with no sizes. @param {FetchedManifest} m */
function appendSchema1(m) {
  const layers = [...(m.json.fsLayers ?? [])].reverse();
  view.append(
    el('h2', {}, `Layers (${layers.length}, Docker schema 1: no sizes)`),
    el('table', { class: 'layers', id: 'layers' }, el('tbody', {}, ...layers.map((l, i) => el('tr', { 'data-layer': l.blobSum }, el('td', {}, String(i + 1)), el('td', {}, digestCode(l.blobSum)))))),
  );
}

/** end-12a: the manifests whose subject is this one (signatures, SBOMs, attestations). @param {string} name @param {string} digest @param {AbortSignal} signal */
async function appendReferrers(name, digest, signal) {
  view.append(el('h2', {}, 'Referrers'));
  /** @type {Descriptor[]} */
  let referrers;
  try {
    referrers = await getReferrers(name, digest, signal);
  } catch (err) {
    if (signal.aborted) throw err;
    view.append(errorBox(err));
    return;
  }
  if (referrers.length === 0) {
    view.append(el('p', { class: 'muted', id: 'no-referrers' }, 'No signatures, SBOMs or other artifacts refer to this manifest.'));
    return;
  }
  view.append(
    el(
      'table',
      { class: 'referrers', id: 'referrers' },
      el('thead', {}, el('tr', {}, ...['Kind', 'Artifact type', 'Manifest', 'Size', 'Annotations'].map((h) => el('th', { scope: 'col' }, h)))),
      el(
        'tbody',
        {},
        ...referrers.map((r) =>
          el(
            'tr',
            { 'data-referrer': r.digest },
            el('td', {}, referrerKind(r)),
            el('td', {}, el('span', { class: 'media' }, r.artifactType ?? '—')),
            el('td', {}, el('a', { href: href(name, refByDigest(r.digest)) }, digestCode(r.digest))),
            el('td', {}, sizeCell(r.size)),
            el('td', {}, annotationList(r.annotations) ?? '—'),
          ),
        ),
      ),
    ),
  );
}

window.addEventListener('hashchange', () => void render());
void render();
