/** Test support: a small reference terminal over any transmit function. */
export * from './terminal.ts';
