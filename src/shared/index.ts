export * from './errors.ts';
export * from './bytes.ts';
export * from './clock.ts';
export * from './random.ts';
