/** `kadi batch create|status`: production batches (`batch run` arrives with the BullMQ pipeline). */
import type { Command } from 'commander';
import { createBatch, getBatch, listBatches } from '../batches/index.ts';
import type { WithContext } from './run.ts';
import { printJson, printLine, table } from './output.ts';


export function registerBatchCommands(program: Command, withContext: WithContext, actor: () => string): void {
  const batch = program.command('batch').description('production batches');
  batch
    .command('create')
    .description('create a batch from cards waiting for production (oldest orders first)')
    .requiredOption('--size <n>', 'maximum number of cards', (v) => Number(v))
    .option('--centre <code>', 'only cards for this collection centre')
    .option('--json', 'JSON output')
    .action(async (o: { size: number; centre?: string; json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const b = await createBatch(await ctx.db(), { size: o.size, actor: actor(), ...(o.centre ? { centreCode: o.centre } : {}) });
        if (o.json) printJson(b);
        else printLine(`batch ${b.id} created with ${b.size} cards${b.centreCode ? ` for ${b.centreCode}` : ''}`);
      }),
    );
  batch
    .command('status')
    .description('one batch, or the latest batches, with cards per state')
    .argument('[id]', 'batch id')
    .option('--json', 'JSON output')
    .action(async (id: string | undefined, o: { json?: boolean }) =>
      withContext(!!o.json, async (ctx) => {
        const db = await ctx.db();
        const list = id ? [await getBatch(db, Number(id))] : await listBatches(db);
        if (o.json) return printJson(id ? list[0] : list);
        printLine(
          table([
            ['batch', 'state', 'size', 'centre', 'cards by state'],
            ...list.map((b) => [b.id, b.state, b.size, b.centreCode ?? '-', Object.entries(b.cards).map(([k, v]) => `${k}:${v}`).join(' ')]),
          ]),
        );
      }),
    );
}
