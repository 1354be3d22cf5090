/**
 * Errors a user can act on. Each has a stable `code` (as undici's `UND_ERR_*`): what went wrong, for
 * scripts and for the code that decides what to do about it; the exit status follows from the code through
 * the one table below, and every command's `--help` prints its exit-status paragraph from that table.
 * The CLI prints `message` as one sentence (`gokeylog: <sentence>`); anything else that escapes is a bug and
 * is reported as such (without a raw stack trace unless GOKEYLOG_DEBUG is set).
 */
export const ExitCode = {
  ok: 0,
  /** I/O, permissions, a tool or the kernel failed. */
  failure: 1,
  /** Bad command-line usage. */
  usage: 2,
  /** The input is not something we support: not ELF, wrong class/arch, not Go, no crypto/tls, not a capture or key log. */
  unsupportedInput: 3,
  /** Something named does not exist (a file, a process), or writeKeyLog was not found or not validated: never attach then. */
  notFound: 4,
  /** analyze --fail-on-expiry: a credential seen is expired or expires within the window (no error). */
  expiring: 5,
  /** Interrupted (SIGINT) before the end: 128 + 2, as shells report it. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

interface ErrorKind {
  exit: ExitCode;
  /** How `--help` names it in the exit-status paragraph. */
  help: string;
}

/** Every error code, its exit status and how help describes it. Codes are never renamed (scripts match them). */
const ERRORS = {
  GOKEYLOG_ERR_USAGE: { exit: ExitCode.usage, help: 'usage' },
  GOKEYLOG_ERR_IO: { exit: ExitCode.failure, help: 'I/O' },
  GOKEYLOG_ERR_UNSAFE_OUTPUT: { exit: ExitCode.failure, help: 'an unsafe output path' },
  GOKEYLOG_ERR_NEEDS_ROOT: { exit: ExitCode.failure, help: 'not root' },
  GOKEYLOG_ERR_TRACEFS: { exit: ExitCode.failure, help: 'tracefs' },
  GOKEYLOG_ERR_TOOL: { exit: ExitCode.failure, help: 'a tool failed' },
  GOKEYLOG_ERR_NOT_SET_UP: { exit: ExitCode.failure, help: 'setup has not run' },
  GOKEYLOG_ERR_UNSUPPORTED_BINARY: { exit: ExitCode.unsupportedInput, help: 'not a supported Go binary (not ELF, not Go, no crypto/tls)' },
  GOKEYLOG_ERR_UNPROBEABLE_PATH: { exit: ExitCode.unsupportedInput, help: 'a path the probe cannot name' },
  GOKEYLOG_ERR_BAD_CAPTURE: { exit: ExitCode.unsupportedInput, help: 'not a capture we can read' },
  GOKEYLOG_ERR_BAD_KEYLOG: { exit: ExitCode.unsupportedInput, help: 'not a key log with keys' },
  GOKEYLOG_ERR_BAD_CONNS: { exit: ExitCode.unsupportedInput, help: 'not conns --json output' },
  GOKEYLOG_ERR_BAD_LAYOUT: { exit: ExitCode.unsupportedInput, help: 'not a struct layout table' },
  GOKEYLOG_ERR_WRITEKEYLOG_NOT_FOUND: { exit: ExitCode.notFound, help: 'writeKeyLog not found' },
  GOKEYLOG_ERR_NOT_VALIDATED: { exit: ExitCode.notFound, help: 'a hook entry not validated' },
  GOKEYLOG_ERR_FILE_NOT_FOUND: { exit: ExitCode.notFound, help: 'no such file' },
  GOKEYLOG_ERR_NO_SUCH_PROCESS: { exit: ExitCode.notFound, help: 'no such process' },
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof ERRORS;

/** The exit status of an error code. */
function exitStatusOf(code: ErrorCode): ExitCode {
  return ERRORS[code].exit;
}

/** A verdict on a binary (it cannot be hooked, whoever asks again), as opposed to a failure of this attempt. */
export function isVerdictOnBinary(err: unknown): boolean {
  if (!(err instanceof GokeylogError)) return false;
  return err.code === 'GOKEYLOG_ERR_UNSUPPORTED_BINARY' || err.code === 'GOKEYLOG_ERR_UNPROBEABLE_PATH' ||
    err.code === 'GOKEYLOG_ERR_WRITEKEYLOG_NOT_FOUND' || err.code === 'GOKEYLOG_ERR_NOT_VALIDATED';
}

/**
 * The exit-status paragraph of a command's `--help`, from the codes it can end with (in the order given
 * within each status): `Exit codes: 0 ok, 1 failure (…), 2 usage,` then one line per status from 3 on.
 */
export function exitCodesHelp(codes: readonly ErrorCode[], outcomes: Partial<Record<ExitCode, string>> = {}): string {
  const byStatus = new Map<ExitCode, string[]>();
  for (const code of codes) {
    const { exit, help } = ERRORS[code];
    byStatus.set(exit, [...(byStatus.get(exit) ?? []), help]);
  }
  // Statuses that are outcomes, not errors (analyze's 5 and 130), said by the command.
  for (const [status, help] of Object.entries(outcomes)) byStatus.set(Number(status) as ExitCode, [help!]);
  const parts = ['0 ok'];
  const lines: string[] = [];
  for (const status of [...byStatus.keys()].sort((a, b) => a - b)) {
    const helps = byStatus.get(status)!;
    if (status === ExitCode.failure) parts.push(`1 failure (${helps.join('; ')})`);
    else if (status === ExitCode.usage) parts.push('2 usage');
    else lines.push(`  ${status} ${helps.join(' or ')}`);
  }
  return [`Exit codes: ${parts.join(', ')}`, ...lines].join(',\n') + '.';
}

export class GokeylogError extends Error {
  readonly code: ErrorCode;
  constructor(message: string, code: ErrorCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GokeylogError';
    this.code = code;
  }

  get exitCode(): ExitCode {
    return exitStatusOf(this.code);
  }
}

/** The error code of a failed file operation on an input: a missing file is "not found", the rest I/O. */
export function fileErrorCode(err: unknown): ErrorCode {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? 'GOKEYLOG_ERR_FILE_NOT_FOUND' : 'GOKEYLOG_ERR_IO';
}

/** The errnos a user can act on, in the words of a sentence (`cannot read X: <reason>.`). */
const ERRNO_REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
  ENOSPC: 'no space left on device (ENOSPC)',
};

/** Why a file operation failed: a known errno in words, any other errno as its code, else the error's message. */
export function errnoReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined) return ERRNO_REASONS[code] ?? code;
  return err instanceof Error ? err.message : String(err);
}
