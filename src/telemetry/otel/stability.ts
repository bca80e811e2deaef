// Which database conventions to emit where a name changed: the OTEL_SEMCONV_STABILITY_OPT_IN convention.

/** `old`: the names this package emitted before (db.client.connection.max); `stable`: the new ones (db.client.connection.limit). */
export interface SemconvStability {
  readonly old: boolean;
  readonly stable: boolean;
}

/**
 * Reads a comma-separated `OTEL_SEMCONV_STABILITY_OPT_IN` value for the `database` category as the semantic
 * conventions' migration notes define it and as `semconvStabilityFromStr('database', …)` of
 * @opentelemetry/instrumentation parses it (the contrib instrumentations' helper): `database` emits the new names
 * only, `database/dup` both (it wins when both are listed), and anything else, the default, keeps emitting the old.
 */
export function semconvStability(optIn: string | undefined): SemconvStability {
  let stable = false;
  for (const entry of (optIn ?? '').split(',')) {
    const token = entry.trim().toLowerCase();
    if (token === 'database/dup') return { old: true, stable: true };
    if (token === 'database') stable = true;
  }
  return stable ? { old: false, stable: true } : { old: true, stable: false };
}
