import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseKeyLog } from '../../src/keylog/parse.js';
import { KeyLog } from '../../src/keylog/keylog.js';
import { PacketPipeline, tlsConnectionFor } from '../../src/analyze/index.js';
import type { ConnectionInfo, Direction } from '../../src/net/index.js';
import { readCapture } from '../../src/pcap/index.js';
import type { KeySource, TlsResult } from '../../src/tls/index.js';
import { loadFixtures, type GoFixture } from '../support/fixtures.js';
import { secretTempDir } from '../support/pki.js';
import { spawnChecked, startCapture } from '../support/traffic.js';

/** A captured frame, copied out of the reader so tests can drop, repeat and reorder frames. */
export interface Frame {
  linkType: number;
  timeNs: bigint;
  data: Uint8Array;
}

export interface DecodedConnection {
  info: ConnectionInfo;
  result: TlsResult;
  /** Decrypted application data per direction, concatenated. */
  toServer: Buffer;
  toClient: Buffer;
  end: string;
}

export async function readFrames(file: string): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const block of readCapture(file)) {
    if (block.kind === 'packet') frames.push({ linkType: block.linkType, timeNs: block.timestamp, data: Uint8Array.prototype.slice.call(block.data) });
  }
  return frames;
}

export function loadKeyLog(...files: string[]): KeyLog {
  const keyLog = new KeyLog();
  for (const file of files) for (const entry of parseKeyLog(readFileSync(file, 'utf8')).entries) keyLog.add(entry);
  return keyLog;
}

/** Runs frames through analyze's own packet path (PacketPipeline) and TLS (tlsConnectionFor), keeping the plaintext. */
export function decryptFrames(frames: Iterable<Frame>, keys: KeySource): DecodedConnection[] {
  const connections: DecodedConnection[] = [];
  const pipeline = new PacketPipeline((info, sessions) => {
    const chunks: Record<Direction, Buffer[]> = { toServer: [], toClient: [] };
    let lastEnd = '';
    const tls = tlsConnectionFor(info, keys, sessions, {
      onApplicationData: (direction, data) => chunks[direction].push(Buffer.from(data)),
      onEnd: (result) => {
        connections.push({ info, result, toServer: Buffer.concat(chunks.toServer), toClient: Buffer.concat(chunks.toClient), end: lastEnd });
      },
    });
    return {
      // Looks ahead as analyze's connections do, so that the tests decrypt through the batched path too.
      lookAhead: (d: Direction, b: Uint8Array) => tls.lookAhead(d, b),
      openAhead: () => tls.openAhead(),
      onData: (d, b, t) => tls.onData(d, b, t),
      onGap: (d, n, t) => tls.onGap(d, n, t),
      onEnd: (end, t) => {
        lastEnd = end;
        tls.onEnd(end, t);
      },
    };
  });
  for (const frame of frames) pipeline.push(frame.linkType, frame.data, frame.timeNs);
  pipeline.finish();
  return connections.sort((a, b) => a.info.id - b.info.id);
}

/** The newest toolchain's unstripped tlsserver/tlsclient, or null before setup built them. */
export function newestFixturePair(): { server: GoFixture; client: GoFixture } | null {
  const pick = (program: 'tlsserver' | 'tlsclient'): GoFixture | undefined =>
    loadFixtures({ program, arch: 'amd64', mode: 'exe', stripped: false })
      .sort((a, b) => Number(a.toolchain.split('.')[1]) - Number(b.toolchain.split('.')[1]))
      .at(-1);
  const server = pick('tlsserver');
  const client = pick('tlsclient');
  return server && client ? { server, client } : null;
}

/**
 * The referee: tshark's own decryption of one TCP stream (`-z follow,tls,raw`), per direction. Lines of
 * "Node 0" (whichever end sent decrypted data first) are not indented, the other end's are tab-indented.
 */
export async function tsharkDecrypted(
  pcap: string,
  keyLog: string,
  tcpStream: number,
  serverPort: number,
): Promise<{ toServer: Buffer; toClient: Buffer }> {
  // -d: the server's port decoded as TLS, so that tshark never picks another dissector for a client's random
  // ephemeral port (it tries registered ports before its TLS heuristic).
  const args = ['-n', '-r', pcap, '-o', `tls.keylog_file:${keyLog}`, '-d', `tcp.port==${serverPort},tls`, '-q', '-z', `follow,tls,raw,${tcpStream}`];
  const { stdout } = await spawnChecked('tshark', args, { timeoutMs: 60_000 });
  const node0 = /^Node 0: .*:(\d+)$/m.exec(stdout);
  const node0IsServer = node0 !== null && Number(node0[1]) === serverPort;
  const plain: Buffer[] = [];
  const indented: Buffer[] = [];
  for (const line of stdout.split('\n')) {
    if (/^[0-9a-f]+$/.test(line)) plain.push(Buffer.from(line, 'hex'));
    else if (/^\t[0-9a-f]+$/.test(line)) indented.push(Buffer.from(line.slice(1), 'hex'));
  }
  const [server, client] = node0IsServer ? [plain, indented] : [indented, plain];
  return { toServer: Buffer.concat(client), toClient: Buffer.concat(server) };
}

/**
 * Whether tcpdump kept every segment, in tshark's judgement: on a loaded machine it sometimes drops some,
 * and a capture with holes cannot serve as a reference (the engine rightly reports the connection incomplete).
 */
export async function captureIsComplete(pcap: string): Promise<boolean> {
  const filter = 'tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment';
  const { stdout } = await spawnChecked('tshark', ['-n', '-r', pcap, '-Y', filter], { timeoutMs: 60_000 });
  return stdout.trim() === '';
}

/** Runs `capture` until tcpdump recorded it completely (at most `attempts` times). */
export async function completeCapture<T extends { pcap?: string }>(capture: () => Promise<T>, attempts = 4): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const result = await capture();
    if (attempt === attempts || (await captureIsComplete(result.pcap!))) return result;
  }
}

/**
 * Captures (tcpdump on lo, root) one plain TCP exchange with a Node server on `host`: `serve` handles the
 * server side, `talk` the client side and resolves when it is done. Returns the frames and the server port.
 */
export async function captureTcpExchange(
  host: string,
  serve: (socket: net.Socket) => void,
  talk: (socket: net.Socket) => Promise<void>,
): Promise<{ frames: Frame[]; port: number }> {
  const server = net.createServer(serve);
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  try {
    const capture = await startCapture({ port, file: path.join(secretTempDir('tcp'), 'exchange.pcap') });
    try {
      const socket = net.connect(port, host);
      await once(socket, 'connect');
      await talk(socket);
    } finally {
      await capture.stop();
    }
    return { frames: await readFrames(capture.file), port };
  } finally {
    server.close();
  }
}
