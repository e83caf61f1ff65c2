import { errorTable, type ErrorName } from './codes.ts';

export interface ErrorBody {
  errors: [{ code: string; message: string; detail: unknown }];
}

/** The one error type handlers throw; http/server.ts turns it into a status and an OCI body. */
export class RegistryError extends Error {
  readonly errorName: ErrorName;
  readonly detail: unknown;
  /** Headers the answer needs (a WWW-Authenticate challenge with UNAUTHORIZED). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(errorName: ErrorName, detail?: unknown, options?: ErrorOptions & { headers?: Record<string, string> }) {
    super(errorTable[errorName].message, options);
    this.name = 'RegistryError';
    this.errorName = errorName;
    this.detail = detail;
    this.headers = options?.headers ?? {};
  }

  get status(): number {
    return errorTable[this.errorName].status;
  }

  body(): ErrorBody {
    const { code, message } = errorTable[this.errorName];
    return { errors: [{ code, message, detail: this.detail ?? null }] };
  }
}
