/**
 * `gokeylog keylog`: live NSS key logs of running Go programs.
 *
 *   runKeylog(options, io)    runs until options.signal aborts or the duration; always removes probes
 */
export { runKeylog, type RunKeylogIo, type RunKeylogOptions } from './keylogger.js';
