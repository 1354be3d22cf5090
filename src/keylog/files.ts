import { readFile } from 'node:fs/promises';
import { ExitCode, GokeylogError } from '../util/errors.js';
import { KeyLog } from './keylog.js';
import { parseKeyLog } from './parse.js';

export interface ReadKeyLogOptions {
  /** Told about each bad line that was skipped. */
  onWarning?: (message: string) => void;
}

/**
 * Reads and merges NSS key log files (with their mid-stream secrets) (first occurrence of a client random + label wins). Unreadable files
 * and files with no valid line but some invalid ones (not a key log at all) are errors.
 */
export async function readKeyLogFiles(paths: string[], opts: ReadKeyLogOptions = {}): Promise<KeyLog> {
  const keyLog = new KeyLog();
  for (const path of paths) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : String(code ?? err);
      throw new GokeylogError(`cannot read key log ${path}: ${why}.`, code === 'ENOENT' ? ExitCode.notFound : ExitCode.failure, { cause: err });
    }
    const { entries, midstream, errors } = parseKeyLog(text);
    if (entries.length === 0 && midstream.length === 0 && errors.length > 0) {
      throw new GokeylogError(`${path} is not an NSS key log (line ${errors[0]!.line}: ${errors[0]!.message}).`, ExitCode.unsupportedInput);
    }
    for (const e of errors) opts.onWarning?.(`${path}:${e.line}: ${e.message}, line skipped`);
    for (const e of entries) keyLog.add(e);
    for (const s of midstream) keyLog.addMidstream(s);
  }
  return keyLog;
}
