import { errorTable, type ErrorName } from './codes.ts';

export interface ErrorBody {
  errors: [{ code: string; message: string; detail: unknown }];
}

/** The one error type handlers throw; http/server.ts turns it into a status and an OCI body. */
export class RegistryError extends Error {
  readonly errorName: ErrorName;
  readonly detail: unknown;

  constructor(errorName: ErrorName, detail?: unknown, options?: ErrorOptions) {
    super(errorTable[errorName].message, options);
    this.name = 'RegistryError';
    this.errorName = errorName;
    this.detail = detail;
  }

  get status(): number {
    return errorTable[this.errorName].status;
  }

  body(): ErrorBody {
    const { code, message } = errorTable[this.errorName];
    return { errors: [{ code, message, detail: this.detail ?? null }] };
  }
}
