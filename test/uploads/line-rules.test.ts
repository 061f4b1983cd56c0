import { startTestApp, type TestApp } from '../helpers/test-app';
import { allCodeRows, claimableCodes, listFigures, uploadAndWait } from './upload-helpers';
import { createUniqueList } from '../helpers/fixtures';

type Expect =
  | { valid: string }
  | { duplicate: true }
  | { blank: true }
  | { invalid: RegExp };

/** One line of a hostile file and what must become of it. */
const HOSTILE: Array<[string | Buffer, Expect]> = [
  ['\uFEFFAlpha1', { valid: 'Alpha1' }], // byte-order mark at the start of the file
  ['beta-2\r', { valid: 'beta-2' }], // CRLF
  ['', { blank: true }],
  ['   \t  ', { blank: true }],
  ['\r', { blank: true }],
  ['  Gamma_3  ', { valid: 'Gamma_3' }],
  ['\tDelta4\t', { valid: 'Delta4' }],
  ['has,comma', { invalid: /comma/ }],
  [',', { invalid: /comma/ }],
  ['inner space', { invalid: /white space/ }],
  ['inner\ttab', { invalid: /control character|white space/ }],
  ['nul\u0000byte', { invalid: /control character/ }],
  ['del\u007Fchar', { invalid: /control character/ }],
  ['c1\u0085control', { invalid: /control character/ }],
  ['esc\u001B[0m', { invalid: /control character/ }],
  ['nb\u00A0sp', { invalid: /white space/ }],
  ['zero\u200Bwidth', { invalid: /white space/ }],
  ['line\u2028separator', { invalid: /white space/ }],
  ['A'.repeat(64), { valid: 'A'.repeat(64) }],
  ['B'.repeat(65), { invalid: /65 characters/ }],
  ['é'.repeat(64), { valid: 'é'.repeat(64) }], // 64 characters, 128 bytes
  ['😀'.repeat(65), { invalid: /65 characters/ }],
  [Buffer.from([0xff, 0x41, 0x42]), { invalid: /UTF-8/ }],
  [Buffer.from([0x61, 0x62, 0xc3]), { invalid: /UTF-8/ }], // truncated sequence
  [Buffer.from([0xc0, 0x80, 0x41]), { invalid: /UTF-8/ }], // overlong encoding
  [Buffer.from([0x41, 0xed, 0xa0, 0x80]), { invalid: /UTF-8/ }], // encoded surrogate
  ['abc', { valid: 'abc' }],
  ['ABC', { valid: 'ABC' }], // case-sensitive: another code
  ['abc', { duplicate: true }],
  ['abc   ', { duplicate: true }], // trailing white space trimmed: the same code
  ["x'--", { valid: "x'--" }],
  ['back\\slash', { valid: 'back\\slash' }],
  ['\\N', { valid: '\\N' }], // LOAD DATA's NULL marker, stored as the two characters
  ['\\', { valid: '\\' }],
  ['100%_off', { valid: '100%_off' }],
  ['café', { valid: 'café' }], // NFC
  ['cafe\u0301', { valid: 'cafe\u0301' }], // NFD: other bytes, another code
  ['CAFÉ', { valid: 'CAFÉ' }],
  ['🎉party', { valid: '🎉party' }], // 4-byte UTF-8
  ['\uFEFF', { blank: true }], // a byte-order mark alone, mid-file
  ['Z'.repeat(100_000), { invalid: /100000 bytes long/ }], // longer than any staged line
  [' '.repeat(70_000), { invalid: /70000 bytes long/ }],
  ['Alpha1', { duplicate: true }],
  ['\u3000Ideo\u3000', { valid: 'Ideo' }], // ideographic spaces around
  ['tail-without-newline', { valid: 'tail-without-newline' }],
];

function buildFile(lines: Array<string | Buffer>, lastNewline: boolean): Buffer {
  const parts: Buffer[] = [];
  lines.forEach((line, i) => {
    parts.push(Buffer.isBuffer(line) ? line : Buffer.from(line, 'utf8'));
    if (i < lines.length - 1 || lastNewline) parts.push(Buffer.from('\n'));
  });
  return Buffer.concat(parts);
}

