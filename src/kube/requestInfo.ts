/**
 * Kubernetes request info from method + path, following the API server's request-info rules
 * (k8s.io/apiserver RequestInfoFactory): /api/VERSION/… (core group) and /apis/GROUP/VERSION/…;
 * optional namespaces/NS; resource, name, subresource; the verb from the method, with list for a
 * collection GET, watch for `?watch=1|true` or the legacy /watch/ prefix, deletecollection for a
 * collection DELETE. Anything else is a non-resource request whose verb is the lowercase method.
 */

export interface KubeRequestInfo {
  isResourceRequest: boolean;
  verb: string;
  apiPrefix?: 'api' | 'apis';
  /** "" for the core group. */
  apiGroup?: string;
  apiVersion?: string;
  namespace?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

const METHOD_VERBS: Record<string, string> = {
  POST: 'create',
  GET: 'get',
  HEAD: 'get',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** Namespace subresources: /api/v1/namespaces/NS/status is the namespace's own subresource. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** Go's strconv.ParseBool, which the API server uses for the watch parameter. */
const TRUE_VALUES = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);

export function kubeRequestInfo(method: string, path: string): KubeRequestInfo {
  const query = path.indexOf('?');
  const rawPath = query >= 0 ? path.slice(0, query) : path;
  const params = new URLSearchParams(query >= 0 ? path.slice(query + 1) : '');
  const nonResource: KubeRequestInfo = { isResourceRequest: false, verb: method.toLowerCase() };

  let parts = rawPath.replace(/^\/+|\/+$/g, '').split('/').map(safeDecode);
  const prefix = parts[0];
  if (prefix !== 'api' && prefix !== 'apis') return nonResource;
  parts = parts.slice(1);
  let apiGroup = '';
  if (prefix === 'apis') {
    // /apis and /apis/GROUP are discovery; a resource needs /apis/GROUP/VERSION/RESOURCE.
    if (parts.length < 3) return nonResource;
    apiGroup = parts.shift()!;
  } else if (parts.length < 2) {
    return nonResource; // /api and /api/v1 are discovery
  }
  const apiVersion = parts.shift()!;

  const methodVerb = METHOD_VERBS[method.toUpperCase()];
  if (!methodVerb) return nonResource;
  let verb = methodVerb;
  if (parts[0] === 'watch' || parts[0] === 'proxy') {
    if (parts.length < 2) return nonResource;
    verb = parts.shift()!;
  }

  let namespace: string | undefined;
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      namespace = parts[1]!;
      // /namespaces/NS/RESOURCE… is namespaced; /namespaces/NS and /namespaces/NS/status are the namespace itself.
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
    }
  }

  const info: KubeRequestInfo = { isResourceRequest: true, verb, apiPrefix: prefix, apiGroup, apiVersion };
  if (namespace !== undefined) info.namespace = namespace;
  if (parts.length >= 1 && parts[0]) info.resource = parts[0];
  if (parts.length >= 2) info.name = parts[1];
  if (parts.length >= 3) info.subresource = parts[2];

  if (info.name === undefined && verb === 'get') {
    const watch = params.get('watch');
    info.verb = watch !== null && TRUE_VALUES.has(watch) ? 'watch' : 'list';
  }
  if (info.name === undefined && verb === 'delete') info.verb = 'deletecollection';
  return info;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
