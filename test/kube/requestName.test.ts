// The object name where the API server's RequestInfoFactory and audit set one without a name in the path:
// a list/watch whose fieldSelector requires metadata.name (apimachinery fields.ParseSelector +
// RequiresExactMatch, then path.IsValidPathSegmentName), and a create, named from its body's metadata.name.
// The real-API-server test (test/kube-real) checks both against the audit log; these pin the edge cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kubeRequestInfo } from '../../src/kube/requestInfo.js';

const listName = (query: string): string | undefined => kubeRequestInfo('GET', `/api/v1/namespaces/ns/pods?${query}`).name;

test('fieldSelector names the object of a list or watch when it requires metadata.name exactly', () => {
  // kubectl wait's own request (URL-encoded as client-go sends it).
  assert.equal(kubeRequestInfo('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions?fieldSelector=metadata.name%3Dwidgets.example.com&watch=true').name, 'widgets.example.com');
  assert.equal(kubeRequestInfo('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions?fieldSelector=metadata.name%3Dwidgets.example.com&watch=true').verb, 'watch');
  assert.equal(listName('fieldSelector=metadata.name%3D%3Dweb'), 'web');
  assert.equal(listName('fieldSelector=spec.nodeName%3Dn1,metadata.name%3Dweb'), 'web');
  assert.equal(listName('fieldSelector=metadata.name%21%3Dweb'), undefined, '!= is no exact match');
  assert.equal(listName('fieldSelector=spec.nodeName%3Dn1'), undefined);
  assert.equal(listName('fieldSelector=metadata.name%3D'), undefined, 'empty name');
  assert.equal(listName('fieldSelector=metadata.name%3D..'), undefined, 'not a valid path segment name');
  assert.equal(listName('fieldSelector=metadata.name%3Da%25b'), undefined, '% is not allowed in a path segment name');
  assert.equal(listName('fieldSelector=metadata.name%3Da%5C%2Cb'), 'a,b', '\\, is an escaped comma');
  assert.equal(listName('fieldSelector=metadata.name%3Da%5Cxb'), undefined, 'an unknown escape makes the selector invalid');
  assert.equal(listName('fieldSelector=metadata.name%3Da%3Db'), undefined, 'an unescaped = in the value is invalid');
  assert.equal(listName('fieldSelector=bogus'), undefined, 'a term without an operator is invalid');
  // Only list/watch read it: a named get keeps its path name; a collection delete is no list.
  assert.equal(kubeRequestInfo('GET', '/api/v1/namespaces/ns/pods/a?fieldSelector=metadata.name%3Db').name, 'a');
  assert.equal(kubeRequestInfo('DELETE', '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Db').name, undefined);
});

const body = (text: string, contentType = 'application/json') => ({ contentType, bytes: Buffer.from(text) });

test('a create is named after its body\'s metadata.name (JSON and Kubernetes protobuf)', () => {
  const created = kubeRequestInfo('POST', '/apis/apps/v1/namespaces/default/deployments', body('{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"}}'));
  assert.equal(created.name, 'web');
  assert.equal(created.verb, 'create');
  assert.equal(kubeRequestInfo('POST', '/api/v1/namespaces/default/pods', body('{"metadata":{"generateName":"web-"}}')).name, undefined, 'generateName: no name yet');
  assert.equal(kubeRequestInfo('POST', '/api/v1/namespaces/default/pods', body('{"metadata":{"name":"web"', 'application/json')).name, undefined, 'a truncated body');
  assert.equal(kubeRequestInfo('POST', '/api/v1/namespaces/default/pods', body('metadata:\n  name: web\n', 'application/yaml')).name, undefined);
  // A subresource create keeps the name of its path.
  assert.equal(kubeRequestInfo('POST', '/api/v1/namespaces/default/serviceaccounts/sa/token', body('{"metadata":{"name":"other"}}')).name, 'sa');

  // Protobuf, laid out by hand from the wire format: "k8s\0", then runtime.Unknown{typeMeta (1), raw (2)},
  // raw = Pod{metadata (1) = ObjectMeta{name (1) = "web-1", namespace (3) = "default"}}.
  const ld = (field: number, bytes: Buffer): Buffer => Buffer.concat([Buffer.from([(field << 3) | 2, bytes.length]), bytes]);
  const objectMeta = Buffer.concat([ld(1, Buffer.from('web-1')), ld(3, Buffer.from('default'))]);
  const pod = Buffer.concat([ld(1, objectMeta), ld(2, Buffer.from([]))]);
  const typeMeta = Buffer.concat([ld(1, Buffer.from('v1')), ld(2, Buffer.from('Pod'))]);
  const unknown = Buffer.concat([Buffer.from('k8s\0', 'latin1'), ld(1, typeMeta), ld(2, pod), ld(4, Buffer.from('application/vnd.kubernetes.protobuf'))]);
  const proto = { contentType: 'application/vnd.kubernetes.protobuf', bytes: unknown };
  assert.equal(kubeRequestInfo('POST', '/api/v1/namespaces/default/pods', proto).name, 'web-1');
  // Cut inside the name: bounds hold, no name.
  assert.equal(kubeRequestInfo('POST', '/api/v1/namespaces/default/pods', { ...proto, bytes: unknown.subarray(0, 20) }).name, undefined);
  assert.equal(kubeRequestInfo('POST', '/api/v1/namespaces/default/pods', { ...proto, bytes: Buffer.from('not protobuf') }).name, undefined);
});
