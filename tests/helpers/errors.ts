/** The error `fn` throws, or undefined when it returns normally. */
export function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** The error `fn`'s promise rejects with (or `fn` throws), or undefined when it resolves. */
export async function caughtAsync(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  return undefined;
}
