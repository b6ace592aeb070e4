#!/usr/bin/env node
// Entry point for `npx kadi`: runs the TypeScript CLI through tsx (no build step; see docs/decisions/0001).
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
