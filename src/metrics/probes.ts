import { sendJson } from '../http/respond.ts';
import type { Handler } from '../http/context.ts';

/**
 * Load balancer and Kubernetes probes on the main port, under zot's names. Liveness: the process
 * answers HTTP (200 until it ends; a registry that is shutting down is still alive). Readiness:
 * it wants new requests, which stops the moment close() starts, so a balancer drains it while
 * requests in flight finish. Neither touches storage: /debug/health on the debug server says
 * whether storage works (health.ts).
 */
export class Readiness {
  #closing = false;

  get ready(): boolean {
    return !this.#closing;
  }

  /** close() has started: from now on /readyz answers 503. */
  shuttingDown(): void {
    this.#closing = true;
  }
}

/** Probes are polled every few seconds by machines: never cached on the way. */
const NO_STORE = { 'cache-control': 'no-store' } as const;

export const getLivez: Handler = ({ req, res }) => {
  sendJson(req, res, 200, { status: 'ok' }, NO_STORE);
};

export const getReadyz: Handler = ({ req, res, services }) => {
  // Services built without a Readiness (embedders, older wiring) are ready while they serve.
  if (services.readiness?.ready === false) sendJson(req, res, 503, { status: 'shutting down' }, NO_STORE);
  else sendJson(req, res, 200, { status: 'ok' }, NO_STORE);
};
