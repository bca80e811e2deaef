// The instrumentation scope of every meter, tracer and produced metric of this package.

/** Kept equal to package.json by a test. */
export const INSTRUMENTATION_SCOPE = { name: 'otel-pg-manager', version: '0.2.0' } as const;
