/**
 * A value a model holds but builds only when a phase first needs it (the backward sessions, the mean
 * unembedding): declared on the model so its state is visible, built once. An asynchronous value is a
 * Lazy of a promise, so concurrent first uses share one build.
 */
export class Lazy<T> {
  private built: { value: T } | null = null;

  /** The value, built by `build` on the first call. */
  get(build: () => T): T {
    this.built ??= { value: build() };
    return this.built.value;
  }

  /** The value if it was built (to release it), else null. */
  peek(): T | null {
    return this.built?.value ?? null;
  }
}
