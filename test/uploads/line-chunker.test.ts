import { LineChunker, type StagedChunk } from '../../src/modules/uploads/line-chunker';
import { parseChunk } from '../../src/modules/uploads/line-parser';

const TARGET = 4096;
const MAX_LINE = 300;

/** A deterministic pseudo-random generator, so a failure can be replayed. */
function random(seed: number) {
  let state = seed;
  return (below: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % below;
  };
}

/** What the chunks say the file's lines were: the line's bytes, or its length when it was too long to keep. */
function linesOf(chunks: StagedChunk[]): Array<string | number> {
  const lines: Array<string | number> = [];
  for (const chunk of chunks) {
    if (chunk.longLineBytes !== null) {
      expect(chunk.data.length).toBe(0);
      lines.push(chunk.longLineBytes);
      continue;
    }
    const text = chunk.data.toString('latin1');
    const parts = text.split('\n');
    if (parts[parts.length - 1] === '') parts.pop();
    lines.push(...parts);
  }
  return lines;
}

describe('LineChunker', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('cuts any stream into chunks of whole lines, whatever the pieces (seed %i)', async (seed) => {
    const next = random(seed);
    const lines: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const kind = next(20);
      const length = kind === 0 ? MAX_LINE + 1 + next(5000) : kind === 1 ? 0 : next(MAX_LINE + 1);
      lines.push('x'.repeat(length).replace(/x/g, () => String.fromCharCode(33 + next(90))));
    }
    const endsWithNewline = next(2) === 0;
    const file = Buffer.from(lines.join('\n') + (endsWithNewline ? '\n' : ''), 'latin1');

    const chunks: StagedChunk[] = [];
    // The chunker reuses its buffer: a chunk's bytes are only valid while the sink runs.
    const chunker = new LineChunker({ targetBytes: TARGET, maxLineBytes: MAX_LINE }, async (chunk) => {
      await Promise.resolve();
      chunks.push({ data: Buffer.from(chunk.data), longLineBytes: chunk.longLineBytes });
    });
    for (let offset = 0; offset < file.length; ) {
      const size = 1 + next(next(3) === 0 ? 300_000 : 700);
      await chunker.push(file.subarray(offset, offset + size));
      offset += size;
    }
    await chunker.end();

    const expected = lines.map((line) => (line.length > MAX_LINE ? line.length : line));
    if (!endsWithNewline && expected[expected.length - 1] === '') expected.pop(); // "a\n" has one line, not two
    expect(linesOf(chunks)).toEqual(expected);
    for (const chunk of chunks.slice(0, -1)) {
      if (chunk.longLineBytes === null) expect(chunk.data[chunk.data.length - 1]).toBe(0x0a);
      expect(chunk.data.length).toBeLessThanOrEqual(TARGET + 256 * 1024);
    }
  });

  it('keeps a file without any line end as one line, and an empty file as no chunk', async () => {
    const seen: string[] = [];
    const one = new LineChunker({ targetBytes: TARGET, maxLineBytes: MAX_LINE }, async (chunk) => void seen.push(chunk.data.toString()));
    await one.push(Buffer.from('AB'));
    await one.push(Buffer.from('C'));
    await one.end();
    expect(seen).toEqual(['ABC']);
    const none: unknown[] = [];
    await new LineChunker({ targetBytes: TARGET, maxLineBytes: MAX_LINE }, async (chunk) => void none.push(chunk)).end();
    expect(none).toEqual([]);
  });
});

describe('parseChunk', () => {
  it('numbers rows from firstSeq in file order and escapes backslashes for the bulk load', () => {
    const parsed = parseChunk(Buffer.from('\uFEFFA1\r\n\nb\\2\n  C3 \nbad code\nD4'), { startsFile: true, longLineBytes: null, maxErrors: 10, firstSeq: 41 });
    expect(parsed).toMatchObject({ firstSeq: 41, count: 4, lines: 6, blankLines: 1, invalidLines: 1 });
    expect(parsed.rows.toString()).toBe('41\tA1\n42\tb\\\\2\n43\tC3\n44\tD4\n');
    expect(parsed.errors).toEqual([{ index: 4, reason: 'contains white space inside the code' }]);
  });

  it('does not take a byte-order mark off a chunk that does not start the file', () => {
    const parsed = parseChunk(Buffer.from('\uFEFFA1\n'), { startsFile: false, longLineBytes: null, maxErrors: 10, firstSeq: 1 });
    // JavaScript trims U+FEFF as white space, so the code is still A1.
    expect(parsed.rows.toString()).toBe('1\tA1\n');
  });
});
