/**
 * The analysis report: its model (connections, requests, identities from every credential with
 * expiry — `buildReport`) and its renderers: text tables for a terminal, the JSON contract (`reportJson`),
 * one JSON object per request for NDJSON streaming (`requestJson`), and self-contained HTML.
 */
export {
  analyzeRequest, buildReport, callName, midstreamNote, tallyRequest,
  type AnalyzedConnection, type MidstreamConnection, type AnalyzedRequest, type CredentialCache, type ExpiryWarning, type Identity, type Report, type ReportOptions,
} from './model.js';
export { IdentityTally, rejectingAlert, type Credential, type CredentialKind } from './identities.js';
export { Filter, NO_FILTER, type ReportFilter } from './filters.js';
export { DAY_MS, ExpiryWindow, expiryText } from './timeLeft.js';
export { connectionJson, identityJson, isoTime, reportJson, reportJsonWithoutRequests, requestJson } from './json.js';
export { delimitedReportLines, renderText, textLines, type TextOptions } from './text.js';
export { renderHtml } from './html.js';
