// What every command shares: one message style (`gokeylog: <sentence>`), usage errors that name the help to
// read instead of printing all of it, exit codes as the README documents them, help with examples and an
// exit-code paragraph, and shell completion that real bash and zsh load and answer from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { inspectBinary } from '../../src/golang/index.js';
import { GokeylogError } from '../../src/util/errors.js';
import { cliArgv } from '../support/paths.js';
import { requireOrSkip } from '../support/env.js';
import { runProcess } from '../support/traffic.js';

const COMMANDS = ['inspect', 'keylog', 'bpftrace', 'capture', 'inject', 'analyze', 'conns', 'status', 'demo'];
const gokeylog = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runProcess(process.execPath, [...cliArgv(), ...args], { timeoutMs: 60_000, env: { ...process.env, ...env } });

const dir = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-conventions-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('every --help has examples and an exit-code paragraph; the top-level help has examples too', async () => {
  const top = await gokeylog(['--help']);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /\nExamples:\n  gokeylog inspect /);
  for (const command of COMMANDS) {
    const r = await gokeylog([command, '--help']);
    assert.equal(r.code, 0, command);
    assert.match(r.stdout, /\nExamples:\n  (# .*\n  )?(sudo )?gokeylog /, command);
    assert.match(r.stdout, /\nExit codes: 0 ok, 1 failure \(/, command);
  }
  const inspect = await gokeylog(['inspect', '--help']);
  // README: 3 unsupported input, 4 writeKeyLog not found or not validated, or an input file that does not exist.
  assert.match(inspect.stdout, /2 usage,\s+3 not a supported Go binary[^]*4 writeKeyLog not found[^]*no such file/);
});

test('usage errors: one sentence in our style, then where the help is — not the whole help', async () => {
  const cases: [string[], RegExp, string][] = [
    [['analyze', '--no-such-option', 'x.pcap'], /^gokeylog: unknown option '--no-such-option'/, 'analyze'],
    [['inject', 'x.pcap', '--keylog', 'k.log'], /^gokeylog: required option '-o, --output <file>' not specified\.$/, 'inject'],
    [['analyze', 'x.pcap', '--expiring-within'], /^gokeylog: option '--expiring-within <days>' argument missing\.$/, 'analyze'],
    [['no-such-command'], /^gokeylog: unknown command 'no-such-command'\.$/, ''],
    // Our own usage errors, found after commander parsed the line, end the same way.
    [['capture', '-w', '/dev/null'], /^gokeylog: say which programs to capture: /, 'capture'],
    [['inspect', '--pid', 'abc'], /^gokeylog: --pid abc is not a process id\.$/, 'inspect'],
    [['analyze'], /^gokeylog: say which captures to read/, 'analyze'],
  ];
  for (const [args, first, command] of cases) {
    const r = await gokeylog(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[0]!, first);
    assert.equal(lines[1], command ? `See 'gokeylog ${command} --help'.` : "See 'gokeylog --help'.");
  }
});

test('a missing input file or process exits 4 (not found), as the README says', async () => {
  for (const args of [['inspect', '/nonexistent'], ['inspect', '--pid', '999999999'], ['analyze', '/nonexistent.pcap'], ['bpftrace', '/nonexistent']]) {
    const r = await gokeylog(args);
    assert.equal(r.code, 4, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^gokeylog: [a-z].*\.\n$/);
  }
});

test('errors carry a stable code of their own, not only an exit status', async () => {
  const text = path.join(dir, 'notes.txt');
  writeFileSync(text, 'not a binary\n');
  const codeOf = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
    } catch (err) {
      assert.ok(err instanceof GokeylogError, String(err));
      return err.code;
    }
    assert.fail('no error');
  };
  assert.equal(await codeOf(inspectBinary(text)), 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  assert.equal(await codeOf(inspectBinary(path.join(dir, 'missing'))), 'GOKEYLOG_ERR_FILE_NOT_FOUND');
  assert.equal(await codeOf(inspectBinary(dir)), 'GOKEYLOG_ERR_UNSUPPORTED_BINARY'); // a directory is no binary
});

/** A `gokeylog` on PATH, as a user's shell finds it: the completion scripts call it by name. */
function shimDir(): string {
  const bin = path.join(dir, 'bin');
  execFileSync('mkdir', ['-p', bin]);
  const shim = path.join(bin, 'gokeylog');
  writeFileSync(shim, `#!/bin/sh\nexec ${[process.execPath, ...cliArgv()].map((a) => `'${a}'`).join(' ')} "$@"\n`);
  chmodSync(shim, 0o755);
  return bin;
}

test('bash completion: the script bash sources completes commands, options and option values', () => {
  const bin = shimDir();
  const complete = (line: string): string[] => {
    const script = `
      source <(gokeylog completion bash)
      COMP_LINE='${line}'; COMP_POINT=\${#COMP_LINE}
      read -ra COMP_WORDS <<< "$COMP_LINE"; [[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')
      COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
      _gokeylog_completion
      printf '%s\\n' "\${COMPREPLY[@]}"`;
    return execFileSync('bash', ['-c', script], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' }).split('\n').filter(Boolean);
  };
  assert.deepEqual(complete('gokeylog an'), ['analyze']);
  assert.ok(complete('gokeylog ').includes('capture'));
  assert.ok(!complete('gokeylog ').includes('completion-server'), 'the hidden server is not offered');
  assert.deepEqual(complete('gokeylog analyze --expiry-'), ['--expiry-from']);
  assert.deepEqual(complete('gokeylog analyze --nd'), ['--ndjson']);
  assert.deepEqual(complete('gokeylog keylog --backend '), ['tracefs', 'bpftrace']);
});

test('zsh completion: the script registers with compinit and the server answers in zsh format', async (t) => {
  let zsh = true;
  try {
    execFileSync('zsh', ['--version']);
  } catch {
    zsh = false;
  }
  if (!requireOrSkip(t, zsh, 'zsh is not installed (scripts/setup.sh installs it)')) return;
  const bin = shimDir();
  // compinit -D: no dump file (compinit -d FILE replaces FILE by a new one: never point it at /dev/null).
  const registered = execFileSync('zsh', ['-fc', 'autoload -U compinit && compinit -u -D && source <(gokeylog completion zsh) && print -r -- $_comps[gokeylog]'], {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    encoding: 'utf8',
  });
  assert.equal(registered.trim(), '_gokeylog_completion');
  assert.ok(statSync('/dev/null').isCharacterDevice(), 'zsh left /dev/null as it was');
  const line = 'gokeylog ana';
  const r = await gokeylog(['completion-server', '--', ...line.split(' ')], { COMP_CWORD: '1', COMP_LINE: line, COMP_POINT: String(line.length), SHELL: 'zsh' });
  // zsh's _describe takes "name:description"; the colon inside a description is escaped.
  assert.match(r.stdout, /^analyze:Decrypt TLS in captures/m);
});
