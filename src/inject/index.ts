/**
 * `gokeylog inject`: keys into an existing capture, like `editcap --inject-secrets tls,FILE`.
 *
 *   runInject(options, io) → InjectResult     the command: its rules, the secret output, the summary
 *   injectSecrets(input, writer, options)      the copy: a pcap/pcapng input as pcapng with a DSB first
 *   clientRandomsIn(capture)                   the ClientHello randoms of a capture (for --only-needed)
 */
export { runInject, type InjectResult, type RunInjectIo, type RunInjectOptions } from './run.js';
export { injectSecrets, type InjectOptions, type InjectSummary } from './inject.js';
export { clientRandomsIn } from './clientRandoms.js';
