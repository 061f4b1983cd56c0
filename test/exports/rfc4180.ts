/**
 * A strict RFC 4180 reader for the tests: CRLF record ends, fields quoted only as a whole,
 * `""` as the one escape inside quotes. Anything else (a bare quote inside an unquoted field,
 * text after a closing quote, a lone LF or CR outside quotes, a missing final CRLF, rows of
 * different widths) throws. Unquoted empty fields come back as null, quoted ones as "".
 */
export function parseCsvStrict(text: string): Array<Array<string | null>> {
  const rows: Array<Array<string | null>> = [];
  let row: Array<string | null> = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`CSV is not RFC 4180 at character ${i} (row ${rows.length + 1}): ${why}`);
  };
  if (text.length === 0) return rows;
  for (;;) {
    let field: string | null;
    if (text[i] === '"') {
      i++;
      let value = '';
      for (;;) {
        if (i >= text.length) fail('unterminated quoted field');
        const next = text.indexOf('"', i);
        if (next < 0) fail('unterminated quoted field');
        value += text.slice(i, next);
        i = next + 1;
        if (text[i] === '"') {
          value += '"';
          i++;
          continue;
        }
        break;
      }
      field = value;
    } else {
      let end = i;
      while (end < text.length && text[end] !== ',' && text[end] !== '\r' && text[end] !== '\n') {
        if (text[end] === '"') {
          i = end;
          fail('quote inside an unquoted field');
        }
        end++;
      }
      field = end === i ? null : text.slice(i, end);
      i = end;
    }
    row.push(field);
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === '\r' && text[i + 1] === '\n') {
      i += 2;
      rows.push(row);
      if (rows.length > 1 && row.length !== rows[0].length) fail(`row has ${row.length} fields, the header ${rows[0].length}`);
      row = [];
      if (i === text.length) return rows;
      continue;
    }
    if (i >= text.length) fail('the last record does not end with CRLF');
    fail(`unexpected ${JSON.stringify(text[i])} after a field`);
  }
}
