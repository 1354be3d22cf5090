/**
 * `gokeylog conns`: every live TLS connection of a Go process — including those opened long before gokeylog
 * started — with its peer's certificate identity, found by a short sweep of validated entry probes on
 * (*tls.Conn).Read/Write and read-only reads of /proc/PID/mem (issue 9).
 */
export { sweepConns, type SweepOptions, type SweepResult, type SweptConn, type SweptProcess } from './sweep.js';
export { connRows, directions, midstreamKeyLines, type ConnRow, type RowCertificate } from './rows.js';
export { MIDSTREAM_SWEEP_SECONDS, sweepMidstreamLines } from './midstream.js';
export { builtinLayouts, readLayoutFile, type LayoutFile } from './layout.js';
