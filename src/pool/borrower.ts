// The borrower's stack for leak reports: captured cheaply at acquire, formatted (without this package's frames) only if a leak is reported.
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The package's own source folder (src/ when run from source, dist/ when built). */
const PACKAGE_DIR = fileURLToPath(new URL('../', import.meta.url));
const PACKAGE_URL = pathToFileURL(PACKAGE_DIR).href;

function isPackageFrame(line: string): boolean {
  return line.includes(PACKAGE_DIR) || line.includes(PACKAGE_URL);
}

/**
 * Drops the header line and the leading frames inside this package, so the first line is the
 * caller's: getConnection() called from withConnection() should point at the withConnection()
 * call, not at manager.ts (HikariCP trims its own frames the same way).
 */
export function trimPackageFrames(stack: string): string {
  const lines = stack.split('\n');
  let first = 0;
  while (first < lines.length && !lines[first]!.trimStart().startsWith('at ')) first++;
  while (first < lines.length - 1 && isPackageFrame(lines[first]!)) first++;
  return lines.slice(first).join('\n');
}

/**
 * The stack above the function handed to the constructor. Error.captureStackTrace only records
 * frames; V8 formats them when `stack` is first read, which happens only for a reported leak.
 */
export class Borrower {
  private readonly raw: { stack?: string } = {};
  private formatted: string | undefined;

  constructor(from: (...args: never[]) => unknown) {
    Error.captureStackTrace(this.raw, from);
  }

  get stack(): string | undefined {
    if (this.formatted === undefined && this.raw.stack !== undefined) this.formatted = trimPackageFrames(this.raw.stack);
    return this.formatted;
  }
}
