/** The progress bar long CLI commands draw on stderr, redrawn in place and ended on its own line. */
export class ProgressBar {
  private drawn = false;

  constructor(
    private readonly indent = '',
    private readonly width = 30,
  ) {}

  /** Redraws the bar at `fraction` (0..1) with the current phase name. */
  readonly update = (phase: string, fraction: number): void => {
    const filled = Math.round(Math.min(1, Math.max(0, fraction)) * this.width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}`;
    process.stderr.write(
      `\r${this.indent}[${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${phase.padEnd(40).slice(0, 40)}`,
    );
    this.drawn = true;
  };

  /** Ends the bar's line (call in `finally`, so an error message starts on a line of its own). */
  end(): void {
    if (this.drawn) process.stderr.write('\n');
    this.drawn = false;
  }
}
