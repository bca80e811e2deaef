// The benchmark measures the package as shipped: tsc's output in dist/, which `npm run bench` builds first.
// Run through tsx, src/ would be esbuild's transform instead, which wraps closures in keepNames helpers that
// showed up in the profile of the per-query path.
export async function shipped<T>(modulePath: string): Promise<T> {
  return (await import(new URL(`../dist/${modulePath}`, import.meta.url).href)) as T;
}
