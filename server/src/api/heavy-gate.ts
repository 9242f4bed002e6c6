/**
 * Admission of heavy operations (whole-graph reads, comparisons): at most `slots` run at once, up to
 * `queue` more wait their turn in arrival order, and any beyond that are refused at once so the
 * client hears "busy, retry" instead of waiting behind an unbounded backlog.
 */
export class HeavyGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly slots: number,
    readonly queue: number,
  ) {}

  /** Heavy operations running and waiting now. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Resolves with the release of a slot once one is free; null when the queue is full (refuse the request). */
  async enter(): Promise<(() => void) | null> {
    if (this.running >= this.slots) {
      if (this.waiting.length >= this.queue) return null;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so `running` only drops when nobody waits.
      if (next) next();
      else this.running--;
    };
  }
}
