/**
 * `gokeylog capture`: tcpdump in each of the targets' network namespaces (one pcapng interface each, also for
 * targets found later) plus live keys from the probe, into ONE pcapng in which each Decryption Secrets Block
 * precedes the packets it decrypts.
 *
 *   runCapture(options) → CaptureSummary     runs until options.signal aborts or duration; always removes probes, stops tcpdump
 *   SecretsOrderer                           the pure ordering policy (packets held until their keys are written)
 *   Tcpdump / tcpdumpCommand / parseTcpdumpStats
 *   chooseNetns                              the namespaces to capture in: one tcpdump per target namespace
 */
export { describeFilter, runCapture } from './capture.js';
export { TargetTraffic } from './ownTraffic.js';
export type { CaptureOptions, CaptureStatus, CaptureSummary } from './capture.js';
export { SecretsOrderer } from './secretsOrderer.js';
export type { OrderedBlock, OrderedKey, OrdererStats, PacketFacts, SecretsOrdererOptions } from './secretsOrderer.js';
export { packetFacts } from './packetFacts.js';
export { Tcpdump, parseTcpdumpStats, tcpdumpCommand } from './tcpdump.js';
export type { TcpdumpOptions, TcpdumpStats } from './tcpdump.js';
export { chooseNetns } from './netns.js';
export type { NetnsChoice } from './netns.js';
