/**
 * poppler for face QC without a process spawn per card. Spawning a child from the Kadi process costs CPU in
 * proportion to the process's size (fork copies its page tables: ~2 ms per 100 MB of RSS, i.e. 5-10 ms per spawn in
 * a pipeline worker, two spawns per card). So the poppler tools are run by small, long-lived helper shells (POSIX
 * `sh`, a few MB): a request names a PDF, a page for `pdftotext -layout` and a page (and optional crop) for
 * `pdftoppm -gray` (a binary PGM); the helper runs both at once and answers with their exit codes and outputs.
 *
 * Protocol (one request at a time per helper, answered in order):
 * ```
 *   request   <id> <textPage|0> <imagePage|0> <dpi> <x|-> <y> <w> <h> <pdf path>\n      (crop in pixels at dpi)
 *   answer    <id> <text exit> <image exit> <text bytes> <image bytes> <stderr bytes>\n<text><image><stderr>
 * ```
 * Paths with a newline or leading/trailing blanks (which `read` would lose) are run directly (execFile) instead,
 * and so is everything when no helper can be started. Helpers do not keep the process alive (unref'd while idle);
 * they end when the process does (end of input) and remove their temporary directory. At most
 * {@link MAX_HELPERS} helpers; requests beyond wait in the least busy one's queue.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What to read from a page. */
export interface PopplerRequest {
  pdf: string;
  /** Page for pdftotext -layout (1-based), or undefined for none. */
  textPage?: number;
  /** Page for pdftoppm -gray, or undefined for none. */
  imagePage?: number;
  /** Resolution of the image, dpi. */
  dpi: number;
  /** Crop of the image in pixels at `dpi` (pdftoppm -x -y -W -H); the whole page when undefined. */
  crop?: { x: number; y: number; w: number; h: number };
}

export interface PopplerResult {
  text?: string;
  /** The PGM file pdftoppm wrote. */
  image?: Buffer;
}

/** Helpers at most (face QC runs one request per reader at a time; poppler itself is the CPU cost). */
const MAX_HELPERS = 2;
/** A request not answered in this time kills its helper (its queue fails), ms. */
const TIMEOUT_MS = 60_000;

const SCRIPT = `
set -u
dir=$(mktemp -d "\${TMPDIR:-/tmp}/kadi-poppler.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' HUP INT TERM
t="$dir/text"; p="$dir/image"; e="$dir/err"
while IFS=' ' read -r id tp ip r x y w h pdf; do
  : > "$t"; : > "$p"; : > "$e"
  ts=0; ps=0
  if [ "$tp" != 0 ]; then pdftotext -f "$tp" -l "$tp" -layout "$pdf" "$t" 2>>"$e" & tpid=$!; fi
  if [ "$ip" != 0 ]; then
    if [ "$x" = - ]; then pdftoppm -r "$r" -gray -singlefile -f "$ip" -l "$ip" "$pdf" > "$p" 2>>"$e"; ps=$?
    else pdftoppm -r "$r" -gray -singlefile -f "$ip" -l "$ip" -x "$x" -y "$y" -W "$w" -H "$h" "$pdf" > "$p" 2>>"$e"; ps=$?; fi
  fi
  if [ "$tp" != 0 ]; then wait "$tpid"; ts=$?; fi
  set -- $(stat -c %s "$t" "$p" "$e")
  printf '%s %s %s %s %s %s\\n' "$id" "$ts" "$ps" "$1" "$2" "$3"
  cat "$t" "$p" "$e"
done
`;

interface Pending {
  id: number;
  resolve(r: { textStatus: number; imageStatus: number; text: Buffer; image: Buffer; err: Buffer }): void;
  reject(e: Error): void;
}

class Helper {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly queue: Pending[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private header: number[] | undefined;
  private timer: NodeJS.Timeout | undefined;
  dead = false;

  constructor(onExit: (h: Helper) => void) {
    this.child = spawn('/bin/sh', ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (c: Buffer) => this.data(c));
    this.child.stderr.resume();
    this.child.stdin.on('error', () => undefined);
    const fail = (e: Error): void => {
      if (this.dead) return;
      this.dead = true;
      if (this.timer) clearTimeout(this.timer);
      for (const p of this.queue.splice(0)) p.reject(e);
      onExit(this);
    };
    this.child.on('error', fail);
    this.child.on('exit', (code, signal) => fail(new Error(`the poppler helper stopped (${signal ?? `exit ${code}`})`)));
    this.idle();
  }

  get load(): number {
    return this.queue.length;
  }

  request(line: string): Promise<{ textStatus: number; imageStatus: number; text: Buffer; image: Buffer; err: Buffer }> {
    return new Promise((resolve, reject) => {
      const id = Number(line.slice(0, line.indexOf(' ')));
      this.queue.push({ id, resolve, reject });
      if (this.queue.length === 1) this.busy();
      this.child.stdin.write(line);
    });
  }

  /** Keeps the process alive while answers are awaited; a stuck request kills the helper. */
  private busy(): void {
    this.child.ref();
    (this.child.stdout as unknown as Socket).ref();
    this.timer = setTimeout(() => this.child.kill('SIGKILL'), TIMEOUT_MS);
  }

  private idle(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.child.unref();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) (s as unknown as Socket).unref?.();
  }

