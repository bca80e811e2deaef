// A stand-in for the `pg` module whose Pool constructor hands back one managed pool, for libraries
// that build their own pool from a module (TypeORM's `driver` option).
import pg from 'pg';

export function pgModuleFor(pool: pg.Pool): typeof pg {
  /**
   * A class, as pg's Pool is: `Pool()` without `new` throws, and `class X extends Pool` works. A
   * constructor that returns an object makes `new` (a subclass's too) yield that object: the managed pool,
   * whatever options are given, since the manager's configuration says where and how to connect.
   */
  class Pool {
    constructor(..._options: unknown[]) {
      // Not pg.Pool's constructor: it would build a second pg-pool that nothing ends. What is returned is the instance.
      return pool as unknown as Pool;
    }

    /** The managed pool is an instance of this class and of every subclass of it. */
    static [Symbol.hasInstance](value: unknown): boolean {
      return value === pool || Function.prototype[Symbol.hasInstance].call(this, value);
    }
  }
  // pg.Pool's statics and prototype behind it, as a subclass of pg.Pool has them.
  Object.setPrototypeOf(Pool, pg.Pool);
  Object.setPrototypeOf(Pool.prototype, pg.Pool.prototype);
  // pg's lazy `native` would hand a library pg-native's own Pool (TypeORM switches to it when pg-native is installed).
  return Object.create(pg, { Pool: { value: Pool, enumerable: true }, native: { value: null, enumerable: true } }) as typeof pg;
}
