/**
 * Logistics commands (issue 7): `kadi dispatch …` (pack, seal, unpack, ship, manifest, labels, boxes, shipments,
 * returns, destroy, ageing), `kadi track scan|history`, `kadi issue`, `kadi reconcile`, `kadi stock receive|list`.
 *
 * Each command body is an exported function taking the database and returning what to print (`json` for
 * --json, `text` lines otherwise, and an exit code when it is not 0), so tests can call it directly;
 * registerDispatchCommands() wires them to commander with the usual conventions (src/cli/output.ts): --json
 * prints one JSON document on stdout, errors print `error CODE: message` and exit 1, usage errors exit 2, and a
 * reconciliation that does not balance exits 3.
 */
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Knex } from 'knex';
import {
  DEFAULT_BOX_CAPACITY,
  DEFAULT_RETURN_AFTER_DAYS,
  MANIFEST_FORMATS,
  SCAN_EVENTS,
  ageingReport,
  boxHistory,
  cardHistory,
  destroyReturned,
  issueCard,
  listBoxes,
  listShipments,
  packCards,
  parseCode,
  receiveBlankLot,
  reconcile,
  returnUncollected,
  scanBox,
  sealBox,
  shipBoxes,
  shipmentHistory,
  stockReport,
  unpackCard,
  writeLabels,
  writeManifests,
  type HistoryEvent,
  type ManifestFormat,
} from '../dispatch/index.ts';
import { Context } from './context.ts';
import { printJson, printLine, progress, reportError, table, type Progress } from './output.ts';

/** What a command prints: `json` with --json, else `text`; `exitCode` when not 0. */
export interface CommandOutput {
  json: unknown;
  text: string[];
  exitCode?: number;
}

/** Exit code of `kadi reconcile` when the books do not balance (same as a broken audit chain). */
export const EXIT_UNBALANCED = 3;

const noProgress: Progress = { start() {}, update() {}, stop() {} };

function intArg(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

function formatsArg(v: string): ManifestFormat[] {
  const list = v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const f of list) if (!(MANIFEST_FORMATS as readonly string[]).includes(f)) throw new InvalidArgumentError(`formats are ${MANIFEST_FORMATS.join(', ')}`);
  if (list.length === 0) throw new InvalidArgumentError('name at least one format');
  return list as ManifestFormat[];
}

function historyLines(events: HistoryEvent[]): string[] {
  return table(
    events.map((e) => [
      `  ${e.at.slice(0, 19).replace('T', ' ')}`,
      e.event,
      e.box ?? '',
      e.location ?? '',
      e.actor,
      Object.keys(e.details).length ? JSON.stringify(e.details) : '',
    ]),
  ).split('\n');
}

// ------------------------------------------------------------------ command bodies

