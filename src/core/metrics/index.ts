export { METRICS, metricsMarkdownTable, type MetricDefinition } from './definitions';
export { metricHooks, setMetricHooks, deadLetterReasonClass, DEAD_LETTER_REASONS } from './hooks';
export { startMetricsServer, type MetricsServer, type RunPhase } from './server';
export {
  produceMetrics,
  processMetrics,
  sinkMetrics,
  simulatorMetrics,
  dashboardMetrics,
  type StageMetrics,
  type Readiness,
} from './stages';
