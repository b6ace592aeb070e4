export * from './redis.ts';
export * from './stages.ts';
export * from './flow.ts';
export * from './workers.ts';
export * from './prepare-stage.ts';
