// Finds statements in a migration file that would end the transaction the runner wraps around it.
import { Buffer } from 'node:buffer';
import type { TransactionStmtKind } from 'libpg-query';

// How each statement that ends or opens a transaction is written; SAVEPOINT, RELEASE and ROLLBACK TO
// stay inside the transaction and are allowed.
const ENDS_OR_OPENS = new Map<TransactionStmtKind, string>([
  ['TRANS_STMT_BEGIN', 'BEGIN'],
  ['TRANS_STMT_START', 'START TRANSACTION'],
  ['TRANS_STMT_COMMIT', 'COMMIT'],
  ['TRANS_STMT_ROLLBACK', 'ROLLBACK'],
  ['TRANS_STMT_PREPARE', 'PREPARE TRANSACTION'],
  ['TRANS_STMT_COMMIT_PREPARED', 'COMMIT PREPARED'],
  ['TRANS_STMT_ROLLBACK_PREPARED', 'ROLLBACK PREPARED'],
]);

// Whitespace and comments before a statement belong to it in the parser's location.
const LEADING_NOISE = /^(?:\s+|--[^\n]*|\/\*[\s\S]*?\*\/)*/;

export interface TransactionControl {
  /** e.g. "COMMIT". */
  readonly statement: string;
  /** 1-based character offset into the file, like PostgreSQL's error positions. */
  readonly position: number;
}

/**
 * The first BEGIN/COMMIT/ROLLBACK/PREPARE TRANSACTION at the top level of `sql`. A COMMIT in a file
 * would commit half of it, and a failure after it could no longer be rolled back. Uses PostgreSQL's
 * own parser (libpg-query), so the words inside strings, comments and function bodies do not count.
 * A file that does not parse returns undefined: the server then reports the syntax error itself,
 * with its SQLSTATE and position.
 */
export async function findTransactionControl(sql: string): Promise<TransactionControl | undefined> {
  // Loaded on first use: runs with nothing pending never pay for the parser's WebAssembly.
  const { parse } = await import('libpg-query');
  const parsed = await parse(sql).catch(() => undefined);
  for (const raw of parsed?.stmts ?? []) {
    const stmt = raw.stmt;
    if (!stmt || !('TransactionStmt' in stmt)) continue;
    const kind = stmt.TransactionStmt.kind;
    const statement = kind === undefined ? undefined : ENDS_OR_OPENS.get(kind);
    if (statement === undefined) continue;
    // The parser counts UTF-8 bytes from the end of the previous statement; PostgreSQL counts characters.
    const start = Buffer.from(sql, 'utf8').subarray(0, raw.stmt_location ?? 0).toString('utf8').length;
    const noise = LEADING_NOISE.exec(sql.slice(start))?.[0].length ?? 0;
    return { statement, position: start + noise + 1 };
  }
  return undefined;
}
