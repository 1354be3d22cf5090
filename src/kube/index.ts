/**
 * Kubernetes view of decoded HTTP traffic: request info (verb, group/version, namespace, resource,
 * name, subresource) per request; identities from client certificates (CN = user, O = groups) with
 * expiry; `buildReport` assembles the report model the renderers in src/report print.
 */
export { kubeRequestInfo, type KubeRequestInfo } from './requestInfo.js';
export {
  analyzeRequest, buildReport, callName, daysLeft, IdentityCalls,
  type AnalyzedConnection, type AnalyzedRequest, type ExpiryWarning, type Identity, type Report, type ReportOptions,
} from './model.js';
