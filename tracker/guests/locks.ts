/** Per-instance order: operations on one instance run one at a time, in the order they were asked for. */
export class InstanceLocks {
  /** The tail of the last operation per instance. */
  private readonly tails = new Map<string, Promise<void>>();

  /** Whether an operation on the instance is under way or waiting. */
  busy(id: string): boolean {
    return this.tails.has(id);
  }

  /** Runs `work` after every earlier operation on the same instance has finished. */
  async exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    const before = this.tails.get(id) ?? Promise.resolve();
    const result = before.then(work);
    const tail = result.then(
      () => {},
      () => {},
    );
    this.tails.set(id, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(id) === tail) this.tails.delete(id);
    }
  }
}
