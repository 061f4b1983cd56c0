/**
 * A text as the database compares it in a utf8mb4_bin column (a PAD SPACE collation on MariaDB
 * and MySQL): as UTF-8 (an unpaired surrogate is sent as U+FFFD), trailing spaces not counted.
 * Two texts are equal in such a column exactly when their keys are equal: rows read for many
 * values at once (`IN`) are matched back to the values they were read for.
 */
export const binCollationKey = (text: string): string => Buffer.from(text, 'utf8').toString('utf8').replace(/ +$/, '');
