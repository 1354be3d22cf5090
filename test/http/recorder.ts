// A loopback TCP relay that records what each side sent, in arrival order: real HTTP/2 and HTTP/1.1
// bytes from Node's own client and server (nghttp2, llhttp) to feed our decoders.
import net from 'node:net';

export interface RecordedChunk {
  side: 'client' | 'server';
  bytes: Buffer;
}

export interface Recorder {
  port: number;
  chunks: RecordedChunk[];
  close(): Promise<void>;
}

export async function startRecorder(targetPort: number): Promise<Recorder> {
  const chunks: RecordedChunk[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (b) => {
      chunks.push({ side: 'client', bytes: Buffer.from(b) });
      upstream.write(b);
    });
    upstream.on('data', (b) => {
      chunks.push({ side: 'server', bytes: Buffer.from(b) });
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
