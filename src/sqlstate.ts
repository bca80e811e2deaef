// SQLSTATE classification: which failures may be retried, and which mean the connection is gone.
// The table is ../shared/research/reliability.md §2.3: never re-send what might have run.
import { ConnectionTimeoutError, ManagerClosedError } from './errors.js';

/**
 * - `retry`: nothing reached the server, or the server rejected the statement atomically.
 * - `retry-if-idempotent`: the connection was lost after the statement was sent; it may have run.
 * - `fail`: a programming, data or configuration error, or an outcome that must not be guessed.
 */
export type RetryDecision = 'retry' | 'retry-if-idempotent' | 'fail';

/** Where the call was when it failed: acquiring a connection, or running the statement. */
export type FailurePhase = 'acquire' | 'execute';

/** No SQLSTATE class starts with E, so Node's five-letter socket codes (EPIPE, EPERM) are not taken for one. */
export function sqlstateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-DF-Z][0-9A-Z]{4}$/.test(code) ? code : undefined;
}

function nodeCodeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('E') ? code : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : '';
}

// The statement failed as a whole on the server, so running it again cannot run it twice.
const REJECTED_ATOMICALLY = new Set(['40001', '40P01', '55P03', '53000', '53100', '53200', '53300', '53400', '57P03', '58000', '58030']);
// The connection went away; whether the statement ran is unknown.
const CONNECTION_LOST_STATES = new Set(['57P01', '57P02', '57P05', '08000', '08003', '08006', '25P03']);
const CONNECTION_LOST_NODE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);
// Configuration and authentication problems: no amount of waiting fixes them.
const CONNECT_FATAL_CLASSES = ['28', '3D', '42', '0A'];
// pg's own messages for a connection that died or a client deadline; pg 8.23 gives them no code.
const CONNECTION_LOST_MESSAGES = ['Connection terminated', 'Query read timeout', 'connection error and is not queryable'];

/** True when the error means this client's connection can no longer be trusted. */
export function isConnectionBroken(error: unknown): boolean {
  const state = sqlstateOf(error);
  if (state) return CONNECTION_LOST_STATES.has(state) || state.startsWith('08');
  const nodeCode = nodeCodeOf(error);
  if (nodeCode) return CONNECTION_LOST_NODE_CODES.has(nodeCode);
  const message = messageOf(error);
  return CONNECTION_LOST_MESSAGES.some((m) => message.includes(m));
}

export function classifyError(error: unknown, phase: FailurePhase): RetryDecision {
  // Nothing was sent, but the timeout is the caller's deadline: waiting it out again would multiply it.
  if (error instanceof ConnectionTimeoutError) return 'fail';
  // A programming error (a bad argument) fails the same way every time.
  if (error instanceof TypeError || error instanceof RangeError) return 'fail';
  // Once the manager is closing no attempt can succeed; the caller should hear that, not "gave up".
  if (error instanceof ManagerClosedError) return 'fail';
  const state = sqlstateOf(error);
  if (phase === 'acquire') {
    // Nothing was sent: anything but a configuration error may be retried.
    if (state && CONNECT_FATAL_CLASSES.some((c) => state.startsWith(c))) return 'fail';
    return 'retry';
  }
  // A client that was already broken before the statement was written never sent it.
  if (messageOf(error).includes('not queryable')) return 'retry';
  if (state) {
    if (REJECTED_ATOMICALLY.has(state)) return 'retry';
    if (CONNECTION_LOST_STATES.has(state) || state.startsWith('08')) {
      // 08007 (transaction resolution unknown) and 08P01 (protocol violation) are never guessed at.
      return state === '08007' || state === '08P01' ? 'fail' : 'retry-if-idempotent';
    }
    return 'fail';
  }
  return isConnectionBroken(error) ? 'retry-if-idempotent' : 'fail';
}
