export { DEFAULT_SHARE_GROUP, SESSION_NEVER_EXPIRES, WORKER_ENV, resolveWorkerOptions, sharedFilters, workerClientId, type WorkerFlags, type WorkerOptions } from './options.ts';
export { routeBrokerMessage, type Route } from './route.ts';
export { SharedSubscriber, type MessageHandler, type SharedSubscriberOptions, type SubscriberStats } from './subscriber.ts';
export { registerWorkerMetrics } from './metrics.ts';
