export * from './connection.ts';
export * from './migrate.ts';