export const dispatchCommands = {
  async pack(db: Knex, actor: string, o: { batch?: number; centre?: string; capacity?: number; seal?: boolean; sealPartial?: boolean }, bar: Progress = noProgress): Promise<CommandOutput> {
    bar.start(0, 'packing');
    const r = await packCards(db, {
      actor,
      ...(o.batch === undefined ? {} : { batchId: o.batch }),
      ...(o.centre === undefined ? {} : { centre: o.centre }),
      capacity: o.capacity ?? DEFAULT_BOX_CAPACITY,
      sealFull: o.seal !== false,
      sealPartial: !!o.sealPartial,
      onProgress: (d, t) => bar.update(d, t),
    });
    bar.stop();
    const text = [`packed ${r.packed} cards into ${r.boxes.length} boxes (${r.boxesCreated} new, ${r.boxesSealed} sealed)${r.conflicts ? `, ${r.conflicts} taken by another packer` : ''}`];
    if (r.boxes.length) text.push(...table(r.boxes.map((b) => [`  ${b.code}`, b.centre, b.state, `${b.cards}/${b.capacity}`, b.sealNumber ?? ''])).split('\n'));
    return { json: r, text };
  },

  async seal(db: Knex, actor: string, o: { box: string; sealNumber?: string }): Promise<CommandOutput> {
    const b = await sealBox(db, { box: o.box, actor, ...(o.sealNumber === undefined ? {} : { sealNumber: o.sealNumber }) });
    return { json: b, text: [`box ${b.code} sealed with ${b.sealNumber} (${b.cards} cards for ${b.centre})`] };
  },

  async unpack(db: Knex, actor: string, o: { documentNumber: string }): Promise<CommandOutput> {
    const r = await unpackCard(db, { documentNumber: o.documentNumber, actor });
    return { json: r, text: [`card ${r.documentNumber} taken out of box ${r.box} (now ${r.state})`] };
  },

  async ship(db: Knex, actor: string, o: { centre?: string; all?: boolean; hold?: boolean }, bar: Progress = noProgress): Promise<CommandOutput> {
    bar.start(0, 'dispatching');
    const r = await shipBoxes(db, { actor, ...(o.centre ? { centre: o.centre } : {}), hold: !!o.hold, onProgress: (d, t) => bar.update(d, t) });
    bar.stop();
    const text = r.shipments.length
      ? [
          o.hold ? `${r.shipments.length} shipments ready (held for dispatch scans)` : `dispatched ${r.boxesDispatched} boxes, ${r.cardsDispatched} cards`,
          ...table(r.shipments.map((s) => [`  ${s.code}`, s.centre, s.state, `${s.boxes} boxes`, `${s.cards} cards`])).split('\n'),
        ]
      : ['nothing to ship'];
    return { json: r, text };
  },

  async manifest(db: Knex, o: { shipment: string; out: string; formats?: ManifestFormat[] }, bar: Progress = noProgress): Promise<CommandOutput> {
    bar.start(0, 'manifest');
    const r = await writeManifests(db, { shipment: o.shipment, outDir: o.out, ...(o.formats ? { formats: o.formats } : {}), onProgress: (d, t) => bar.update(d, t) });
    bar.stop();
    return {
      json: r,
      text: [`manifest ${r.shipment} for ${r.centre}: ${r.boxes} boxes, ${r.cards} cards${r.pages === null ? '' : `, ${r.pages} pages`}`, ...Object.values(r.files).map((f) => `  ${f}`)],
    };
  },

  async labels(db: Knex, o: { shipment?: string; box?: string; out: string }): Promise<CommandOutput> {
    const r = await writeLabels(db, { outDir: o.out, ...(o.box ? { box: o.box } : {}), ...(o.shipment ? { shipment: o.shipment } : {}) });
    return { json: r, text: [`${r.labels} label${r.labels === 1 ? '' : 's'}: ${r.file}`] };
  },

  async boxes(db: Knex, o: { centre?: string; state?: string; shipment?: string }): Promise<CommandOutput> {
    const r = await listBoxes(db, o);
    return { json: { boxes: r }, text: r.length ? table(r.map((b) => [b.code, b.centre, b.state, `${b.cards}/${b.capacity}`, b.sealNumber ?? '', b.shipment ?? ''])).split('\n') : ['no boxes'] };
  },

  async shipments(db: Knex, o: { centre?: string; state?: string }): Promise<CommandOutput> {
    const r = await listShipments(db, o);
    return {
      json: { shipments: r },
      text: r.length ? table(r.map((s) => [s.code, s.centre, s.state, `${s.boxes} boxes`, `${s.cards} cards`, s.dispatchedAt ?? ''])).split('\n') : ['no shipments'],
    };
  },

  async returns(db: Knex, actor: string, o: { olderThan?: number; centre?: string; dryRun?: boolean }, bar: Progress = noProgress): Promise<CommandOutput> {
    bar.start(0, 'returns');
    const r = await returnUncollected(db, {
      actor,
      olderThanDays: o.olderThan ?? DEFAULT_RETURN_AFTER_DAYS,
      ...(o.centre ? { centre: o.centre } : {}),
      dryRun: !!o.dryRun,
      onProgress: (d, t) => bar.update(d, t),
    });
    bar.stop();
    return {
      json: r,
      text: [
        `${r.dryRun ? 'would return' : 'returned'} ${r.returned} cards uncollected for more than ${r.olderThanDays} days`,
        ...table(Object.entries(r.byCentre).map(([c, n]) => [`  ${c}`, n])).split('\n').filter(Boolean),
      ],
    };
  },

  async destroy(db: Knex, actor: string, o: { documentNumbers: string[]; allReturned?: boolean; witness: string }): Promise<CommandOutput> {
    const r = await destroyReturned(db, { actor, witness: o.witness, documentNumbers: o.documentNumbers, all: !!o.allReturned });
    return { json: r, text: [`destroyed ${r.destroyed} returned cards; ${r.ordersClosed} orders closed`] };
  },

  async ageing(db: Knex, o: { centre?: string }): Promise<CommandOutput> {
    const r = await ageingReport(db, o.centre ? { centre: o.centre } : {});
    const head = ['centre', 'uncollected', ...r.buckets.map((b) => `${b}d`), 'oldest', 'issued', 'returned', 'collected'];
    const rowsOut = r.centres.map((c) => [
      c.centre,
      c.uncollected,
      ...r.buckets.map((b) => c.buckets[b] ?? 0),
      c.oldestDays === null ? '' : `${c.oldestDays}d`,
      c.issued,
      c.returned,
      c.collectionRate === null ? '' : `${(c.collectionRate * 100).toFixed(1)}%`,
    ]);
    rowsOut.push(['total', r.totals.uncollected, ...r.buckets.map((b) => r.totals.buckets[b] ?? 0), '', r.totals.issued, r.totals.returned, '']);
    return { json: r, text: table([head, ...rowsOut]).split('\n') };
  },

  async scan(db: Knex, actor: string, o: { code: string; event: string; at: string }): Promise<CommandOutput> {
    const r = await scanBox(db, { code: o.code, event: o.event, at: o.at, actor });
    return {
      json: r,
      text: [`box ${r.box}: ${r.from} → ${r.to} at ${r.at}${r.cards ? ` (${r.cards} cards ${r.to.toLowerCase()})` : ''}${r.shipment ? `; shipment ${r.shipment.code} ${r.shipment.state}` : ''}`],
    };
  },

  async history(db: Knex, o: { code?: string; document?: string }): Promise<CommandOutput> {
    if (o.document) {
      const h = await cardHistory(db, o.document.trim().toUpperCase());
      return { json: h, text: [`card ${h.card.documentNumber}: ${h.card.state} (centre ${h.card.centre}, box ${h.card.box ?? '—'}, order ${h.card.orderStatus})`, ...historyLines(h.events)] };
    }
    const code = (o.code ?? '').trim().toUpperCase();
    const p = parseCode(code);
    if (p.ok && p.kind === 'shipment') {
      const h = await shipmentHistory(db, code);
      return { json: h, text: [`shipment ${h.shipment.code} to ${h.shipment.centre}: ${h.shipment.state}, ${h.shipment.boxes} boxes, ${h.shipment.cards} cards`, ...historyLines(h.events)] };
    }
    const h = await boxHistory(db, code);
    return { json: h, text: [`box ${h.box.code} for ${h.box.centre}: ${h.box.state}, ${h.box.cards} cards, seal ${h.box.sealNumber ?? '—'}`, ...historyLines(h.events)] };
  },

  async issue(db: Knex, actor: string, o: { documentNumber: string; centre: string; holderNationalNumber?: string }): Promise<CommandOutput> {
    const r = await issueCard(db, { documentNumber: o.documentNumber, centre: o.centre, actor, ...(o.holderNationalNumber ? { holderNationalNumber: o.holderNationalNumber } : {}) });
    return { json: r, text: [`card ${r.documentNumber} issued at ${r.centre}; order fulfilled`] };
  },

  async reconcile(db: Knex): Promise<CommandOutput> {
    const r = await reconcile(db);
    const b = r.blanks;
    const text = [
      r.ok ? 'reconciliation OK: every blank is accounted for' : `reconciliation FAILED: ${r.differences.length} difference(s)`,
      `  ${r.equation}`,
      `  ${b.received} = ${b.issued} + ${b.inProcess} + ${b.inStock} + ${b.spoiled} + ${b.returned} + ${b.destroyed}${b.difference ? `   (difference ${b.difference})` : ''}`,
    ];
    if (r.lots.length) {
      text.push('Lots', ...table([['  lot', 'received', 'consumed', 'in stock', 'issued', 'in process', 'spoiled', 'returned', 'destroyed'], ...r.lots.map((l) => [`  ${l.lot}`, l.received, l.consumed, l.inStock, l.issued, l.inProcess, l.spoiled, l.returned, l.destroyed])]).split('\n'));
    }
    if (r.centres.length) {
      text.push('Centres', ...table([['  centre', 'dispatched', 'in transit', 'at centre', 'issued', 'returned', 'destroyed', 'lost', 'diff'], ...r.centres.map((c) => [`  ${c.centre}`, c.dispatched, c.inTransit, c.atCentre, c.issued, c.returned, c.destroyed, c.spoiledAfterDispatch, c.difference])]).split('\n'));
    }
    for (const d of r.differences) text.push(`  ${d.code}: ${d.message} (${d.count})${d.sample.length ? ` e.g. ${d.sample.slice(0, 5).join(', ')}` : ''}`);
    return { json: r, text, ...(r.ok ? {} : { exitCode: EXIT_UNBALANCED }) };
  },

  async stockReceive(db: Knex, actor: string, o: { lot: string; quantity: number; supplier: string; chipType: string }): Promise<CommandOutput> {
    const r = await receiveBlankLot(db, { ...o, actor });
    return { json: r, text: [`received lot ${r.lot}: ${r.quantity} blanks (${r.chipType}) from ${r.supplier}`] };
  },

  async stockList(db: Knex): Promise<CommandOutput> {
    const r = await stockReport(db);
    const totals = r.reduce((a, l) => ({ quantity: a.quantity + l.quantity, consumed: a.consumed + l.consumed, inStock: a.inStock + l.inStock }), { quantity: 0, consumed: 0, inStock: 0 });
    return {
      json: { lots: r, totals },
      text: r.length
        ? table([['lot', 'supplier', 'chip', 'received', 'consumed', 'in stock'], ...r.map((l) => [l.lot, l.supplier, l.chipType, l.quantity, l.consumed, l.inStock]), ['total', '', '', totals.quantity, totals.consumed, totals.inStock]]).split('\n')
        : ['no blank stock received yet (kadi stock receive)'],
    };
  },
};

