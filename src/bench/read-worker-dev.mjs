// From source (tsx), a worker thread cannot load a .ts entry (STYLE §6.2): register tsx first.
// A build runs dist/bench/read-worker.js directly and never loads this file.
import { register } from 'tsx/esm/api';

register();
await import('./read-worker.ts');
