/**
 * `p2pgw gen <server|client|scenario> <source> [options]`: the lab's traffic generator, the same
 * program as `node dist/tools/lab/gen.js` (src/tools/lab/gen.ts). Its options are declared and
 * parsed there (`parseGenArgs`); output and exit codes (0 ok, 1 a session failed, 2 usage or
 * setup error) are the generator's. A development tool: the router package does not ship it.
 */
import { loadTool } from './tool.js';

/**
 * Runs `p2pgw gen`.
 * @param argv arguments after `gen`
 * @returns the generator's exit code
 * @throws P2pgwError(P2PGW_ERR_USAGE) in the router package (no src/tools there)
 */
export async function genCliMain(argv: string[]): Promise<number> {
  const { genMain } = await loadTool('gen', new URL('../tools/lab/gen.js', import.meta.url), () => import('../tools/lab/gen.js'));
  return genMain(argv);
}
