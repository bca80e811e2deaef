// A key of a SQL text that leaves out what its number and string literals say: texts that differ
// only there (an application inlining its values) get one key, and the shape cache finds their
// shape without scanning them into tokens. Everything else is hashed as written, so equal keys
// mean equal shapes by the scanner; the construct this pass does not follow exactly as the scanner
// does (dollar quotes, E'' and other prefixed strings, an unterminated string or comment, a text the
// scanner would cut) gives no key, and the text takes the scanner. With libpg-query loaded the
// shape cache uses no key: a literal can make PostgreSQL's parse fail (float(99)) and change the shape.

import * as lexical from './lexical.js';

// Local names for the shared classes (see lexical.ts).
const { MAX_SCANNED_LENGTH, isDigit, isIdentPart } = lexical;

// Out of the range of charCodeAt, so no character of the text hashes like a skipped literal.
const NUMBER_MARK = 0x10001;
const STRING_MARK = 0x10002;

/** Characters that start something this pass treats apart: digits, `'`, `"`, `$`, `-`, `/`. Everything else is hashed as it is. */
const SPECIAL = new Uint8Array(128);
for (const c of "0123456789'\"$-/") SPECIAL[c.charCodeAt(0)] = 1;

/** FNV-1a, 32 bits, of every character. */
function exactHash(sql: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < sql.length; i++) h = Math.imul(h ^ sql.charCodeAt(i), 16777619);
  return h;
}

/**
 * A text's two keys, read in one pass (a new text's characters are slow to reach: every pass over
 * one cost about a microsecond inside a running service). One instance is reused for every text.
 */
export class TextKeys {
  /** 53 bits of two multiplicative hashes (the fingerprint's mixing), or undefined when the text needs the scanner. */
  literalBlind: number | undefined = undefined;
  /** 32 bits of every character (FNV-1a), for the shape cache's admission filter. */
  exact = 0;

  read(sql: string): void {
    const end = sql.length;
    this.literalBlind = undefined;
    // A text the scanner would cut has no key.
    if (end > MAX_SCANNED_LENGTH) {
      this.exact = exactHash(sql);
      return;
    }
    let h1 = 0x6a09e667;
    let h2 = 0x3c6ef372;
    let h3 = 0x811c9dc5;
    let i = 0;
    while (i < end) {
      const c = sql.charCodeAt(i);
      if (c >= 128 || SPECIAL[c] === 0) {
        h1 = Math.imul(h1 ^ c, 2654435761);
        h2 = Math.imul(h2 ^ c, 1597334677);
        h3 = Math.imul(h3 ^ c, 16777619);
        i++;
        continue;
      }
      // The special construct runs to `next`; a literal is hashed as its mark, anything else as written.
      let next = i + 1;
      let mark = 0;
      if (isDigit(c)) {
        while (next < end && isDigit(sql.charCodeAt(next))) next++;
        // A run with a word character on either side (c1, $2, 1e5, 0x1F, 1_000) is hashed as written.
        if (!(i > 0 && isIdentPart(sql.charCodeAt(i - 1))) && !(next < end && isIdentPart(sql.charCodeAt(next)))) mark = NUMBER_MARK;
      } else if (c === 39) {
        // A string right after a word character is prefixed (E'', B'', X'', N'') or unusual; U&'' follows a `&`.
        if (i > 0 && (isIdentPart(sql.charCodeAt(i - 1)) || sql.charCodeAt(i - 1) === 38)) return this.needsScanner(sql);
        for (;;) {
          const close = sql.indexOf("'", next);
          if (close === -1) return this.needsScanner(sql);
          next = close + 1;
          if (sql.charCodeAt(next) !== 39) break;
          next++;
        }
        mark = STRING_MARK;
      } else if (c === 36 && !isDigit(sql.charCodeAt(next))) {
        // $tag$ … $tag$ (or a bare `$`): not followed here.
        return this.needsScanner(sql);
      } else if (c === 34) {
        // Quoted identifiers and comments are hashed whole, so a quote inside one starts no string.
        next = sql.indexOf('"', next) + 1;
        if (next === 0) return this.needsScanner(sql);
      } else if (c === 45 && sql.charCodeAt(next) === 45) {
        const newline = sql.indexOf('\n', next);
        next = newline === -1 ? end : newline + 1;
      } else if (c === 47 && sql.charCodeAt(next) === 42) {
        next = blockCommentEnd(sql, next + 1);
        if (next === -1) return this.needsScanner(sql);
      }
      if (mark === 0) {
        for (; i < next; i++) {
          const d = sql.charCodeAt(i);
          h1 = Math.imul(h1 ^ d, 2654435761);
          h2 = Math.imul(h2 ^ d, 1597334677);
          h3 = Math.imul(h3 ^ d, 16777619);
        }
      } else {
        for (; i < next; i++) h3 = Math.imul(h3 ^ sql.charCodeAt(i), 16777619);
        h1 = Math.imul(h1 ^ mark, 2654435761);
        h2 = Math.imul(h2 ^ mark, 1597334677);
      }
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    this.literalBlind = (h1 >>> 0) * 2097152 + (h2 >>> 11);
    this.exact = h3;
  }

  private needsScanner(sql: string): void {
    this.exact = exactHash(sql);
  }
}

/** Index just past the end of a block comment whose body starts at `from` (they nest), or -1 when it is not closed. */
function blockCommentEnd(sql: string, from: number): number {
  let depth = 1;
  let i = from;
  while (i < sql.length) {
    const c = sql.charCodeAt(i);
    const d = sql.charCodeAt(i + 1);
    if (c === 47 && d === 42) {
      depth++;
      i += 2;
    } else if (c === 42 && d === 47) {
      if (--depth === 0) return i + 2;
      i += 2;
    } else i++;
  }
  return -1;
}
