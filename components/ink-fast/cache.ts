/**
 * A string-keyed cache with a bound, for the module-level caches of ink-fast (they live as long as
 * the view). When the young generation is full — `maxEntries` entries, or keys of `maxChars`
 * characters together (what is cached is about as large as its key) — it becomes the old one and
 * the previous old one is dropped; a hit in the old generation moves the entry back to the young
 * one. What the current frames use stays, what they stopped using is gone within two generations,
 * and the whole holds at most twice the bounds.
 */
export class Generations<V> {
  private young = new Map<string, V>();
  private youngChars = 0;
  private old = new Map<string, V>();

  constructor(
    private readonly maxEntries: number,
    private readonly maxChars: number,
  ) {}

  get(key: string): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const o = this.old.get(key);
    if (o !== undefined) this.set(key, o);
    return o;
  }

  set(key: string, value: V): void {
    if (this.young.size >= this.maxEntries || this.youngChars >= this.maxChars) {
      this.old = this.young;
      this.young = new Map();
      this.youngChars = 0;
    }
    this.young.set(key, value);
    this.youngChars += key.length;
  }

  clear(): void {
    this.young = new Map();
    this.youngChars = 0;
    this.old = new Map();
  }
}
