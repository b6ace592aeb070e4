/**
 * applets/: what runs on the card side (DESIGN.md §3) — the virtual card runtime that plugs into pcscd's vpcd
 * driver, the GlobalPlatform ISD with SCP03, the eID application, the card factory, the launcher and the
 * `kadi cards` daemon, and PC/SC helpers for tests. See docs/decisions/0005-virtual-cards.md.
 */
export * from './runtime/index.ts';
export * from './gp-isd/index.ts';
export * from './eid/index.ts';
export * from './factory.ts';
export * from './launcher.ts';
export * from './daemon.ts';
export * from './pcsc.ts';
