export * from './redis.ts';
export * from './stages.ts';
export * from './flow.ts';
export * from './workers.ts';
export * from './prepare-stage.ts';
export * from './encode-stage.ts';
export * from './qc-stage.ts';
