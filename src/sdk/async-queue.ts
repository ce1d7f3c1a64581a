/**
 * An unbounded queue read as an async iterator: producers `push`, one
 * consumer iterates. Ending the iteration (break, return) calls `onReturn`,
 * so the producer can stop feeding it.
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  readonly #items: T[] = [];
  #waiting: ((r: IteratorResult<T>) => void) | undefined;
  #ended = false;

  constructor(private readonly onReturn: () => void = () => {}) {}

  /** Adds an item; ignored once the queue has ended. */
  push(item: T): void {
    if (this.#ended) return;
    const w = this.#waiting;
    if (w !== undefined) {
      this.#waiting = undefined;
      w({ value: item, done: false });
    } else {
      this.#items.push(item);
    }
  }

  /** Ends the iteration once the queued items are read. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#items.length > 0) return Promise.resolve({ value: this.#items.shift()!, done: false });
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.#items.length = 0;
    this.end();
    this.onReturn();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
