import { constants, fchmodSync, fstatSync, openSync } from 'node:fs';
import { ExitCode, GokeylogError } from './errors.js';

/**
 * Opens a file for key logs or captures (they hold secrets): created 0600, and an existing regular file is
 * made 0600. A device or FIFO (/dev/null, a named pipe) is written to as it is, never chmodded.
 */
export function openSecretFile(file: string, what: string, flags: number): number {
  try {
    const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | flags, 0o600);
    if (fstatSync(fd).isFile()) fchmodSync(fd, 0o600);
    return fd;
  } catch (err) {
    throw new GokeylogError(`cannot open ${file} for ${what}: ${(err as NodeJS.ErrnoException).code ?? err}.`, ExitCode.failure, { cause: err });
  }
}
