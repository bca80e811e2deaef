// The `items` ledger the reliability scenarios write to: how many rows carry a label proves "at most once".
import { adminQuery, type TestDatabase } from '../../support/db.js';

export async function rowsLabelled(database: TestDatabase, label: string): Promise<number> {
  const { rows } = await adminQuery<{ n: string }>('SELECT count(*) AS n FROM items WHERE label = $1', [label], database.name);
  return Number(rows[0]?.n);
}
