// The shape cache: shapes by raw SQL text, with an admission window and CLOCK eviction, and the process-wide instance.
import { TextKeys } from './literal-blind-key.js';
import * as sqlParser from './parser.js';
import { render } from './renderer.js';
import { releaseTokens, shapeOfTokens, tokensOf, type QueryShape } from './shape.js';
import { ShapeIndex } from './shape-index.js';

// Local names: asked on every lookup, hits included (see lexical.ts).
const { parserGeneration, sqlParserLoaded } = sqlParser;

/** V8 hashes longer strings by their length alone, which would turn the cache's Map into collision chains. */
const MAX_CACHED_LENGTH = 16383;

/** What an entry's texts weigh against the budget: the raw text, and the normalized one when it is a copy of its own. */
function charsOf(sql: string, shape: QueryShape): number {
  return shape.normalized === sql ? sql.length : sql.length + shape.normalized.length;
}

interface CacheEntry {
  readonly sql: string;
  readonly shape: QueryShape;
  /** Second-chance bit: set on a hit, so a hit costs one Map lookup and one store, never a reorder. */
  used: boolean;
}

/**
 * Shapes cached by raw SQL text.
 *
 * Admission: a text is cached the second time it is seen within a short window, not the first.
 * Applications that inline literals send a new text on nearly every call; caching those only
 * filled the cache with texts that never came back, and keeping each one alive until its eviction
 * pushed it into the old generation of the heap: on the benchmark's distinct-texts workload that
 * garbage collection cost about 4 µs per query, several times the work of computing the shape. The
 * window is a direct-mapped table of text hashes with at most half as many slots as the cache
 * (TinyLFU's "doorkeeper"), so it holds numbers, not strings; a text that recurs within about a
 * thousand other new texts is cached on its second call.
 *
 * Eviction: least recently used, approximated by the CLOCK (second-chance) scheme: a hit only
 * sets a bit; the clock hand sweeps a ring of the cached entries, clearing bits, and evicts the
 * first entry whose bit is clear. The ring, not the Map's insertion order, is the queue: deleting
 * from the front of a Map leaves holes that every later sweep from the front would have to skip.
 */
export class ShapeCache {
  private readonly entries = new Map<string, CacheEntry>();
  private ring: (CacheEntry | undefined)[] = [];
  /** Ring slots emptied by eviction, filled before the ring grows. */
  private freeSlots: number[] = [];
  private hand = 0;
  private readonly seen: Uint32Array;
  /**
   * For texts not cached: an application that inlines its literals sends a new text on nearly every
   * call, and a handful of shapes. As pg_stat_statements keeps the first text it saw for a query id,
   * the first text seen stands for its fingerprint: texts that differ only in keyword case or
   * spacing show one normalized text.
   */
  private readonly byFingerprint: ShapeIndex<string>;
  private readonly byLiteralBlindKey: ShapeIndex<number>;
  /** The keys of the text being looked up. */
  private readonly keys = new TextKeys();
  private generation = parserGeneration();
  private evicted = 0;
  private chars = 0;
  // Both built-in trackers ask for the same call's shape, one after the other: the second must get
  // it without a second lookup, which would count as a second sighting and admit every text.
  private lastCall: object | undefined;
  private lastShape: QueryShape | undefined;

  /**
   * `maxChars` bounds the characters of the cached texts and their normalized forms, so a few thousand
   * long statements cannot pin megabytes (5,000 entries: 800,000 characters, under 1 MB of text, room for
   * about 400 statements of 2 KiB, or thousands of typical ones).
   */
  constructor(
    private readonly maxEntries: number,
    private readonly maxChars = maxEntries * 160,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('ShapeCache needs at least one entry');
    let slots = 16;
    while (slots * 4 <= maxEntries) slots *= 2;
    this.seen = new Uint32Array(slots);
    const indexed = Math.max(1, Math.floor(maxEntries / 5));
    this.byFingerprint = new ShapeIndex(indexed, maxChars / 5);
    this.byLiteralBlindKey = new ShapeIndex(indexed, maxChars / 5);
  }

  get size(): number {
    return this.entries.size;
  }

  get evictions(): number {
    return this.evicted;
  }

