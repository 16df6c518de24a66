/**
 * The provider conformance suite (STYLE.md §5, unstorage's pattern): a provider's test file
 * calls these with its own factories and adds only what is special to it.
 */
export { backendConformance, meta, type MakeBackend } from './backend.js';
export { brokerConformance, type BrokerFactoryOptions, type BrokerHarness, type MakeBroker } from './broker.js';
export { controlConformance, type MakeControl } from './control.js';
export { Recorder, eventually, taskMessage, uniqueQueue } from './helpers.js';
export { storeConformance, type MakeStore } from './store.js';
