/**
 * The card state machine (DESIGN.md §1), in one place. A card is one physical blank made for one order.
 *
 *   ORDERED --prepare--> PREPARED --claim blank--> ENCODING --encode--> ENCODED --print--> PRINTED
 *     --qc--> QC_PASSED --pack--> PACKED --ship--> DISPATCHED --receive--> RECEIVED --issue--> ISSUED
 *   PRINTED --qc--> QC_FAILED --> SPOILED (blank destroyed, the order gets a new card)
 *   any stage that can ruin a blank --> SPOILED
 *   RECEIVED (uncollected too long) --> RETURNED --> DESTROYED
 *
 * ORDERED and PREPARED cards have no blank yet; a blank (serial, lot) is claimed at ENCODING. SPOILED, ISSUED
 * and DESTROYED are terminal.
 */
export const CARD_STATES = [
  'ORDERED',
  'PREPARED',
  'ENCODING',
  'ENCODED',
  'PRINTED',
  'QC_PASSED',
  'QC_FAILED',
  'PACKED',
  'DISPATCHED',
  'RECEIVED',
  'ISSUED',
  'SPOILED',
  'RETURNED',
  'DESTROYED',
] as const;

export type CardState = (typeof CARD_STATES)[number];

/** Allowed transitions: from -> the states it may move to. */
export const TRANSITIONS: Readonly<Record<CardState, readonly CardState[]>> = {
  ORDERED: ['PREPARED'],
  PREPARED: ['ENCODING', 'ORDERED'], // back to ORDERED when the prepared data must be rebuilt (e.g. DS rotated)
  ENCODING: ['ENCODED', 'SPOILED'],
  ENCODED: ['PRINTED', 'SPOILED'],
  PRINTED: ['QC_PASSED', 'QC_FAILED', 'SPOILED'],
  QC_FAILED: ['SPOILED'],
  QC_PASSED: ['PACKED', 'SPOILED'],
  PACKED: ['DISPATCHED', 'QC_PASSED', 'SPOILED'], // QC_PASSED: taken out of an unsealed box
  DISPATCHED: ['RECEIVED', 'SPOILED'], // SPOILED: lost or damaged in transit
  RECEIVED: ['ISSUED', 'RETURNED', 'SPOILED'],
  ISSUED: [],
  SPOILED: [],
  RETURNED: ['DESTROYED'],
  DESTROYED: [],
};

/** States in which a blank has been consumed and is physically inside the bureau or the supply chain. */
export const IN_PROCESS_STATES: readonly CardState[] = [
  'ENCODING', 'ENCODED', 'PRINTED', 'QC_PASSED', 'QC_FAILED', 'PACKED', 'DISPATCHED', 'RECEIVED',
];

/** States from which the order can no longer get this card: the order needs a new card (or is closed). */
export const DEAD_STATES: readonly CardState[] = ['SPOILED', 'RETURNED', 'DESTROYED'];

export const TERMINAL_STATES: readonly CardState[] = ['ISSUED', 'SPOILED', 'DESTROYED'];

export function isCardState(s: string): s is CardState {
  return (CARD_STATES as readonly string[]).includes(s);
}

export function canTransition(from: CardState, to: CardState): boolean {
  return TRANSITIONS[from].includes(to);
}
