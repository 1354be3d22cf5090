// `gokeylog demo --real` end to end: the real control plane, the node client connected before gokeylog, and
// the controller manager's certificate that expires in 3 days found and named. Referees: openssl for that
// certificate's subject and end date (from --keep DIR), the audit log the demo's API server wrote, tracefs and
// ps for what is left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { runAnalyze } from '../analyze/cli.js';
import { requireProbing } from '../probe/harness.js';
import { requireOrSkip } from '../support/env.js';
import { kubeControlPlaneBinaries } from '../support/kube.js';
import { readAuditLog } from '../support/kubeAudit.js';
import { cliArgv } from '../support/paths.js';
import { secretTempDir } from '../support/pki.js';
import { commandExists, runProcess, spawnChecked } from '../support/traffic.js';

test('demo --real names the controller manager\'s certificate that expires in 3 days, on a real API server', { timeout: 600_000 }, async (t) => {
  if (!requireProbing(t)) return;
  if (!requireOrSkip(t, ['tcpdump', 'openssl'].every(commandExists), 'tcpdump and openssl are needed')) return;
  const binaries = kubeControlPlaneBinaries();
  if (!requireOrSkip(t, binaries !== null, 'the real control plane is not built (bash scripts/setup-kube.sh)')) return;
  const keep = path.join(secretTempDir('demo-real'), 'kept');
  const run = await runProcess(process.execPath, [...cliArgv(), 'demo', '--real', '--keep', keep], { timeoutMs: 540_000 });
  assert.equal(run.code, 0, `${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`);

  // Which kept certificate is the controller manager's, and when it ends, as openssl reads them.
  const certs = readdirSync(path.join(keep, 'cluster')).filter((f) => f.endsWith('.crt'));
  let notAfter: string | undefined;
  for (const c of certs) {
    const { stdout } = await spawnChecked('openssl', ['x509', '-in', path.join(keep, 'cluster', c), '-noout', '-subject', '-enddate']);
    if (/CN ?= ?system:kube-controller-manager/.test(stdout)) notAfter = /notAfter=(.*)/.exec(stdout)?.[1];
  }
  assert.ok(notAfter, 'the demo issued a controller-manager certificate');
  const days = Math.floor((Date.parse(notAfter!) - Date.now()) / 86_400_000);
  assert.ok(days === 2 || days === 3, `it expires in 3 days (${notAfter})`);
  // The demo's report names it (the text's wording is the report's; its JSON is the contract).
  assert.match(run.stdout, /system:kube-controller-manager/);
  const analyzed = await runAnalyze([path.join(keep, 'demo.pcapng'), '--json', '--expiring-within', '7']);
  assert.equal(analyzed.code, 0, analyzed.stderr);
  const identities = (JSON.parse(analyzed.stdout) as { identities: Array<{ user: string; notAfter: string; daysLeft: number; expiringSoon: boolean }> }).identities;
  const cm = identities.find((i) => i.user === 'system:kube-controller-manager');
  assert.ok(cm && cm.expiringSoon && Date.parse(cm.notAfter) === Date.parse(notAfter!), JSON.stringify(cm));

  // The API server's own audit log: the controller manager really called it, with that certificate.
  const events = readAuditLog(path.join(keep, 'audit.log'));
  assert.ok(events.some((e) => e.user.username === 'system:kube-controller-manager' && e.verb === 'list' && e.objectRef?.resource === 'widgets'));
  assert.ok(existsIn(readFileSync(path.join(keep, 'audit.log'), 'utf8'), 'system:node:worker-1'), 'the node client called it too');

  // Nothing left behind: no process of the demo's control plane, no probe on its API server.
  const apiserverPid = /API server pid (\d+)/.exec(run.stdout)?.[1];
  assert.ok(apiserverPid);
  const { stdout: ps } = await spawnChecked('ps', ['-eo', 'pid=,args=']);
  assert.deepEqual(ps.split('\n').filter((l) => l.includes(keep)), [], 'no demo process still runs');
  const probes = readFileSync('/sys/kernel/tracing/uprobe_events', 'utf8').split('\n').filter((l) => l.includes(`/proc/${apiserverPid}/exe`));
  assert.deepEqual(probes, [], 'no probe left on the API server');
});

const existsIn = (text: string, needle: string): boolean => text.includes(needle);
