// The start-up cleanup stack: each step that made something pushes how to undo it; a later step's
// failure undoes them all, newest first (behavior.md A3: a failed start leaves nothing behind).

export type Undo = () => Promise<void> | void;

export class CleanupStack {
  private readonly undos: Undo[] = [];

  push(undo: Undo): void {
    this.undos.push(undo);
  }

  /** Runs every undo, newest first, once; a throwing undo does not stop the others. */
  async unwind(): Promise<void> {
    while (this.undos.length > 0) {
      const undo = this.undos.pop()!;
      try {
        await undo();
      } catch {
        // best effort: the start is failing anyway
      }
    }
  }
}

/** A start-up step failed: the message to log and the exit code (2 for a policy/config error). */
export class StartFailure extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}
