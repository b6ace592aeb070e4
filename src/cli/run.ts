/** How every CLI command runs: build the Context, do the work, report errors the Kadi way, close everything. */
import { Context } from './context.ts';
import { reportError } from './output.ts';

/** Registers a clean-up (HSM, readers, connections) to run after the command, in reverse order. */
export type Defer = (f: () => Promise<void> | void) => void;

export type CommandBody = (ctx: Context, defer: Defer) => Promise<number | void>;

export type WithContext = (json: boolean, body: CommandBody) => Promise<void>;

/**
 * Runs a command body. Its return value (a number) becomes the exit code; a thrown error is printed with its
 * code and hint (JSON with --json) and sets exit code 1 (70 for bugs); deferred clean-ups and the Context are
 * always closed.
 */
export async function withContext(json: boolean, body: CommandBody, make: () => Context = Context.fromEnv): Promise<void> {
  let ctx: Context | undefined;
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    ctx = make();
    const code = await body(ctx, (f) => cleanups.push(f));
    if (typeof code === 'number') process.exitCode = code;
  } catch (e) {
    process.exitCode = reportError(e, json);
  } finally {
    for (const f of cleanups.reverse()) {
      try {
        await f();
      } catch (e) {
        process.exitCode ||= reportError(e, json);
      }
    }
    await ctx?.close();
  }
}
