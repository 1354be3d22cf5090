/**
 * Renderers of the analysis report (src/kube's Report): text tables for a terminal, the JSON contract
 * (`reportJson`), one JSON object per request for NDJSON streaming (`requestJson`), and self-contained HTML.
 */
export { connectionJson, isoTime, reportJson, reportJsonWithoutRequests, requestJson } from './json.js';
export { renderText } from './text.js';
export { renderHtml } from './html.js';
