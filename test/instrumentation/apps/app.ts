// What each library app offers the tests. The apps import their library and pg, never otel-pg-manager: the
// instrumentation registered by the test is all that observes them.

export interface HeldConnection {
  /** "file:line" of the app's line that took the connection. */
  line: string | undefined;
  release(): Promise<void>;
}

export interface LibraryApp {
  /** Three statements, each outside a transaction. */
  threeStatements(): Promise<void>;
  /** `SELECT pg_sleep(0.3)::text AS <marker>, '<marker>-secret' AS tag` */
  slow(marker: string): Promise<void>;
  /** A statement on a table that does not exist; resolves with the library's error. */
  fail(): Promise<unknown>;
  /** A connection the app keeps (a transaction left open), when the library lends one. */
  hold?(): Promise<HeldConnection>;
  /** The library's own shutdown. */
  close(): Promise<void>;
}

/** A promise and the function that settles it, for a transaction the app holds open. */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}
