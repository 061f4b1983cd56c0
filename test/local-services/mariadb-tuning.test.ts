import { mariadbTuning } from '../../src/infra/local-services/servers';

const GiB = 1024 ** 3;
const setting = (args: string[], name: string) => args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1];

describe('the local MariaDB settings', () => {
  it('sizes the buffer pool from free memory (a quarter, 256 MiB to 4 GiB) and the redo log from the pool', () => {
    const big = mariadbTuning({ totalBytes: 24 * GiB, freeBytes: 20 * GiB });
    expect([setting(big, 'innodb-buffer-pool-size'), setting(big, 'innodb-log-file-size')]).toEqual(['4096M', '1024M']);
    const middle = mariadbTuning({ totalBytes: 8 * GiB, freeBytes: 3 * GiB });
    expect([setting(middle, 'innodb-buffer-pool-size'), setting(middle, 'innodb-log-file-size')]).toEqual(['768M', '256M']);
    const small = mariadbTuning({ totalBytes: 2 * GiB, freeBytes: 0.5 * GiB });
    expect([setting(small, 'innodb-buffer-pool-size'), setting(small, 'innodb-log-file-size')]).toEqual(['256M', '256M']);
  });

  it('keeps the development settings: commits flushed once a second, no binlog', () => {
    const args = mariadbTuning({ totalBytes: 8 * GiB, freeBytes: 4 * GiB });
    expect(args).toEqual(expect.arrayContaining(['--innodb-flush-log-at-trx-commit=2', '--skip-log-bin', '--max-connections=500']));
  });
});
