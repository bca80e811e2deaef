// A bounded first-in-first-out index of shapes by key, which the shape cache looks texts up in when it does not hold them.
import type { QueryShape } from './shape.js';

/**
 * Shapes the text cache does not hold, found again by a key: a fingerprint, or a literal-blind key
 * (literal-blind-key.ts). First in, first out, bounded in entries and in the characters of the
 * normalized texts (counted per entry, shared or not).
 */
export class ShapeIndex<K> {
  private readonly shapes = new Map<K, QueryShape>();
  private readonly ring: (K | undefined)[];
  private oldest = 0;
  private chars = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxChars: number,
  ) {
    this.ring = new Array<K | undefined>(maxEntries);
  }

  get(key: K): QueryShape | undefined {
    return this.shapes.get(key);
  }

  set(key: K, shape: QueryShape): void {
    const chars = shape.normalized.length;
    if (chars > this.maxChars || this.shapes.has(key)) return;
    while (this.shapes.size > 0 && (this.shapes.size >= this.maxEntries || this.chars + chars > this.maxChars)) {
      const evicted = this.ring[this.oldest]!;
      this.ring[this.oldest] = undefined;
      this.oldest = (this.oldest + 1) % this.maxEntries;
      this.chars -= this.shapes.get(evicted)!.normalized.length;
      this.shapes.delete(evicted);
    }
    this.ring[(this.oldest + this.shapes.size) % this.maxEntries] = key;
    this.shapes.set(key, shape);
    this.chars += chars;
  }

  clear(): void {
    this.shapes.clear();
    this.ring.fill(undefined);
    this.oldest = 0;
    this.chars = 0;
  }
}
