/** Planner scenarios: years and decades of coupling on the same model and optimiser as live dispatch. */
export { loadScenarioFile, parseScenario, ScenarioConfigError, shippedScenarioDir, shippedScenarioPath, sharedDataDir, projectRoot, type ResolvedScenario, type ScenarioIssue } from './load.ts';
export { scenarioSchema, type ScenarioSpec, type ScenarioInput, type RunMode, runModes, annuity, pathValue } from './schema.ts';
export { runScenario, scenarioYearLp, type ScenarioRun, type ModeRun, type RunOptions, type ScenarioProgress, type RunManifest } from './run.ts';
export { writeRunOutputs, writeHourlyCsv, csvToParquet, reportHtml, reportStyleCspSource, runCharts } from './outputs.ts';
export { compareReports, formatComparison, comparisonSvg, type Comparison, type CompareRow } from './compare.ts';
export { kpiReportSchema, type KpiReport, type YearKpis, type TotalKpis, type ModeKpis } from './kpis.ts';
export { solveWithGlpsol, type GlpsolResult } from './reference.ts';
export { sigLinDe, sigLinDeHourly, sigLinDeCoefficients } from './siglinde.ts';
export { progressPrinter, formatProgress } from './progress.ts';
export { scenarioApiPlugin, type ScenarioApiOptions } from './api.ts';
export { ScenarioRunManager, runStatusSchema, type RunStatus } from './runs.ts';
