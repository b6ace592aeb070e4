/**
 * `kadi mrz --json`: reads one record as JSON on stdin and prints its TD1 MRZ as {"lines":[l1,l2,l3]}.
 * Input: {"documentNumber","issuingState","nationality","surname","givenNames","dateOfBirth":"YYYY-MM-DD",
 *         "sex":"M|F|X","dateOfExpiry":"YYYY-MM-DD","optionalData"?}
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { generateTd1 } from '../lds/index.ts';
import { ValidationError } from '../shared/index.ts';
import { printJson, printLine, reportError } from './output.ts';

const inputSchema = z
  .object({
    documentNumber: z.string(),
    issuingState: z.string(),
    nationality: z.string(),
    surname: z.string(),
    givenNames: z.string(),
    dateOfBirth: z.string(),
    sex: z.enum(['M', 'F', 'X']),
    dateOfExpiry: z.string(),
    optionalData: z.string().optional(),
    optionalData2: z.string().optional(),
    documentCode: z.string().optional(),
  })
  .strict();

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerMrzCommand(program: Command): void {
  program
    .command('mrz')
    .description('print the TD1 MRZ (3x30) of one record read as JSON on stdin')
    .option('--json', 'JSON output {"lines":[...]}')
    .action(async (o: { json?: boolean }) => {
      try {
        let raw: unknown;
        try {
          raw = JSON.parse(await readStdin());
        } catch {
          throw new ValidationError('MRZ_INPUT_NOT_JSON', 'stdin is not a JSON object', {
            hint: 'Pipe one JSON record, e.g. echo \'{"documentNumber":"...",...}\' | kadi mrz --json',
          });
        }
        const parsed = inputSchema.safeParse(raw);
        if (!parsed.success) {
          const i = parsed.error.issues[0]!;
          throw new ValidationError('MRZ_INVALID_INPUT', `${i.path.join('.') || 'input'}: ${i.message}`, {
            details: { field: i.path.join('.') },
          });
        }
        const { lines } = generateTd1(parsed.data);
        if (o.json) printJson({ lines });
        else for (const l of lines) printLine(l);
      } catch (e) {
        process.exitCode = reportError(e, !!o.json);
      }
    });
}
