/**
 * `gokeylog inject` as a feature: key log files + a capture → the capture as pcapng with the keys in a
 * Decryption Secrets Block (inject.ts), written to a new 0600 file that takes the output's name only once
 * the whole input was read, or to standard output. The rules of the command live here; the CLI parses the
 * arguments and prints the summary.
 */
import { createWriteStream } from 'node:fs';
import { KeyLog, bytesToHex, readKeyLogFiles } from '../keylog/index.js';
import { PcapngWriter } from '../pcap/index.js';
import { GokeylogError } from '../util/errors.js';
import { SecretOutput, sameFile } from '../util/secretFile.js';
import { clientRandomsIn } from './clientRandoms.js';
import { injectSecrets, type InjectSummary } from './inject.js';

export interface RunInjectOptions {
  /** A capture file, or '-' for standard input. */
  input: string;
  keyLogFiles: string[];
  /** The pcapng to write, or '-' for standard output. */
  output: string;
  /** Drop the DSBs the input already has. */
  discardSecrets: boolean;
  /** Keep only the keys of connections whose ClientHello is in the capture (reads the input twice). */
  onlyNeeded: boolean;
}

export interface RunInjectIo {
  stdout: NodeJS.WritableStream;
  onWarning(message: string): void;
  onProgress?(bytesRead: number, totalBytes: number | undefined): void;
}

export interface InjectResult extends InjectSummary {
  output: string;
  keysInjected: number;
  keysDropped: number;
}

export async function runInject(opts: RunInjectOptions, io: RunInjectIo): Promise<InjectResult> {
  const { input } = opts;
  const toStdout = opts.output === '-';
  if (!toStdout && input !== '-' && sameFile(input, opts.output)) {
    throw new GokeylogError(`the output ${opts.output} is the input: write to another file.`, 'GOKEYLOG_ERR_USAGE');
  }
  if (opts.onlyNeeded && input === '-') throw new GokeylogError('--only-needed reads the input twice, so it needs a file, not standard input.', 'GOKEYLOG_ERR_USAGE');
  const warn = io.onWarning;
  let keyLog = await readKeyLogFiles(opts.keyLogFiles, { onWarning: warn });
  if (keyLog.size + keyLog.midstreamSize === 0) throw new GokeylogError(`no keys in ${opts.keyLogFiles.join(', ')}.`, 'GOKEYLOG_ERR_BAD_KEYLOG');
  const keysRead = keyLog.size + keyLog.midstreamSize;
  if (opts.onlyNeeded) keyLog = neededKeys(keyLog, await clientRandomsIn(input, { onWarning: warn }));
  if (keyLog.size + keyLog.midstreamSize === 0) warn('no key belongs to a connection in the capture: no secrets block written');

  // A new file takes the name of -o only when the whole input was read: a failed run leaves -o as it was.
  const secretOut = toStdout ? undefined : SecretOutput.open(opts.output, 'the output', 'replace');
  const outFd = secretOut?.fd;
  const out = outFd === undefined ? io.stdout : createWriteStream('', { fd: outFd, highWaterMark: 8 * 1024 * 1024 });
  const writer = new PcapngWriter(out, { name: toStdout ? 'standard output' : opts.output });
  let ok = false;
  try {
    const summary = await injectSecrets(input, writer, {
      keyLogText: keyLog.toText(),
      discardSecrets: opts.discardSecrets,
      userAppl: 'gokeylog inject',
      onWarning: warn,
      onProgress: io.onProgress,
    });
    await writer.end();
    secretOut?.commit();
    ok = true;
    const injected = keyLog.size + keyLog.midstreamSize;
    return { output: opts.output, ...summary, keysInjected: injected, keysDropped: keysRead - injected };
  } finally {
    if (!ok && secretOut !== undefined) {
      (out as NodeJS.WritableStream & { destroy(): void }).destroy();
      secretOut.discard();
    }
  }
}

function neededKeys(keyLog: KeyLog, randoms: Set<string>): KeyLog {
  const needed = new KeyLog();
  for (const e of keyLog.entries()) if (randoms.has(bytesToHex(e.clientRandom))) needed.add(e);
  // Mid-stream secrets belong to connections whose ClientHello no capture has: they stay.
  for (const s of keyLog.midstreamEntries()) needed.addMidstream(s);
  return needed;
}
