/**
 * What a start has opened so far. If a later step fails, `undo` closes all of it, newest first,
 * and rethrows: a failed start (a port in use, say) leaves nothing open. Use as `.catch(opened.undo)`.
 */
export class OpenedSoFar {
  private readonly closers: Array<() => unknown> = [];

  add(close: () => unknown): void {
    this.closers.push(close);
  }

  readonly undo = async (err: unknown): Promise<never> => {
    for (const close of this.closers.reverse()) await Promise.resolve().then(close).catch(() => undefined);
    throw err;
  };
}
