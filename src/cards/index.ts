export * from './states.ts';
export * from './transition.ts';
export * from './queries.ts';
export * from './status.ts';
export * from './replace.ts';
