/**
 * Kubernetes request info from method + path, following the API server's request-info rules
 * (k8s.io/apiserver RequestInfoFactory): /api/VERSION/… (core group) and /apis/GROUP/VERSION/…;
 * optional namespaces/NS; resource, name, subresource; the verb from the method, with list for a
 * collection GET, watch for `?watch=1|true` or the legacy /watch/ prefix, deletecollection for a
 * collection DELETE. Anything else is a non-resource request whose verb is the lowercase method.
 * Like the API server, a list or watch names its object when `fieldSelector` requires metadata.name to be
 * exactly one value (kubectl wait does), and a create names the object of its body.
 */
import { createdObjectName } from './objectName.js';

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

/** A create's request body, when it was captured. */
export interface RequestBody {
  contentType: string | undefined;
  bytes: Uint8Array;
}

export function kubeRequestInfo(method: string, path: string, body?: RequestBody): KubeRequestInfo {
  const query = path.indexOf('?');
  const rawPath = query >= 0 ? path.slice(0, query) : path;
  const params = new URLSearchParams(query >= 0 ? path.slice(query + 1) : '');
  const nonResource: KubeRequestInfo = { isResourceRequest: false, verb: method.toLowerCase() };

  let parts = trimSlashes(rawPath).split('/').map(safeDecode);
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
    const name = exactNameMatch(params.get('fieldSelector'));
    if (name !== undefined) info.name = name;
  }
  if (info.name === undefined && verb === 'create' && body) {
    const name = createdObjectName(body.contentType, body.bytes);
    if (name !== undefined) info.name = name;
  }
  if (info.name === undefined && verb === 'delete') info.verb = 'deletecollection';
  return info;
}

/**
 * The value `fieldSelector` requires metadata.name to equal (a term `metadata.name=X` or `==X` among
 * comma-separated terms), as apimachinery's fields.ParseSelector + RequiresExactMatch read it, and only if it
 * is a valid path segment name (not "." or "..", no "/" or "%"), as the API server demands before using it.
 */
export function exactNameMatch(selector: string | null): string | undefined {
  if (!selector) return undefined;
  const terms = splitUnescaped(selector, ',');
  let name: string | undefined;
  // Sorted, as the server sorts the terms: with two metadata.name terms the first in order wins.
  for (const term of terms.sort()) {
    if (term === '') continue;
    const split = splitTerm(term);
    if (!split) return undefined; // the whole selector is invalid: the server fails the request
    const value = unescapeValue(split.rhs);
    if (value === undefined) return undefined;
    if (split.lhs === 'metadata.name' && split.op !== '!=') name ??= value;
  }
  if (!name || name === '.' || name === '..' || /[/%]/.test(name)) return undefined;
  return name;
}

/** Split on `separator` where it is not escaped by a backslash; the escapes stay for unescapeValue. */
function splitUnescaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === separator) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** The first operator, scanning left to right, trying != before == before = at each position. */
function splitTerm(term: string): { lhs: string; op: string; rhs: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of ['!=', '==', '=']) {
      if (term.startsWith(op, i)) return { lhs: term.slice(0, i), op, rhs: term.slice(i + op.length) };
    }
  }
  return undefined;
}

/** fields.UnescapeValue: only \\, \, and \= are escapes; anything else after a backslash is invalid. */
function unescapeValue(value: string): string | undefined {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c !== '\\') {
      if (c === ',' || c === '=') return undefined; // unescaped special characters
      out += c;
      continue;
    }
    const next = value[++i];
    if (next !== '\\' && next !== ',' && next !== '=') return undefined;
    out += next;
  }
  return out;
}

/** The path without its leading and trailing slashes (per request: no regular expression). */
function trimSlashes(path: string): string {
  let start = 0;
  let end = path.length;
  while (start < end && path.charCodeAt(start) === 0x2f) start++;
  while (end > start && path.charCodeAt(end - 1) === 0x2f) end--;
  return path.slice(start, end);
}

function safeDecode(segment: string): string {
  if (!segment.includes('%')) return segment; // what decodeURIComponent would return, without its cost
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
