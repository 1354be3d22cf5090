/**
 * `gokeylog analyze` glue: captures + keys → decrypted connections → HTTP exchanges → Kubernetes report.
 * `analyzeCaptures` runs the pipeline; src/kube builds the report model and src/report renders it.
 */
export { analyzeCaptures, type AnalysisResult, type AnalyzeOptions } from './analyze.js';
