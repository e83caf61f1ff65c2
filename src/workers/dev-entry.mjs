// Development/test entry for the chunk workers. A worker thread cannot load a .ts entry under tsx
// (STYLE §6.2: ERR_UNKNOWN_FILE_EXTENSION), so register tsx here and re-export the tasks.
// A build (npm run build) runs dist/workers/chunk-worker.js directly and never loads this file.
import { register } from 'tsx/esm/api';

register();
const worker = await import('./chunk-worker.ts');
export const appendChunk = worker.appendChunk;
export const hashChunk = worker.hashChunk;
export const hashUpload = worker.hashUpload;