  /** The shape of `sql`; `call` identifies the call it belongs to, so asking again for the same call costs nothing. */
  shape(sql: string, call?: object): QueryShape {
    if (this.generation !== parserGeneration()) {
      this.entries.clear();
      this.ring = [];
      this.freeSlots = [];
      this.hand = 0;
      this.chars = 0;
      this.seen.fill(0);
      this.byFingerprint.clear();
      this.byLiteralBlindKey.clear();
      this.lastCall = this.lastShape = undefined;
      this.generation = parserGeneration();
    }
    if (call !== undefined && call === this.lastCall) {
      // Answered twice, forgotten: the memo must not keep the call (and its pool) alive.
      const shape = this.lastShape!;
      this.lastCall = this.lastShape = undefined;
      return shape;
    }
    const shape = this.lookup(sql);
    this.lastCall = call;
    this.lastShape = shape;
    return shape;
  }

  private lookup(sql: string): QueryShape {
    const hit = this.entries.get(sql);
    if (hit !== undefined) {
      hit.used = true;
      return hit.shape;
    }
    this.keys.read(sql);
    // With PostgreSQL's parser a literal can decide the shape (float(99) does not parse, and the scanner's
    // tokens are used instead; past MAX_PARSED_LENGTH the parser is not asked): no literal-blind key then.
    const shape = this.shapeOfNewText(sql, sqlParserLoaded() ? undefined : this.keys.literalBlind);
    const chars = charsOf(sql, shape);
    if (sql.length > MAX_CACHED_LENGTH || chars > this.maxChars || !this.seenBefore(this.keys.exact)) return shape;
    while (this.entries.size >= this.maxEntries || this.chars + chars > this.maxChars) this.evictOne();
    const entry: CacheEntry = { sql, shape, used: false };
    this.entries.set(sql, entry);
    this.chars += chars;
    const slot = this.freeSlots.pop();
    if (slot === undefined) this.ring.push(entry);
    else this.ring[slot] = entry;
    return shape;
  }

  /** A text's shape without scanning it when its literal-blind key is known, or without rendering it when its fingerprint is. */
  private shapeOfNewText(sql: string, key: number | undefined): QueryShape {
    let shape = key === undefined ? undefined : this.byLiteralBlindKey.get(key);
    if (shape !== undefined) return shape;
    const { tokens, truncated, parameterized } = tokensOf(sql);
    const { fingerprint } = render(tokens, truncated, true);
    // `WHERE id = $1` and `WHERE id = 7` share a fingerprint but not their span text (a parameterized text is shown as
    // written), so the two are indexed apart. A literal-blind key already tells them apart: it hashes `$n` as written.
    const indexKey = parameterized ? `${fingerprint}$` : fingerprint;
    shape = this.byFingerprint.get(indexKey);
    if (shape === undefined) {
      // A new shape's key is indexed when a second text of it comes: a statement built anew on every call
      // (a table per day, a generated column list) then fills one index, not two.
      shape = shapeOfTokens(sql, tokens, truncated, parameterized);
      this.byFingerprint.set(indexKey, shape);
    } else if (key !== undefined) this.byLiteralBlindKey.set(key, shape);
    releaseTokens();
    return shape;
  }

  /** True when the text (its exact hash `h`) was seen recently; otherwise remembers it (a zero slot is empty, so the tag is never 0). */
  private seenBefore(h: number): boolean {
    const slot = h & (this.seen.length - 1);
    const tag = (h >>> 8) | 1;
    if (this.seen[slot] === tag) return true;
    this.seen[slot] = tag;
    return false;
  }

  /** Advances the hand past the entry it evicts, so a new entry placed in the freed slot is the last to be considered. */
  private evictOne(): void {
    for (;;) {
      const at = this.hand;
      const entry = this.ring[at];
      this.hand = (at + 1) % this.ring.length;
      if (entry === undefined) continue;
      if (entry.used) {
        entry.used = false;
        continue;
      }
      this.ring[at] = undefined;
      this.freeSlots.push(at);
      this.entries.delete(entry.sql);
      this.chars -= charsOf(entry.sql, entry.shape);
      this.evicted++;
      return;
    }
  }
}

/** The process-wide cache the built-in trackers share, so each distinct text is parsed once. */
export const sharedShapes = new ShapeCache(5000);
