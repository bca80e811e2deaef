// Fails the running test on any unhandled rejection or uncaught exception, e.g. a pg 'error' event nobody heard.
import { afterAll, afterEach, beforeAll, expect } from 'vitest';

/** Call once at the top of a test file. */
export function trapProcessFaults(): void {
  const faults: string[] = [];
  const onFault = (error: unknown): void => {
    faults.push(error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error));
  };
  beforeAll(() => {
    process.on('unhandledRejection', onFault);
    process.on('uncaughtException', onFault);
  });
  afterEach(() => {
    expect(faults.splice(0), 'unhandled rejections / uncaught exceptions').toEqual([]);
  });
  afterAll(() => {
    process.off('unhandledRejection', onFault);
    process.off('uncaughtException', onFault);
  });
}
