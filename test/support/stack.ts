// Where a stack points: for tests that check a borrower's stack names the line that took the connection.

/** "file:line" of the first frame of a stack. */
export function firstFrame(stack: string | undefined): string | undefined {
  const line = stack?.split('\n').find((l) => l.trimStart().startsWith('at '));
  return line?.match(/([^\s(]+):(\d+):\d+\)?$/)?.slice(1, 3).join(':');
}

/** "file:line" of the line that calls this. */
export function here(): string | undefined {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, here);
  return firstFrame(holder.stack);
}
