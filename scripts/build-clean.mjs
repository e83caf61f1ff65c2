#!/usr/bin/env node
// Removes dist/ before `npm pack` builds it again: tsc never deletes the output of a source file
// that was renamed or removed, and the tarball ships dist/ whole.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
