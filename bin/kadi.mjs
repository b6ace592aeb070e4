#!/usr/bin/env node
// Entry point for `npx kadi`: runs the TypeScript CLI through tsx (no build step; see docs/decisions/0001).
// The pcsclite binding runs every transmit on libuv's thread pool: give several encoders room (default 4).
// Set before anything can start the pool (static imports would be evaluated first, so tsx is imported here).
process.env.UV_THREADPOOL_SIZE ??= '16';
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
