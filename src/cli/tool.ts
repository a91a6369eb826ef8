/**
 * The development-tool commands (demo, gen, profile, analyze) are built on src/tools, which the
 * router package does not ship (openwrt/shipped.mjs). There, loading one fails: `loadTool` turns
 * that into a one-line usage error instead of a module-not-found stack trace.
 */
import fs from 'node:fs';
import { P2pgwError } from '../core/errors.js';

/**
 * Loads the module of a development-tool command.
 * @param cmd the command, for the message
 * @param file the module `load` imports (a `new URL(…, import.meta.url)`): when it does not exist,
 *   this is the router package
 * @param load imports the module (a literal `import('…')`, so the package's import scan sees it)
 * @throws P2pgwError(P2PGW_ERR_USAGE) `<cmd>: a development tool, not part of the router package
 *   (run it from a p2pgw checkout)` when the module is missing; otherwise what `load` throws
 */
export async function loadTool<T>(cmd: string, file: URL, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code === 'ERR_MODULE_NOT_FOUND' && !fs.existsSync(file)) {
      throw new P2pgwError('P2PGW_ERR_USAGE', `${cmd}: a development tool, not part of the router package (run it from a p2pgw checkout)`);
    }
    throw err;
  }
}