// ------------------------------------------------------------------ wiring

async function run(json: boolean, body: (db: Knex, ctx: Context) => Promise<CommandOutput>): Promise<void> {
  let ctx: Context | undefined;
  try {
    ctx = Context.fromEnv();
    const out = await body(await ctx.db(), ctx);
    if (json) printJson(out.json);
    else for (const l of out.text) printLine(l);
    if (out.exitCode) process.exitCode = out.exitCode;
  } catch (e) {
    process.exitCode = reportError(e, json);
  } finally {
    await ctx?.close();
  }
}

/** Adds the logistics commands to the `kadi` program. `actor` gives the --actor value at run time. */
export function registerDispatchCommands(program: Command, actor: () => string): void {
  const dispatch = program.command('dispatch').description('packing, shipping, manifests, labels, returns and the uncollected-cards report');

  dispatch
    .command('pack')
    .description('put QC-passed cards into boxes, one collection centre per box')
    .option('--batch <id>', 'only cards of this production batch', intArg('--batch', 1))
    .option('--centre <code>', 'only cards for this collection centre')
    .option('--capacity <n>', `cards per new box (default KADI_BOX_CAPACITY, ${DEFAULT_BOX_CAPACITY})`, intArg('--capacity', 1, 5000))
    .option('--no-seal', 'leave full boxes open for sealing by hand (kadi dispatch seal)')
    .option('--seal-partial', 'also seal the last, partly filled box of each centre')
    .option('--json', 'JSON output: {"packed","conflicts","boxesCreated","boxesSealed","byCentre","boxes":[...]}')
    .action(async (o: { batch?: number; centre?: string; capacity?: number; seal: boolean; sealPartial?: boolean; json?: boolean }) =>
      run(!!o.json, (db, ctx) => dispatchCommands.pack(db, actor(), { ...o, capacity: o.capacity ?? ctx.config.boxCapacity }, progress(!!o.json))),
    );

  dispatch
    .command('seal')
    .description('seal an open box (with the number of a physical seal, or a generated one)')
    .argument('<box>', 'box code, e.g. BX0000000017')
    .option('--seal-number <s>', 'number printed on the seal (4-32 letters, digits, hyphens); default: generated SL… code')
    .option('--json', 'JSON output: the box')
    .action(async (box: string, o: { sealNumber?: string; json?: boolean }) => run(!!o.json, (db) => dispatchCommands.seal(db, actor(), { box, ...(o.sealNumber ? { sealNumber: o.sealNumber } : {}) })));

  dispatch
    .command('unpack')
    .description('take a card back out of an open box (PACKED → QC_PASSED)')
    .argument('<document-number>', 'document number of the card')
    .option('--json', 'JSON output')
    .action(async (documentNumber: string, o: { json?: boolean }) => run(!!o.json, (db) => dispatchCommands.unpack(db, actor(), { documentNumber })));

  dispatch
    .command('ship')
    .description('seal remaining boxes, group them into a shipment per centre and dispatch them')
    .option('--centre <code>', 'ship the boxes of one collection centre')
    .option('--all', 'ship the boxes of every centre')
    .option('--hold', 'create the shipments but dispatch each box only when it is scanned (track scan --event dispatched)')
    .option('--json', 'JSON output: {"shipments":[...],"boxesSealed","boxesDispatched","cardsDispatched"}')
    .action(async function (this: Command, o: { centre?: string; all?: boolean; hold?: boolean; json?: boolean }) {
      if (!!o.centre === !!o.all) this.error('error: give exactly one of --centre <code> or --all', { exitCode: 2, code: 'kadi.usage' });
      await run(!!o.json, (db) => dispatchCommands.ship(db, actor(), o, progress(!!o.json)));
    });

  dispatch
    .command('manifest')
    .description('write the manifest of a shipment as PDF (A4, signature blocks), CSV and JSON')
    .argument('<shipment>', 'shipment id or code (SH…)')
    .option('--out <dir>', 'output folder (default $KADI_HOME/manifests)')
    .option('--format <list>', `comma separated: ${MANIFEST_FORMATS.join(',')} (default all)`, formatsArg)
    .option('--json', 'JSON output: {"shipment","centre","state","boxes","cards","pages","files":{...}}')
    .action(async (shipment: string, o: { out?: string; format?: ManifestFormat[]; json?: boolean }) =>
      run(!!o.json, (db, ctx) => dispatchCommands.manifest(db, { shipment, out: o.out ?? path.join(ctx.config.home, 'manifests'), ...(o.format ? { formats: o.format } : {}) }, progress(!!o.json))),
    );

  dispatch
    .command('labels')
    .description('write box labels (100 x 150 mm, Code128 + QR) for a shipment or one box')
    .argument('[shipment]', 'shipment id or code (SH…)')
    .option('--box <code>', 'one box instead of a shipment')
    .option('--out <dir>', 'output folder (default $KADI_HOME/labels)')
    .option('--json', 'JSON output: {"file","labels","boxes":[...]}')
    .action(async function (this: Command, shipment: string | undefined, o: { box?: string; out?: string; json?: boolean }) {
      if (!!shipment === !!o.box) this.error('error: give a shipment or --box <code>', { exitCode: 2, code: 'kadi.usage' });
      await run(!!o.json, (db, ctx) => dispatchCommands.labels(db, { out: o.out ?? path.join(ctx.config.home, 'labels'), ...(o.box ? { box: o.box } : {}), ...(shipment ? { shipment } : {}) }));
    });

  dispatch
    .command('boxes')
    .description('list boxes')
    .option('--centre <code>', 'only this centre')
    .option('--state <state>', 'OPEN, SEALED, DISPATCHED, IN_TRANSIT, RECEIVED or OPENED')
    .option('--shipment <id>', 'only this shipment')
    .option('--json', 'JSON output: {"boxes":[...]}')
    .action(async (o: { centre?: string; state?: string; shipment?: string; json?: boolean }) =>
      run(!!o.json, (db) => dispatchCommands.boxes(db, { ...(o.centre ? { centre: o.centre } : {}), ...(o.state ? { state: o.state.toUpperCase() } : {}), ...(o.shipment ? { shipment: o.shipment } : {}) })),
    );

  dispatch
    .command('shipments')
    .description('list shipments')
    .option('--centre <code>', 'only this centre')
    .option('--state <state>', 'CREATED, DISPATCHED or RECEIVED')
    .option('--json', 'JSON output: {"shipments":[...]}')
    .action(async (o: { centre?: string; state?: string; json?: boolean }) =>
      run(!!o.json, (db) => dispatchCommands.shipments(db, { ...(o.centre ? { centre: o.centre } : {}), ...(o.state ? { state: o.state.toUpperCase() } : {}) })),
    );

  dispatch
    .command('returns')
    .description('send back cards uncollected for too long (RECEIVED → RETURNED, reason UNCOLLECTED)')
    .option('--older-than <days>', `days since the card reached the centre (default ${DEFAULT_RETURN_AFTER_DAYS})`, intArg('--older-than', 0, 3650), DEFAULT_RETURN_AFTER_DAYS)
    .option('--centre <code>', 'only this centre')
    .option('--dry-run', 'count only, change nothing')
    .option('--json', 'JSON output: {"returned","dryRun","olderThanDays","receivedBefore","byCentre"}')
    .action(async (o: { olderThan: number; centre?: string; dryRun?: boolean; json?: boolean }) =>
      run(!!o.json, (db) => dispatchCommands.returns(db, actor(), o, progress(!!o.json))),
    );

  dispatch
    .command('destroy')
    .description('destroy returned cards (RETURNED → DESTROYED) and close their orders')
    .argument('[document-numbers...]', 'the cards to destroy')
    .option('--all-returned', 'every RETURNED card')
    .requiredOption('--witness <staff-id>', 'staff id of the witness (recorded in the audit log)')
    .option('--json', 'JSON output: {"destroyed","ordersClosed"}')
    .action(async function (this: Command, documentNumbers: string[], o: { allReturned?: boolean; witness: string; json?: boolean }) {
      if ((documentNumbers.length > 0) === !!o.allReturned) this.error('error: name document numbers or give --all-returned', { exitCode: 2, code: 'kadi.usage' });
      await run(!!o.json, (db) => dispatchCommands.destroy(db, actor(), { documentNumbers, ...o }));
    });

  dispatch
    .command('ageing')
    .description('uncollected cards per collection centre by days waiting')
    .option('--centre <code>', 'only this centre')
    .option('--json', 'JSON output: {"at","buckets":[...],"centres":[...],"totals":{...}}')
    .action(async (o: { centre?: string; json?: boolean }) => run(!!o.json, (db) => dispatchCommands.ageing(db, o.centre ? { centre: o.centre } : {})));

  // ---- track
  const track = program.command('track').description('scan boxes at hand-overs; box, shipment and card histories');
  track
    .command('scan')
    .description('record a scan of a box label')
    .argument('<code>', 'box code as scanned (Code128 or QR)')
    .addOption(new Option('--event <event>', 'what happened').choices([...SCAN_EVENTS]).makeOptionMandatory())
    .requiredOption('--at <location>', 'collection centre code (received, opened), hub or BUREAU')
    .option('--json', 'JSON output: {"box","centre","event","from","to","at","cards","shipment"}')
    .action(async (code: string, o: { event: string; at: string; json?: boolean }) => run(!!o.json, (db) => dispatchCommands.scan(db, actor(), { code, event: o.event, at: o.at })));
  track
    .command('history')
    .description('the history of a box or shipment (by code) or of a card (--document)')
    .argument('[code]', 'box (BX…) or shipment (SH…) code')
    .option('--document <number>', 'a card, by document number')
    .option('--json', 'JSON output: {"box"|"shipment"|"card":{...},"events":[...]}')
    .action(async function (this: Command, code: string | undefined, o: { document?: string; json?: boolean }) {
      if (!!code === !!o.document) this.error('error: give a box/shipment code or --document <number>', { exitCode: 2, code: 'kadi.usage' });
      await run(!!o.json, (db) => dispatchCommands.history(db, { ...(code ? { code } : {}), ...(o.document ? { document: o.document } : {}) }));
    });

  // ---- issue
  program
    .command('issue')
    .description('hand a card to its holder at the collection centre (RECEIVED → ISSUED, order FULFILLED)')
    .argument('<document-number>', 'document number of the card')
    .requiredOption('--centre <code>', 'the centre where the holder is')
    .option('--holder-national-number <n>', 'national number on the identity presented (checked against the order)')
    .option('--json', 'JSON output: {"documentNumber","centre","state","orderStatus","issuedAt"}')
    .action(async (documentNumber: string, o: { centre: string; holderNationalNumber?: string; json?: boolean }) =>
      run(!!o.json, (db) => dispatchCommands.issue(db, actor(), { documentNumber, centre: o.centre, ...(o.holderNationalNumber ? { holderNationalNumber: o.holderNationalNumber } : {}) })),
    );

  // ---- reconcile
  program
    .command('reconcile')
    .description(`prove that every blank is accounted for; exits ${EXIT_UNBALANCED} and itemises the differences when not`)
    .option('--json', 'JSON output: {"ok","equation","blanks":{...},"lots","batches","centres","orders","differences"}')
    .action(async (o: { json?: boolean }) => run(!!o.json, (db) => dispatchCommands.reconcile(db)));

  // ---- stock
  const stock = program.command('stock').description('blank card stock');
  stock
    .command('receive')
    .description('record a delivered lot of blank cards')
    .requiredOption('--lot <number>', 'supplier lot number (unique)')
    .requiredOption('--quantity <n>', 'blank cards in the lot', intArg('--quantity', 1, 10_000_000))
    .requiredOption('--supplier <name>', 'supplier')
    .requiredOption('--chip-type <type>', 'chip / card product type')
    .option('--json', 'JSON output: the lot with consumed and inStock')
    .action(async (o: { lot: string; quantity: number; supplier: string; chipType: string; json?: boolean }) =>
      run(!!o.json, (db) => dispatchCommands.stockReceive(db, actor(), { lot: o.lot, quantity: o.quantity, supplier: o.supplier, chipType: o.chipType })),
    );
  stock
    .command('list')
    .description('lots received, consumed and in stock')
    .option('--json', 'JSON output: {"lots":[...],"totals":{...}}')
    .action(async (o: { json?: boolean }) => run(!!o.json, (db) => dispatchCommands.stockList(db)));
}
