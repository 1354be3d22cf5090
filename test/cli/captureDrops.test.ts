// Kernel drops are told while capture runs, not only in its summary: tcpdump is held (SIGSTOP) while ~200 MB
// cross loopback, so its 64 MiB kernel ring overflows; once it runs again, capture must say that the kernel
// dropped packets. Referee: tcpdump's own counters in capture's summary (droppedByKernel).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { descendants, leftovers, requireProbing } from '../probe/harness.js';
import { requireOrSkip } from '../support/env.js';
import { startCli } from '../support/cli.js';
import { loadFixtures, testPki } from '../support/fixtures.js';
import { commandExists, startServer } from '../support/traffic.js';

const comm = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};

test('capture warns about kernel drops when they happen', async (t) => {
  if (!requireProbing(t) || !requireOrSkip(t, commandExists('tcpdump'), 'tcpdump is needed')) return;
  const fixture = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  if (!requireOrSkip(t, fixture !== undefined, 'no stripped amd64 fixtures (run npm run setup)')) return;
  const pki = await testPki();
  const server = await startServer(fixture!.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
  // A sink on its own port: the bulk traffic the capture filter takes.
  const sink = net.createServer((s) => s.resume());
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const port = (sink.address() as net.AddressInfo).port;
  try {
    const tool = await startCli(['capture', '--pid', String(server.child.pid), '-w', '/dev/null', '-f', `tcp port ${port}`, '--json'], /gokeylog: capturing on /);
    let tcpdump: number | undefined;
    try {
      tcpdump = descendants(tool.child.pid!).find((pid) => comm(pid) === 'tcpdump');
      assert.ok(tcpdump, 'capture runs tcpdump');
      process.kill(tcpdump, 'SIGSTOP');
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      const chunk = Buffer.alloc(1 << 20, 0x61);
      for (let i = 0; i < 200; i++) if (!socket.write(chunk)) await once(socket, 'drain');
      socket.end();
      await once(socket, 'close');
      process.kill(tcpdump, 'SIGCONT');
      tcpdump = undefined;
      for (let i = 0; i < 200 && !/the kernel dropped \d+ packets? before tcpdump read/.test(tool.stderr()); i++) await sleep(50);
    } finally {
      if (tcpdump !== undefined) process.kill(tcpdump, 'SIGCONT');
      assert.equal(await tool.stop('SIGINT'), 0, tool.stderr());
    }
    const told = /gokeylog: the kernel dropped (\d+) packets? before tcpdump read (?:it|them) \((\d+) so far\): the capture misses traffic/.exec(tool.stderr());
    assert.ok(told, tool.stderr());
    const summary = JSON.parse(tool.stdout().toString('utf8')) as { tcpdump: { droppedByKernel: number } };
    assert.ok(summary.tcpdump.droppedByKernel >= Number(told[2]) && Number(told[2]) > 0, `${told[0]} / summary ${summary.tcpdump.droppedByKernel}`);
    assert.deepEqual(leftovers(tool.child.pid!), []);
  } finally {
    sink.close();
    await server.stop();
  }
});
