/**
 * Errors a user can act on. The CLI prints `message` as one sentence and exits with `exitCode`;
 * anything else that escapes is a bug and is reported as such (still without a raw stack trace
 * unless GOKEYLOG_DEBUG is set).
 */
export const ExitCode = {
  ok: 0,
  /** I/O, permissions, a tool that failed, a target that went away. */
  failure: 1,
  /** Bad command-line usage. */
  usage: 2,
  /** The input is not something we support: not ELF, wrong class/arch, not Go, no crypto/tls, bad capture. */
  unsupportedInput: 3,
  /** writeKeyLog not found, ambiguous, or failed validation: never attach in that case. */
  notFound: 4,
  /** analyze --fail-on-expiry: a credential seen is expired or expires within the window. */
  expiring: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class GokeylogError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode = ExitCode.failure, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GokeylogError';
    this.exitCode = exitCode;
  }
}
