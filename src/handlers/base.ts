import { sendJson } from '../http/respond.ts';
import type { Handler } from '../http/context.ts';

/** end-1: the API version check. 200 means this is a V2 registry and the client may proceed. */
export const getBase: Handler = async ({ req, res }) => {
  sendJson(req, res, 200, {});
};
