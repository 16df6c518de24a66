/** 'celeriac/worker': what a custom driver or an embedded worker needs beyond the producer API. */
export {
  executeDelivery,
  type ExecutorDeps,
  type ExecutorEvent,
  type ExecutorSettings,
  type Fate,
  type RunnableTask,
  type RunSlots,
} from '../executor.js';
export { type LogLevel, type Logger, createLogger, parseLogLevel } from '../log.js';
export { Worker, type WorkerOptions } from './worker.js';
