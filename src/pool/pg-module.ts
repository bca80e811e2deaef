// A stand-in for the `pg` module whose Pool constructor hands back one managed pool, for libraries
// that build their own pool from a module (TypeORM's `driver` option).
import pg from 'pg';

export function pgModuleFor(pool: pg.Pool): typeof pg {
  // A constructor that returns an object makes `new` yield that object.
  function ManagedPgPool(): pg.Pool {
    return pool;
  }
  // pg's lazy `native` would hand a library pg-native's own Pool (TypeORM switches to it when pg-native is installed).
  return Object.create(pg, { Pool: { value: ManagedPgPool, enumerable: true }, native: { value: null, enumerable: true } }) as typeof pg;
}
