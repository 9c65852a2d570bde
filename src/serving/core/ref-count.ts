/**
 * Keeps a servable version alive while requests use it (TF Serving's ServableHandle): unloading waits in drain()
 * until every acquired reference has been released.
 */
export class RefCount {
  private count = 0;
  private waiters: (() => void)[] = [];

  get active(): number {
    return this.count;
  }

  /** Takes a reference; the returned function releases it (calling it twice is harmless). */
  acquire(): () => void {
    this.count++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.count--;
      if (this.count === 0) {
        const waiters = this.waiters;
        this.waiters = [];
        for (const w of waiters) w();
      }
    };
  }

  /** Resolves once no reference is held. */
  drain(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
