/** Paths shared by tests. The real captures live next to the project root, not in the repository. */
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CAPTURES = process.env.P2PGW_CAPTURES ?? path.resolve(ROOT, '..', 'shared', 'fixtures', 'captures');
export const capture = (name: string): string => path.join(CAPTURES, name);
