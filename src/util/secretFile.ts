import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, renameSync, statSync, unlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { errnoReason, GokeylogError } from './errors.js';

/**
 * How a secret output is written: `append` adds to an existing key log; `replace` writes a whole new file
 * (a capture, a report) that takes the name's place only when `commit()` is called.
 */
export type SecretOutputMode = 'append' | 'replace';

/**
 * An open output that holds secrets (key logs, captures with keys, reports). gokeylog often runs as root on a
 * node where other users can write to the output's directory (/tmp), so the file is never reached through a
 * symbolic link (O_NOFOLLOW), a new file is created by this run alone (O_EXCL, mode 0600), and a file that was
 * there before is never chmodded or truncated: `append` writes only to a file of our own that nobody else can
 * read, `replace` writes a new file beside it and renames it over the old name (whose inode is left as it was).
 * A character device (/dev/null) or a FIFO of our own is written to as it is.
 */
export class SecretOutput {
  readonly fd: number;
  readonly #file: string;
  /** The new file written beside `file` until commit() renames it into place (replace mode only). */
  readonly #temp: string | undefined;
  #committed = false;

  private constructor(fd: number, file: string, temp: string | undefined) {
    this.fd = fd;
    this.#file = file;
    this.#temp = temp;
  }

  static open(file: string, what: string, mode: SecretOutputMode): SecretOutput {
    const refuse = (why: string): never => {
      throw new GokeylogError(`refusing to write ${what} to ${file}: ${why}.`, 'GOKEYLOG_ERR_UNSAFE_OUTPUT');
    };
    const cannot = (err: unknown): never => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') refuse('it is a symbolic link (give the path of a real file)');
      // The errno as it is: for an output, ENOENT is a missing directory, not the "no such file" of errnoReason.
      throw new GokeylogError(`cannot open ${file} for ${what}: ${code ?? err}.`, 'GOKEYLOG_ERR_IO', { cause: err });
    };
    const existing = lstatOrUndefined(file, cannot);
    if (existing) checkExisting(existing, mode, refuse);
    if (mode === 'replace' && (existing === undefined || existing.isFile())) {
      const temp = path.join(path.dirname(file), `.${path.basename(file)}.gokeylog-${randomBytes(6).toString('hex')}`);
      try {
        return new SecretOutput(openSync(temp, NEW_FILE, 0o600), file, temp);
      } catch (err) {
        return cannot(err);
      }
    }
    if (existing === undefined) {
      try {
        return new SecretOutput(openSync(file, NEW_FILE | constants.O_APPEND, 0o600), file, undefined);
      } catch (err) {
        // Created by someone else since lstat: judge that file as any existing one, below.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') cannot(err);
      }
    }
    let fd: number;
    try {
      fd = openSync(file, constants.O_WRONLY | constants.O_NOFOLLOW | (mode === 'append' ? constants.O_APPEND : 0));
    } catch (err) {
      return cannot(err);
    }
    try {
      // What was opened is judged again: the name may have changed hands since lstat.
      checkExisting(fstatSync(fd), mode, refuse);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return new SecretOutput(fd, file, undefined);
  }

  /** Whether the output is a regular file (not a device or a FIFO). */
  get regular(): boolean {
    return fstatSync(this.fd).isFile();
  }

  /** Gives the new file its name (replace mode); a no-op for appended or device outputs. */
  commit(): void {
    if (this.#temp === undefined || this.#committed) return;
    try {
      renameSync(this.#temp, this.#file);
    } catch (err) {
      throw new GokeylogError(`cannot rename ${this.#temp} to ${this.#file}: ${errnoReason(err)}.`, 'GOKEYLOG_ERR_IO', { cause: err });
    }
    this.#committed = true;
  }

  /** Removes the new file of a run that failed before commit(); what was at the name stays as it was. */
  discard(): void {
    if (this.#temp === undefined || this.#committed) return;
    this.#committed = true;
    try {
      unlinkSync(this.#temp);
    } catch {
      // already gone
    }
  }
}

/**
 * Created here, by this run alone, never through a link. Readable too: after a failed write (a full disk) a
 * capture is read back to cut it to its last whole block.
 */
const NEW_FILE = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

function lstatOrUndefined(file: string, cannot: (err: unknown) => never): Stats | undefined {
  try {
    return lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return cannot(err);
  }
}

/**
 * What a file that was there before may be. A character device cannot be made by an unprivileged user, so
 * /dev/null is fine whoever owns it; anything else must be ours, and a file appended to must already be
 * readable by us alone (never chmodded: we did not make it) and have no other names.
 */
function checkExisting(s: Stats, mode: SecretOutputMode, refuse: (why: string) => never): void {
  if (s.isSymbolicLink()) refuse('it is a symbolic link (give the path of a real file)');
  if (s.isCharacterDevice()) return;
  if (!s.isFile() && !s.isFIFO()) refuse('it is neither a regular file, a FIFO nor a character device');
  const uid = process.geteuid?.();
  if (uid !== undefined && s.uid !== uid) refuse(`it exists and belongs to another user (uid ${s.uid})`);
  if (mode === 'replace' && s.isFile()) return;
  if ((s.mode & 0o077) !== 0) refuse(`other users can open it (mode 0${(s.mode & 0o777).toString(8)}); make it 0600 or name a new file`);
  if (s.isFile() && s.nlink > 1) refuse('it has other hard links');
}

/** Whether two paths name the same existing file, or the same path. */
export function sameFile(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  const sa = statSync(a, { throwIfNoEntry: false });
  const sb = statSync(b, { throwIfNoEntry: false });
  return sa !== undefined && sb !== undefined && sa.dev === sb.dev && sa.ino === sb.ino;
}
