/**
 * The analysis report: its model (connections, requests, identities from client certificates with
 * expiry — `buildReport`) and its renderers: text tables for a terminal, the JSON contract (`reportJson`),
 * one JSON object per request for NDJSON streaming (`requestJson`), and self-contained HTML.
 */
export {
  analyzeRequest, buildReport, callName, daysLeft, IdentityCalls,
  type AnalyzedConnection, type AnalyzedRequest, type ExpiryWarning, type Identity, type Report, type ReportOptions,
} from './model.js';
export { connectionJson, isoTime, reportJson, reportJsonWithoutRequests, requestJson } from './json.js';
export { renderText } from './text.js';
export { renderHtml } from './html.js';
