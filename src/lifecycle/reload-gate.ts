// Runs reloads one at a time; a request that arrives while one runs is not dropped: the reload runs
// once more after the current one (any number of requests meanwhile make one more run, which reads
// the config as it is by then).

export class ReloadGate {
  private running = false;
  private again = false;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly run: () => Promise<void>,
    /** False once the daemon is shutting down: no further reload starts. */
    private readonly allowed: () => boolean = () => true,
  ) {}

  /** Requests a reload; resolves when the reload it caused (or joined) has finished. */
  request(): Promise<void> {
    if (!this.allowed()) return this.idle;
    if (this.running) {
      this.again = true;
      return this.idle;
    }
    this.running = true;
    this.idle = this.loop();
    return this.idle;
  }

  /** True while a reload is running or queued. */
  get busy(): boolean {
    return this.running;
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        try {
          await this.run();
        } catch {
          // run() logs its own failures; a throw must not stop later requests
        }
      } while (this.again && this.allowed());
    } finally {
      this.running = false;
      this.again = false;
    }
  }
}
