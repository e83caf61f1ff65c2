import { parseDigest } from '../digest/digest.ts';
import { HEADER } from '../http/headers.ts';
import { sendJson } from '../http/respond.ts';
import type { Handler } from '../http/context.ts';
import { MEDIA_TYPE } from '../manifests/media-types.ts';
import { requireParam } from './references.ts';

/**
 * end-12a / end-12b: the manifests whose `subject` is <digest>, as an OCI image index. Never 404
 * for a valid digest (an empty index instead); `artifactType` filters, and says so in
 * OCI-Filters-Applied.
 */
export const getReferrers: Handler = async ({ req, res, params, query, services }) => {
  const subject = parseDigest(requireParam(params.digest, 'digest'));
  const artifactType = query.get('artifactType') ?? undefined;
  const manifests = await services.manifests.listReferrers(params.name, subject, artifactType);
  const headers = {
    [HEADER.contentType]: MEDIA_TYPE.ociIndex,
    ...(artifactType !== undefined ? { [HEADER.ociFiltersApplied]: 'artifactType' } : {}),
  };
  sendJson(req, res, 200, { schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests }, headers);
};
