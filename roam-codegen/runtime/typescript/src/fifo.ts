/**
 * A first-in, first-out queue with O(1) push and shift (an `Array.shift` per frame would make
 * draining a long output queue quadratic).
 *
 * @module
 */

/** A FIFO queue; the session's transmit, event and replay queues. */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  /** Items queued. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Appends `item`. */
  push(item: T): void {
    this.items.push(item);
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // Reclaim the consumed prefix once it is at least half of the array.
    if (this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** The oldest item, left in place. */
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  /** The items, oldest first (the queue must not change while iterating). */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i] as T;
  }

  /** Removes everything. */
  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
