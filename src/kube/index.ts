/**
 * Kubernetes view of an HTTP request: verb, group/version, namespace, resource, name, subresource,
 * as the API server's RequestInfoFactory derives them from method and path.
 */
export { kubeRequestInfo, type KubeRequestInfo } from './requestInfo.js';
