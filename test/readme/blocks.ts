// The code blocks of README.md, read from the file at run time: what test/readme and test/consumer run.
// A block is classified by the marker on the line before its fence, `<!-- readme-test: NAME note -->`, else by its
// fence language. NAME says how the test treats the block; the note is for the reader.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const README = fileURLToPath(new URL('../../README.md', import.meta.url));

export interface ReadmeBlock {
  /** 1-based line of the opening fence. */
  line: number;
  /** The fence's language ('' for a plain fence). */
  lang: string;
  /** The marker's NAME, when the line before the fence is a marker. */
  marker: string | undefined;
  /** The nearest heading above the block, for test names. */
  heading: string;
  code: string;
}

const FENCE = /^(`{3,}|~{3,})\s*([\w+-]*)\s*$/;
const MARKER = /^<!--\s*readme-test:\s*([\w-]+)\b.*-->\s*$/;

export function readmeBlocks(text = readFileSync(README, 'utf8')): ReadmeBlock[] {
  const lines = text.split('\n');
  const blocks: ReadmeBlock[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, '');
    const open = FENCE.exec(line);
    if (!open) continue;
    const fence = open[1]!;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !(lines[i]!.startsWith(fence) && lines[i]!.trim() === fence); i++) body.push(lines[i]!);
    if (i >= lines.length) throw new Error(`README.md line ${start + 1}: a code block that is never closed`);
    let before = start - 1;
    while (before >= 0 && lines[before]!.trim() === '') before--;
    const marker = before >= 0 ? MARKER.exec(lines[before]!.trim())?.[1] : undefined;
    blocks.push({ line: start + 1, lang: open[2]!.toLowerCase(), marker, heading, code: `${body.join('\n')}\n` });
  }
  return blocks;
}

/** The one block with this marker; throws when there is none or more than one, so a renamed marker fails loudly. */
export function readmeBlock(marker: string, blocks = readmeBlocks()): ReadmeBlock {
  const found = blocks.filter((block) => block.marker === marker);
  if (found.length !== 1) throw new Error(`README.md has ${found.length} code blocks marked <!-- readme-test: ${marker} -->, expected 1`);
  return found[0]!;
}

/** The `npm install` commands of the Install block, each as its arguments (the block has no quoting). */
export function installCommands(block = readmeBlock('install')): string[][] {
  return block.code
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('npm install '))
    .map((line) => line.split(/\s+/));
}

/** The install command for an SDK line ('2' or '3'): the one whose @opentelemetry/sdk-metrics range has that major. */
export function installCommandFor(sdk: string, commands = installCommands()): string[] {
  const found = commands.filter((args) => args.some((arg) => new RegExp(`^@opentelemetry/sdk-metrics@[\\^~]?${sdk}\\.`).test(arg)));
  if (found.length !== 1) throw new Error(`README.md's Install block has ${found.length} lines for SDK ${sdk}.x, expected 1`);
  return found[0]!;
}
