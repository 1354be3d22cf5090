// Request info for real Kubernetes API paths. Expected values follow the Kubernetes API conventions
// (api-concepts: resource URIs, verbs) and the API server's documented request-info behaviour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kubeRequestInfo, type KubeRequestInfo } from '../../src/kube/requestInfo.js';

const cases: Array<[method: string, path: string, expected: Partial<KubeRequestInfo>]> = [
  ['GET', '/api/v1/namespaces/kube-system/pods?limit=500', { verb: 'list', apiGroup: '', apiVersion: 'v1', namespace: 'kube-system', resource: 'pods' }],
  ['GET', '/api/v1/namespaces/default/pods/nginx', { verb: 'get', namespace: 'default', resource: 'pods', name: 'nginx' }],
  ['GET', '/api/v1/namespaces/default/pods/nginx/log?container=c', { verb: 'get', resource: 'pods', name: 'nginx', subresource: 'log' }],
  ['GET', '/api/v1/pods?watch=1&resourceVersion=100', { verb: 'watch', resource: 'pods', namespace: undefined }],
  ['GET', '/api/v1/namespaces/ns/pods?watch=true', { verb: 'watch', namespace: 'ns', resource: 'pods' }],
  ['GET', '/api/v1/namespaces/ns/pods?watch=false', { verb: 'list', namespace: 'ns', resource: 'pods' }],
  ['GET', '/api/v1/watch/namespaces/ns/pods/p1', { verb: 'watch', namespace: 'ns', resource: 'pods', name: 'p1' }],
  ['GET', '/api/v1/watch/pods', { verb: 'watch', resource: 'pods' }],
  ['POST', '/apis/apps/v1/namespaces/default/deployments', { verb: 'create', apiGroup: 'apps', apiVersion: 'v1', namespace: 'default', resource: 'deployments' }],
  ['PUT', '/apis/apps/v1/namespaces/default/deployments/web/scale', { verb: 'update', apiGroup: 'apps', resource: 'deployments', name: 'web', subresource: 'scale' }],
  ['PATCH', '/api/v1/nodes/node-1/status', { verb: 'patch', resource: 'nodes', name: 'node-1', subresource: 'status', namespace: undefined }],
  ['DELETE', '/api/v1/namespaces/default/pods/nginx', { verb: 'delete', name: 'nginx' }],
  ['DELETE', '/api/v1/namespaces/default/pods', { verb: 'deletecollection', resource: 'pods' }],
  ['GET', '/api/v1/namespaces', { verb: 'list', resource: 'namespaces', namespace: undefined }],
  ['GET', '/api/v1/namespaces/kube-system', { verb: 'get', resource: 'namespaces', name: 'kube-system', namespace: 'kube-system' }],
  ['PUT', '/api/v1/namespaces/old/finalize', { verb: 'update', resource: 'namespaces', name: 'old', subresource: 'finalize', namespace: 'old' }],
  ['GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1', { verb: 'get', apiGroup: 'coordination.k8s.io', resource: 'leases', name: 'node-1', namespace: 'kube-node-lease' }],
  ['PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1', { verb: 'update', resource: 'leases' }],
  ['POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { verb: 'create', apiGroup: 'authorization.k8s.io', resource: 'subjectaccessreviews' }],
  ['POST', '/api/v1/namespaces/default/serviceaccounts/default/token', { verb: 'create', resource: 'serviceaccounts', name: 'default', subresource: 'token' }],
  ['GET', '/apis/certificates.k8s.io/v1/certificatesigningrequests?fieldSelector=metadata.name%3Dcsr-1', { verb: 'list', resource: 'certificatesigningrequests' }],
];

for (const [method, path, expected] of cases) {
  test(`${method} ${path}`, () => {
    const info = kubeRequestInfo(method, path);
    assert.equal(info.isResourceRequest, true);
    for (const [key, value] of Object.entries(expected)) assert.equal(info[key as keyof KubeRequestInfo], value, key);
  });
}

test('non-resource requests: discovery, health, metrics, gRPC', () => {
  for (const [method, path, verb] of [
    ['GET', '/healthz', 'get'],
    ['GET', '/readyz?verbose', 'get'],
    ['GET', '/api', 'get'],
    ['GET', '/api/v1', 'get'],
    ['GET', '/apis', 'get'],
    ['GET', '/apis/apps', 'get'],
    ['GET', '/openapi/v2', 'get'],
    ['POST', '/etcdserverpb.KV/Range', 'post'],
  ] as const) {
    const info = kubeRequestInfo(method, path);
    assert.equal(info.isResourceRequest, false, path);
    assert.equal(info.verb, verb, path);
  }
});
