// The "who uses this?" filters over credentials, requests and client addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Filter, NO_FILTER, type ReportFilter } from '../../src/report/filters.js';
import { certificateCredential, ANONYMOUS } from '../../src/report/identities.js';
import { ExpiryWindow } from '../../src/report/timeLeft.js';
import { kubeRequestInfo } from '../../src/kube/index.js';

const admin = certificateCredential({
  subject: 'O=system:masters, CN=kubernetes-admin', commonName: 'kubernetes-admin', organizations: ['system:masters'], issuer: 'CN=kubernetes',
  subjectAltNames: [], notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2026-01-20T00:00:00.000Z', serialNumber: '00AB12',
  sha256: 'AB:CD:EF:01', authorityKeyId: '01:02',
});
const NOW = Date.parse('2026-01-10T00:00:00Z');
/** --expiring-within DAYS of NOW. */
const within = (days: number): ExpiryWindow => new ExpiryWindow(NOW / 1000, days);
const f = (spec: Partial<ReportFilter>): Filter => new Filter({ ...NO_FILTER, ...spec });

test('credential filters', () => {
  assert.equal(new Filter(NO_FILTER).active, false);
  assert.equal(f({ users: ['kubernetes-admin'] }).credential(admin, within(0)), true);
  assert.equal(f({ users: ['alice'] }).credential(admin, within(0)), false);
  assert.equal(f({ groups: ['system:masters'] }).credential(admin, within(0)), true);
  assert.equal(f({ fingerprints: ['ab:cd'] }).credential(admin, within(0)), true);
  assert.equal(f({ fingerprints: ['abce'] }).credential(admin, within(0)), false);
  assert.equal(f({ serials: ['ab12'] }).credential(admin, within(0)), true);
  assert.equal(f({ expiringOnly: true }).credential(admin, within(9)), false);
  assert.equal(f({ expiringOnly: true }).credential(admin, within(10)), true);
  assert.equal(f({ users: ['system:anonymous'] }).credential(ANONYMOUS, within(0)), true);
  assert.equal(f({ tokenSubjects: ['x'] }).credential(admin, within(0)), false);
});

test('request and client filters', () => {
  const list = kubeRequestInfo('GET', '/api/v1/namespaces/kube-system/pods');
  const status = kubeRequestInfo('PATCH', '/api/v1/nodes/n1/status');
  assert.equal(f({ verbs: ['list'] }).request(list), true);
  assert.equal(f({ verbs: ['get'] }).request(list), false);
  assert.equal(f({ resources: ['pods'], namespaces: ['kube-system'] }).request(list), true);
  assert.equal(f({ resources: ['nodes/status'] }).request(status), true);
  assert.equal(f({ namespaces: ['default'] }).request(status), false);
  const clients = f({ clients: ['10.0.0.0/24', '::1'] });
  assert.equal(clients.client('10.0.0.77'), true);
  assert.equal(clients.client('10.0.1.1'), false);
  assert.equal(clients.client('::1'), true);
  assert.throws(() => f({ clients: ['10.0.0.0/33'] }), /--client 10.0.0.0\/33 is not an IP address or CIDR/);
  assert.throws(() => f({ clients: ['nope'] }), /--client nope/);
});