  private data(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (!this.header) {
        const nl = this.buf.indexOf(0x0a);
        if (nl < 0) return;
        this.header = this.buf.subarray(0, nl).toString('latin1').split(' ').map(Number);
        this.buf = this.buf.subarray(nl + 1);
        if (this.header.length !== 6 || this.header.some((v) => !Number.isInteger(v))) {
          this.child.kill('SIGKILL');
          return;
        }
      }
      const [id, ts, ps, tl, pl, el] = this.header as [number, number, number, number, number, number];
      if (this.buf.length < tl + pl + el) return;
      const out = Buffer.from(this.buf.subarray(0, tl + pl + el));
      this.buf = this.buf.subarray(tl + pl + el);
      this.header = undefined;
      const p = this.queue.shift();
      if (this.timer) clearTimeout(this.timer);
      if (!p || p.id !== id) {
        p?.reject(new Error('the poppler helper answered out of order'));
        this.child.kill('SIGKILL');
        return;
      }
      if (this.queue.length) this.busy();
      else this.idle();
      p.resolve({ textStatus: ts, imageStatus: ps, text: out.subarray(0, tl), image: out.subarray(tl, tl + pl), err: out.subarray(tl + pl) });
    }
  }
}

const helpers: Helper[] = [];
let nextId = 1;
let unavailable = false;

function helper(): Helper {
  const free = helpers.find((h) => h.load === 0);
  if (free) return free;
  if (helpers.length < MAX_HELPERS) {
    const h = new Helper((dead) => {
      const i = helpers.indexOf(dead);
      if (i >= 0) helpers.splice(i, 1);
    });
    helpers.push(h);
    return h;
  }
  return helpers.reduce((a, b) => (b.load < a.load ? b : a));
}

/** Reads a page's text and/or image with poppler (see the module comment). Throws on a poppler failure. */
export async function popplerRead(r: PopplerRequest): Promise<PopplerResult> {
  if (unavailable || /[\n\r]/.test(r.pdf) || r.pdf.trim() !== r.pdf || r.pdf === '') return direct(r);
  const id = nextId++;
  const crop = r.crop ? [r.crop.x, r.crop.y, r.crop.w, r.crop.h].map((v) => String(Math.round(v))) : ['-', '0', '0', '0'];
  const line = `${id} ${r.textPage ?? 0} ${r.imagePage ?? 0} ${Math.round(r.dpi)} ${crop.join(' ')} ${r.pdf}\n`;
  let a;
  try {
    a = await helper().request(line);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') unavailable = true;
    return direct(r);
  }
  const err = a.err.toString('utf8').trim();
  if (a.textStatus !== 0) throw new Error(`pdftotext failed (exit ${a.textStatus})${err ? `: ${err}` : ''}`);
  if (a.imageStatus !== 0) throw new Error(`pdftoppm failed (exit ${a.imageStatus})${err ? `: ${err}` : ''}`);
  return {
    ...(r.textPage !== undefined ? { text: a.text.toString('utf8') } : {}),
    ...(r.imagePage !== undefined ? { image: a.image } : {}),
  };
}

/** The same with one process per tool (the fallback). */
async function direct(r: PopplerRequest): Promise<PopplerResult> {
  const [text, image] = await Promise.all([
    r.textPage === undefined ? undefined : run('pdftotext', ['-f', String(r.textPage), '-l', String(r.textPage), '-layout', r.pdf, '-'], { maxBuffer: 16 * 1024 * 1024 }).then((o) => o.stdout),
    r.imagePage === undefined
      ? undefined
      : run(
          'pdftoppm',
          [
            '-r', String(Math.round(r.dpi)), '-gray', '-singlefile', '-f', String(r.imagePage), '-l', String(r.imagePage),
            ...(r.crop ? ['-x', String(Math.round(r.crop.x)), '-y', String(Math.round(r.crop.y)), '-W', String(Math.round(r.crop.w)), '-H', String(Math.round(r.crop.h))] : []),
            r.pdf,
          ],
          { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 },
        ).then((o) => o.stdout),
  ]);
  return { ...(text !== undefined ? { text } : {}), ...(image !== undefined ? { image } : {}) };
}
