import { RegistryError } from '../errors/registry-error.ts';

/**
 * Caps the requests writing upload bytes at once (quayside.limits.concurrentuploads): each
 * holds up to two batch buffers and a worker's attention. Past the cap: 429 TOOMANYREQUESTS
 * (code-14) with Retry-After, which docker and containerd back off on.
 */
export class UploadGate {
  private active = 0;

  constructor(private readonly max: number) {}

  /** Requests writing upload bytes now (registry_uploads_in_flight reads it at scrape time). */
  get inFlight(): number {
    return this.active;
  }

  /** A release function; throws TOOMANYREQUESTS when full. 0 means no cap. */
  enter(): () => void {
    if (this.max > 0 && this.active >= this.max) {
      throw new RegistryError('TOOMANYREQUESTS', { limit: this.max }, { headers: { 'retry-after': '1' } });
    }
    this.active++;
    let released = false;
    return () => {
      if (!released) this.active--;
      released = true;
    };
  }
}
