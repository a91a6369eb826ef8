/** Paths shared by tests. The real captures live next to the project root, not in the repository. */
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CAPTURES = process.env.P2PGW_CAPTURES ?? path.resolve(ROOT, '..', 'shared', 'fixtures', 'captures');
export const capture = (name: string): string => path.join(CAPTURES, name);
/**
 * The compiler that builds the project: TypeScript 7 (native), installed as `typescript7`; the
 * `typescript` package is TypeScript 6's JS API, which dependency-cruiser needs to read .ts files.
 */
export const TSC = path.join(ROOT, 'node_modules', 'typescript7', 'bin', 'tsc');