describe('upload line rules', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.destroy());

  it('applies every line rule to a hostile file, with exact counts, reasons and line numbers', async () => {
    const listId = await createUniqueList(t, 'Hostile');
    const done = await uploadAndWait(t, listId, buildFile(HOSTILE.map(([line]) => line), false));

    const valid = HOSTILE.flatMap(([, expect]) => ('valid' in expect ? [expect.valid] : []));
    const invalid = HOSTILE.map(([, expect], i) => ({ expect, line: i + 1 })).filter(({ expect }) => 'invalid' in expect);
    const blank = HOSTILE.filter(([, expect]) => 'blank' in expect).length;
    const duplicates = HOSTILE.filter(([, expect]) => 'duplicate' in expect).length;
    expect(done).toMatchObject({
      status: 'COMPLETED',
      codesAdded: valid.length,
      duplicatesSkipped: duplicates,
      invalidLines: invalid.length,
      blankLines: blank,
      linesRead: HOSTILE.length - blank,
      failureReason: null,
    });
    expect(done.linesRead).toBe(done.codesAdded + done.duplicatesSkipped + done.invalidLines);
    expect(done.errors.map((error: { line: number }) => error.line)).toEqual(invalid.map(({ line }) => line));
    done.errors.forEach((error: { reason: string }, i: number) => expect(error.reason).toMatch((invalid[i].expect as { invalid: RegExp }).invalid));

    // Stored byte for byte, in file order, and available at once.
    expect(await claimableCodes(t, listId)).toEqual(valid);
    expect(await listFigures(t, listId)).toMatchObject({ totalCodes: valid.length, availableCodes: valid.length, status: 'ACTIVE' });
  });

  it('skips codes the list already has, case-sensitively, and counts them', async () => {
    const listId = await createUniqueList(t, 'Duplicates');
    await uploadAndWait(t, listId, 'abc\nXYZ\n');
    const second = await uploadAndWait(t, listId, 'abc\nAbc\nNEW1\nXYZ\nxyz\nNEW1\n');
    expect(second).toMatchObject({ status: 'COMPLETED', linesRead: 6, codesAdded: 3, duplicatesSkipped: 3, invalidLines: 0 });
    expect(await claimableCodes(t, listId)).toEqual(['abc', 'XYZ', 'Abc', 'NEW1', 'xyz']);
    expect((await listFigures(t, listId)).totalCodes).toBe(5);
  });

  it('keeps the first 100 reasons and counts every invalid line, across chunk boundaries', async () => {
    const listId = await createUniqueList(t, 'Many errors');
    // About 3 MiB: several staged chunks. Every 7th line is invalid; line numbers must stay exact.
    const lines: string[] = [];
    for (let i = 1; i <= 220_000; i++) lines.push(i % 7 === 0 ? `bad,${i}` : `code-${i}`);
    const done = await uploadAndWait(t, listId, `${lines.join('\r\n')}\r\n`);
    const invalid = Math.floor(220_000 / 7);
    expect(done).toMatchObject({ status: 'COMPLETED', linesRead: 220_000, invalidLines: invalid, codesAdded: 220_000 - invalid, duplicatesSkipped: 0 });
    expect(done.errors).toHaveLength(100);
    expect(done.errors[0]).toEqual({ line: 7, reason: 'contains a comma' });
    expect(done.errors[99]).toEqual({ line: 700, reason: 'contains a comma' });
    const codes = await claimableCodes(t, listId);
    expect(codes).toHaveLength(220_000 - invalid);
    expect(codes[0]).toBe('code-1');
    expect(codes[codes.length - 1]).toBe('code-220000');
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('reports the right line number for a bad line deep in a multi-chunk file', async () => {
    const listId = await createUniqueList(t, 'Deep error');
    const lines: string[] = [];
    for (let i = 1; i <= 150_000; i++) lines.push(`deep-${i}`);
    lines[149_990 - 1] = 'deep error';
    lines[100_000 - 1] = '';
    const done = await uploadAndWait(t, listId, lines.join('\n'));
    expect(done).toMatchObject({ status: 'COMPLETED', linesRead: 149_999, blankLines: 1, invalidLines: 1, codesAdded: 149_998 });
    expect(done.errors).toEqual([{ line: 149_990, reason: 'contains white space inside the code' }]);
  });

  it('completes an empty or blank-only file with zeros and changes nothing', async () => {
    const listId = await createUniqueList(t, 'Empty');
    await uploadAndWait(t, listId, 'keep\n');
    const empty = await uploadAndWait(t, listId, '');
    expect(empty).toMatchObject({ status: 'COMPLETED', linesRead: 0, blankLines: 0, codesAdded: 0, duplicatesSkipped: 0, invalidLines: 0, bytesReceived: 0 });
    const blanks = await uploadAndWait(t, listId, '\n\r\n  \n\uFEFF\n');
    expect(blanks).toMatchObject({ status: 'COMPLETED', linesRead: 0, blankLines: 4, codesAdded: 0 });
    expect(await claimableCodes(t, listId)).toEqual(['keep']);
  });

  it('fails a UTF-16 file with a clear reason and loads nothing', async () => {
    const listId = await createUniqueList(t, 'UTF-16');
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('CODE1\r\nCODE2\r\n', 'utf16le')]);
    const done = await uploadAndWait(t, listId, utf16);
    expect(done.status).toBe('FAILED');
    expect(done.failureReason).toMatch(/UTF-16/);
    expect(await allCodeRows(t, listId)).toEqual([]);
    expect((await listFigures(t, listId)).totalCodes).toBe(0);
  });
});
