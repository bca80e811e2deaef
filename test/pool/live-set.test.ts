// LiveSet: the slot arrays that track leases and waiting callers.
import { describe, expect, it } from 'vitest';
import { LiveSet, type Slotted } from '../../src/pool/live-set.js';

type Item = Slotted & { name: string };
const item = (name: string): Item => ({ name, liveSlot: -1 });

describe('LiveSet', () => {
  it('deletes any member in place and keeps the others', () => {
    const set = new LiveSet<Item>();
    const a = item('a');
    const b = item('b');
    const c = item('c');
    const d = item('d');
    for (const x of [a, b, c, d]) set.add(x);
    expect(set.delete(b)).toBe(true);
    expect(set.delete(a)).toBe(true);
    expect(set.size).toBe(2);
    expect(set.snapshot().map((x) => x.name).sort()).toEqual(['c', 'd']);
    expect(set.delete(c)).toBe(true);
    expect(set.delete(d)).toBe(true);
    expect(set.size).toBe(0);
  });

  it('says false for an object that is not (or no longer) a member, and leaves the members alone', () => {
    const set = new LiveSet<Item>();
    const a = item('a');
    const b = item('b');
    const stranger = item('stranger');
    set.add(a);
    set.add(b);
    expect(set.delete(stranger)).toBe(false);
    expect(set.delete(a)).toBe(true);
    expect(set.delete(a)).toBe(false);
    expect(set.snapshot()).toEqual([b]);
  });

  it('drain empties the set, returns what it held and frees their slots', () => {
    const set = new LiveSet<Item>();
    const a = item('a');
    const b = item('b');
    set.add(a);
    set.add(b);
    expect(set.drain()).toEqual([a, b]);
    expect(set.size).toBe(0);
    expect(a.liveSlot).toBe(-1);
    expect(set.delete(b)).toBe(false);
  });

  it('a snapshot does not change while the set does', () => {
    const set = new LiveSet<Item>();
    const a = item('a');
    set.add(a);
    const snapshot = set.snapshot();
    set.delete(a);
    expect(snapshot).toEqual([a]);
  });
});
