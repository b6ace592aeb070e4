/**
 * The virtual card runtime: ISO 7816 constants, ATR, file system, persistent card state and the card store, the
 * APDU dispatcher (card OS), and the vpcd transport. Other folders import from here.
 */
export * from './iso.ts';
export * from './atr.ts';
export * from './fs.ts';
export * from './state.ts';
export * from './store.ts';
export * from './card.ts';
export * from './os.ts';
export * from './vpcd.ts';
export * from './timing.ts';
