/** celeriac's public API. */
export { App, type AppOptions, createApp } from './app.js';
export { AsyncResult, type GetOptions } from './async-result.js';
export { Chain, Chord, Group, Signature, type SignatureOptions, chain, chord, group } from './canvas.js';
export { Config } from './config/config.js';
export type { Settings } from './config/settings.js';
export { Control, type ControlOptions, INSPECT_METHODS, type InspectMethod } from './control.js';
export * from './errors.js';
export { GroupResult } from './group-result.js';
export type { ExecutorEvent, RunnableTask } from './executor.js';
export type { CallOptions } from './call-options.js';
export type { TaskHeaders, TaskMessage } from './message.js';
export type { Broker, ControlReply, Delivery, KeyValueStore, ProviderFactories, ResultBackend } from './ports.js';
export { registerProvider } from './registry.js';
export type { ExceptionInfo, ResultMeta } from './result-meta.js';
export * as states from './states.js';
export { type ArgsOf, type ResultOf, Task } from './task.js';
export type { RetryOptions, TaskContext } from './task-context.js';
export type { TaskOptions } from './task-options.js';
// Worker-side code (the executor, the worker loop, logging) is exported from 'celeriac/worker'
// so that a producer importing 'celeriac' never loads it.
export type { Worker, WorkerOptions } from './worker/worker.js';
