import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { KeyLog } from '../../src/keylog/keylog.js';
import { parseKeyLog } from '../../src/keylog/parse.js';
import { testPki } from '../support/pki.js';
import { startRecorder, type RecordedChunk } from '../support/recorder.js';
import { readFileSync } from 'node:fs';

/** A real TLS session between Node's client and server, recorded on the wire by a relay in between. */
export interface RecordedSession {
  /** Wire chunks in the order the relay saw them. */
  chunks: RecordedChunk[];
  keys: KeyLog;
  request: Buffer;
  response: Buffer;
}

/** Runs one request/response over TLS through a recording relay on 127.0.0.1 (no root needed). */
export async function recordSession(options: { version: 'TLSv1.2' | 'TLSv1.3'; ciphers?: string; responseBytes?: number }): Promise<RecordedSession> {
  const pki = await testPki();
  const lines: string[] = [];
  const request = Buffer.from('GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: test\r\n\r\n');
  const response = Buffer.alloc(options.responseBytes ?? 40_000, 'x');
  const server = tls.createServer(
    {
      cert: readFileSync(pki.serverCert),
      key: readFileSync(pki.serverKey),
      ca: readFileSync(pki.caCert),
      requestCert: true,
      minVersion: options.version,
      maxVersion: options.version,
      ciphers: options.ciphers,
    },
    (socket) => {
      socket.once('data', () => socket.end(response));
    },
  );
  server.on('keylog', (line: Buffer) => lines.push(line.toString('latin1')));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const relay = await startRecorder((server.address() as net.AddressInfo).port);
  try {
    const client = tls.connect({
      port: relay.port,
      host: '127.0.0.1',
      ca: readFileSync(pki.caCert),
      cert: readFileSync(pki.clientCert),
      key: readFileSync(pki.clientKey),
      servername: 'localhost',
      ALPNProtocols: ['http/1.1'],
    });
    await once(client, 'secureConnect');
    client.write(request);
    const received: Buffer[] = [];
    client.on('data', (b: Buffer) => received.push(b));
    await once(client, 'close');
    if (!Buffer.concat(received).equals(response)) throw new Error('the TLS session did not complete');
  } finally {
    await relay.close();
    server.close();
  }
  const keys = new KeyLog();
  for (const entry of parseKeyLog(lines.join('')).entries) keys.add(entry);
  return { chunks: relay.chunks, keys, request, response };
}
