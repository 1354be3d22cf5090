// A loopback TCP relay that records what each side sent, in arrival order: real bytes from Node's own
// clients and servers (nghttp2, llhttp, OpenSSL) to feed our decoders, no root needed.
import net from 'node:net';
import type { Direction } from '../../src/net/index.js';

export interface RecordedChunk {
  /** toServer: sent by the client. */
  direction: Direction;
  bytes: Buffer;
}

export interface Recorder {
  port: number;
  chunks: RecordedChunk[];
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (an ephemeral port) and relays each connection to `targetPort`, recording both ways. */
export async function startRecorder(targetPort: number): Promise<Recorder> {
  const chunks: RecordedChunk[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (b) => {
      chunks.push({ direction: 'toServer', bytes: Buffer.from(b) });
      upstream.write(b);
    });
    upstream.on('data', (b) => {
      chunks.push({ direction: 'toClient', bytes: Buffer.from(b) });
      client.write(b);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    chunks,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A chunk as the HTTP decoders take it: `decoder.client(bytes)` or `decoder.server(bytes)`. */
export interface SideChunk {
  side: 'client' | 'server';
  bytes: Buffer;
}

export const bySide = (chunks: RecordedChunk[]): SideChunk[] =>
  chunks.map((c) => ({ side: c.direction === 'toServer' ? 'client' : 'server', bytes: c.bytes }));
