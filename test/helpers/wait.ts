/**
 * Polls fn until it returns a truthy value, and returns it; fails with "timed out waiting for
 * <what>" after timeoutMs. Errors from fn propagate at once (a broken check should not look like
 * a slow one).
 */
export async function waitFor<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 50, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** waitFor for a yes/no condition, named in the timeout message. */
export async function waitForCondition(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000, everyMs = 10): Promise<void> {
  await waitFor(cond, timeoutMs, everyMs, what);
}
