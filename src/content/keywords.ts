/**
 * Keyword lists (thesis §3.6 content filtering) compiled into the WebAssembly matcher: chat
 * messages and requested file names are checked against them, case-insensitively, in UTF-8.
 * Case folding: keywords and text are lowercased with String#toLowerCase (full Unicode) before
 * UTF-8 encoding, and matched with the matcher's ASCII-nocase automaton, so "Секрет" matches
 * "СЕКРЕТ" and "Secret" matches "sEcReT".
 */
import { Matcher } from '../matcher/matcher.js';
import { P2pgwError } from '../core/errors.js';

/** A keyword hit: the list's name, the keyword as configured and its index in the list. */
export interface KeywordHit {
  list: string;
  keyword: string;
  /** Stable id `list#index`, used in verdict lines. */
  id: string;
}

const enc = new TextEncoder();

export class KeywordSet {
  private readonly matcher: Matcher | null;
  private readonly entries: KeywordHit[] = [];

  /**
   * @param lists list name → keywords (non-empty strings)
   * @throws P2pgwError(P2PGW_ERR_CONFIG) for an empty keyword
   */
  constructor(lists: Record<string, readonly string[]>) {
    for (const [list, words] of Object.entries(lists)) {
      words.forEach((keyword, i) => {
        if (!keyword.trim()) throw new P2pgwError('P2PGW_ERR_CONFIG', `keywords.lists.${list}[${i}]: empty keyword`);
        this.entries.push({ list, keyword, id: `${list}#${i}` });
      });
    }
    this.matcher = this.entries.length
      ? Matcher.compile(this.entries.map((e, id) => ({ id, bytes: enc.encode(e.keyword.toLowerCase()), nocase: true })))
      : null;
  }

  /** Number of keywords over all lists. */
  get size(): number {
    return this.entries.length;
  }

  /** The first keyword (lowest position in the text) found in `text`, or null. */
  find(text: string): KeywordHit | null {
    if (!this.matcher || !text) return null;
    let best: { id: number; start: number } | null = null;
    this.matcher.scan(enc.encode(text.toLowerCase()), (id, start) => {
      if (!best || start < best.start) best = { id, start };
    });
    return best ? this.entries[(best as { id: number }).id] : null;
  }
}
