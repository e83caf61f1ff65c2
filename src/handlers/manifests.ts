import { RegistryError } from '../errors/registry-error.ts';
import { HEADER } from '../http/headers.ts';
import { readBounded } from '../http/request-body.ts';
import { sendBytes, sendEmpty } from '../http/respond.ts';
import type { Handler } from '../http/context.ts';
import type { StoredManifest } from '../storage/manifest-store.ts';
import { isValidTag } from '../routing/names.ts';
import { parseLookupReference, parsePushReference, requireDeleteEnabled, requireParam } from './references.ts';

/** Manifests up to this size are accepted; the spec asks registries to take at least 4 MiB. */
export const MANIFEST_LIMIT = 4 * 1024 * 1024;
/** Each tag is two durable link writes: a bound keeps one PUT from taking seconds (found by fuzzing). */
const MAX_TAGS_PER_PUT = 100;

/** end-3 (GET/HEAD by tag or digest): the stored bytes, with their digest and media type. */
export const getManifest: Handler = (ctx) => {
  if (ctx.services.proxy?.intercepts(ctx)) return ctx.services.proxy.getManifest(ctx, getManifest);
  const { req, res, params, services } = ctx;
  const reference = parseLookupReference(params.name, requireParam(params.reference, 'reference'));
  const send = (manifest: StoredManifest): void => {
    sendBytes(req, res, 200, manifest.bytes, {
      [HEADER.contentType]: manifest.mediaType,
      [HEADER.contentDigest]: manifest.digest.value,
      [HEADER.etag]: `"${manifest.digest.value}"`,
    });
    services.notifications?.manifestPulled(ctx, manifest, typeof reference === 'string' ? reference : undefined);
  };
  // Cached (the common case of a pull by tag): answered now, without an await.
  const cached = services.manifests.cached(params.name, reference);
  if (cached) return send(cached);
  return services.manifests.get(params.name, reference).then(send);
};

/**
 * end-7: PUT a manifest by tag or digest; `?tag=a&tag=b` tags it several times at once
 * (OCI 1.1). A manifest with a `subject` is answered with OCI-Subject so the client knows the
 * registry indexed the referrer.
 */
export const putManifest: Handler = async (ctx) => {
  const { req, res, params, query, services } = ctx;
  const reference = parsePushReference(requireParam(params.reference, 'reference'));
  const tags = query.getAll('tag');
  if (tags.length > MAX_TAGS_PER_PUT) throw new RegistryError('TAG_INVALID', { reason: `at most ${MAX_TAGS_PER_PUT} ?tag= per PUT`, tags: tags.length });
  for (const tag of tags) {
    if (!isValidTag(tag)) throw new RegistryError('TAG_INVALID', { tag: tag.slice(0, 300) });
  }
  const body = await readBounded(req, MANIFEST_LIMIT);
  const { digest, parsed } = await services.manifests.put(params.name, reference, tags, body, req.headers[HEADER.contentType]);
  services.catalog.noteWrite(params.name);
  await services.notifications?.manifestPushed(ctx, { digest, size: body.length, parsed }, typeof reference === 'string' ? [reference, ...tags] : tags);
  sendEmpty(res, 201, {
    [HEADER.location]: `/v2/${params.name}/manifests/${digest.value}`,
    [HEADER.contentDigest]: digest.value,
    ...(parsed.subject ? { [HEADER.ociSubject]: parsed.subject.digest.value } : {}),
  });
};

/** end-9: DELETE by digest removes the manifest and its tags; by tag removes the tag only. */
export const deleteManifest: Handler = async (ctx) => {
  const { res, params, services } = ctx;
  requireDeleteEnabled(services);
  const reference = parseLookupReference(params.name, requireParam(params.reference, 'reference'));
  if (typeof reference === 'string') await services.manifests.deleteTag(params.name, reference);
  else await services.manifests.deleteRevision(params.name, reference);
  await (typeof reference === 'string' ? services.notifications?.tagDeleted(ctx, reference) : services.notifications?.manifestDeleted(ctx, reference));
  sendEmpty(res, 202);
};
