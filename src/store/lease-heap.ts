/** A deadline for one lease, as the heap holds it. */
export interface HeapEntry {
  deadline: number;
  key: string;
}

/**
 * A binary min-heap of lease deadlines. Renewals do not touch it: a popped
 * entry whose lease was renewed since is pushed back with the new deadline,
 * so each lease costs O(log n) once per TTL, not once per heartbeat.
 */
export class LeaseHeap {
  readonly #items: HeapEntry[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(entry: HeapEntry): void {
    const a = this.#items;
    a.push(entry);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.deadline <= a[i]!.deadline) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }

  /** The earliest deadline, without removing it. */
  peek(): HeapEntry | undefined {
    return this.#items[0];
  }

  pop(): HeapEntry | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.deadline < a[m]!.deadline) m = l;
        if (r < a.length && a[r]!.deadline < a[m]!.deadline) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}
