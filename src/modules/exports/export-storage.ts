import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

/** A file being written; nobody can read it under its key before commit(). */
export interface ExportFileWriter {
  /**
   * Takes the file's bytes. The writer reuses a chunk's memory once that chunk's write callback
   * has run: an implementation that keeps chunks longer (e.g. to fill an upload part) copies them.
   * Errors are reported through write callbacks and commit(), never as an unhandled 'error'.
   */
  readonly stream: Writable;
  /** Makes the complete file readable under its key, replacing any earlier one; resolves with its size. */
  commit(): Promise<{ bytes: number }>;
  /** Throws away what was written. */
  abort(): Promise<void>;
}

export interface StoredExportFile {
  stream: Readable;
  bytes: number;
}

/**
 * Where export files live. The worker that writes a file and the API process that serves it
 * may be on different machines: both must see the same storage (a shared volume for the local
 * directory; an object store implementing this interface otherwise).
 */
export interface ExportStorage {
  createWriteStream(key: string): Promise<ExportFileWriter>;
  /** The file, or null when there is none under the key. */
  openReadStream(key: string): Promise<StoredExportFile | null>;
  /** Removes the file; removing a missing file is not an error. */
  remove(key: string): Promise<void>;
  /** Removes files left half-written by attempts that died, older than the age given. */
  removeAbandoned(olderThanMs: number): Promise<number>;
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const PARTIAL_PREFIX = '.partial-';

function checkedKey(key: string): string {
  if (!KEY.test(key)) throw new Error(`invalid export file key ${JSON.stringify(key)}`);
  return key;
}

/**
 * Files in one local directory (EXPORT_DIR). A file is written under a hidden temporary name and
 * renamed into place when complete, so a reader never sees a half-written file.
 */
export class LocalDirectoryExportStorage implements ExportStorage {
  readonly directory: string;
  private ready: Promise<void> | null = null;

  constructor(directory: string) {
    this.directory = resolve(directory);
  }

  private ensureDirectory(): Promise<void> {
    this.ready ??= mkdir(this.directory, { recursive: true }).then(
      () => undefined,
      (error: unknown) => {
        this.ready = null;
        throw error;
      },
    );
    return this.ready;
  }

  async createWriteStream(key: string): Promise<ExportFileWriter> {
    const finalPath = join(this.directory, checkedKey(key));
    await this.ensureDirectory();
    const partialPath = join(this.directory, `${PARTIAL_PREFIX}${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
    const stream = createWriteStream(partialPath, { flags: 'wx', highWaterMark: 256 * 1024 });
    let failure: Error | null = null;
    stream.on('error', (error) => {
      failure ??= error;
    });
    let settled = false;
    return {
      stream,
      async commit() {
        if (settled) throw new Error('export file already committed or aborted');
        settled = true;
        try {
          if (failure) throw failure;
          if (!stream.writableFinished) {
            if (!stream.writableEnded) stream.end();
            await finished(stream);
          }
          // Durable before it becomes visible: a crash right after the rename must not leave an empty file.
          const handle = await open(partialPath, 'r');
          try {
            await handle.sync();
          } finally {
            await handle.close();
          }
          const { size } = await stat(partialPath);
          await rename(partialPath, finalPath);
          return { bytes: size };
        } catch (error) {
          await unlink(partialPath).catch(() => undefined);
          throw error;
        }
      },
      async abort() {
        if (settled) return;
        settled = true;
        stream.destroy();
        await finished(stream).catch(() => undefined);
        await unlink(partialPath).catch(() => undefined);
      },
    };
  }

  async openReadStream(key: string): Promise<StoredExportFile | null> {
    const path = join(this.directory, checkedKey(key));
    try {
      // Opened first, then measured: a removal racing with the download cannot cut the file short.
      const handle = await open(path, 'r');
      try {
        const { size } = await handle.stat();
        return { stream: handle.createReadStream({ highWaterMark: 256 * 1024 }), bytes: size };
      } catch (error) {
        await handle.close();
        throw error;
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async remove(key: string): Promise<void> {
    await unlink(join(this.directory, checkedKey(key))).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  async removeAbandoned(olderThanMs: number): Promise<number> {
    await this.ensureDirectory();
    let removed = 0;
    for (const name of await readdir(this.directory)) {
      if (!name.startsWith(PARTIAL_PREFIX)) continue;
      const path = join(this.directory, name);
      const info = await stat(path).catch(() => null);
      if (info && Date.now() - info.mtimeMs > olderThanMs) {
        await unlink(path).catch(() => undefined);
        removed++;
      }
    }
    return removed;
  }
}
