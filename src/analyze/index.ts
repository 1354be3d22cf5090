/**
 * `gokeylog analyze`: captures + keys → decrypted connections → HTTP exchanges → Kubernetes report.
 * `analyzeCaptures` runs the pipeline; `runAnalyze` is the command (report building and text/JSON/NDJSON
 * output); src/report holds the report model and its renderers.
 */
export { analyzeCaptures, type AnalysisResult, type AnalyzeOptions } from './analyze.js';
export { PacketPipeline, tlsConnectionFor } from './packets.js';
export { runAnalyze, type AnalyzeFormat, type AnalyzeStatus, type RunAnalyzeIo, type RunAnalyzeOptions, type RunAnalyzeResult } from './run.js';
