import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';

export enum UploadMode {
  APPEND = 'APPEND',
  REPLACE = 'REPLACE',
}
export enum UploadStatus {
  QUEUED = 'QUEUED',
  PROCESSING = 'PROCESSING',
  COMPLETED = 'COMPLETED',
  FAILED = 'FAILED',
}
registerEnumType(UploadMode, {
  name: 'UploadMode',
  description: "APPEND adds the file's codes. REPLACE removes the list's unassigned codes and loads the file; assigned codes stay assigned.",
});
registerEnumType(UploadStatus, {
  name: 'UploadStatus',
  description: 'QUEUED: receiving the file or waiting for an earlier upload of the list. COMPLETED: the codes are available.',
});

@ObjectType({ description: 'A rejected line of an uploaded file.' })
export class UploadLineError {
  @Field(() => Int, { description: 'Line number in the file, from 1.' })
  line!: number;

  @Field()
  reason!: string;
}

/** How many rejected lines an upload keeps with their reason; the count of invalid lines is always exact. */
export const MAX_LINE_ERRORS = 100;

/**
 * One uploaded file of codes for a UNIQUE list. The counters are committed together with the
 * codes they count, so they are exact at every moment, also after a worker was killed.
 * linesRead counts the non-blank lines: linesRead = codesAdded + duplicatesSkipped + invalidLines.
 */
@ObjectType()
@Entity('code_uploads')
export class CodeUpload {
  @Field(() => ID)
  @PrimaryGeneratedColumn({ type: 'bigint', unsigned: true })
  id!: string;

  @Field(() => ID)
  @Column({ name: 'list_id', type: 'bigint', unsigned: true })
  listId!: string;

  @Field()
  @Column({ name: 'file_name', type: 'varchar', length: 255 })
  fileName!: string;

  @Field(() => UploadMode)
  @Column({ type: 'enum', enum: UploadMode })
  mode!: UploadMode;

  @Field(() => UploadStatus)
  @Column({ type: 'enum', enum: UploadStatus, default: UploadStatus.QUEUED })
  status!: UploadStatus;

  @Field(() => Int, { description: 'Non-blank lines read so far: codesAdded + duplicatesSkipped + invalidLines.' })
  @Column({ name: 'lines_read', type: 'int', unsigned: true, default: 0 })
  linesRead!: number;

  @Field(() => Int)
  @Column({ name: 'codes_added', type: 'int', unsigned: true, default: 0 })
  codesAdded!: number;

  @Field(() => Int, { description: 'Codes already in the list, or earlier in the file: loaded once.' })
  @Column({ name: 'duplicates_skipped', type: 'int', unsigned: true, default: 0 })
  duplicatesSkipped!: number;

  @Field(() => Int)
  @Column({ name: 'invalid_lines', type: 'int', unsigned: true, default: 0 })
  invalidLines!: number;

  @Field(() => Int, { description: 'Empty or white-space-only lines, skipped (not part of linesRead).' })
  @Column({ name: 'blank_lines', type: 'int', unsigned: true, default: 0 })
  blankLines!: number;

  @Field(() => [UploadLineError], { description: `The first ${MAX_LINE_ERRORS} rejected lines, with the reason.` })
  @Column({ name: 'line_errors', type: 'json' })
  errors!: UploadLineError[];

  @Field(() => String, { nullable: true })
  @Column({ name: 'failure_reason', type: 'varchar', length: 1000, nullable: true })
  failureReason!: string | null;

  @Field(() => Float, { description: 'Size of the file received so far, in bytes.' })
  @Column({ name: 'bytes_received', type: 'bigint', unsigned: true, default: 0, transformer: { to: (v: number) => v, from: (v: string | number) => Number(v) } })
  bytesReceived!: number;

  @Field(() => Date)
  @CreateDateColumn({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;

  @Field(() => Date, { nullable: true, description: 'When a worker began importing the file.' })
  @Column({ name: 'started_at', type: 'datetime', precision: 3, nullable: true })
  startedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'When the upload reached COMPLETED or FAILED.' })
  @Column({ name: 'completed_at', type: 'datetime', precision: 3, nullable: true })
  completedAt!: Date | null;

  /** The whole file is staged; the import may run. */
  @Column({ name: 'received_at', type: 'datetime', precision: 3, nullable: true })
  receivedAt!: Date | null;

  @Column({ name: 'chunk_count', type: 'int', unsigned: true, default: 0 })
  chunkCount!: number;

  @Column({ name: 'chunks_done', type: 'int', unsigned: true, default: 0 })
  chunksDone!: number;

  @Column({ name: 'replace_conflicts', type: 'int', unsigned: true, default: 0 })
  replaceConflicts!: number;

  @Column({ name: 'seq_base', type: 'bigint', unsigned: true, nullable: true })
  seqBase!: string | null;

  @Column({ name: 'last_seq', type: 'bigint', unsigned: true, nullable: true })
  lastSeq!: string | null;

  @Column({ name: 'cleanup_from', type: 'bigint', unsigned: true, nullable: true })
  cleanupFrom!: string | null;

  @Column({ name: 'cleanup_to', type: 'bigint', unsigned: true, nullable: true })
  cleanupTo!: string | null;

  @Column({ type: 'boolean', default: false })
  settled!: boolean;

  @UpdateDateColumn({ name: 'updated_at', type: 'datetime', precision: 3 })
  updatedAt!: Date;
}

export const isFinished = (upload: { status: UploadStatus }) =>
  upload.status === UploadStatus.COMPLETED || upload.status === UploadStatus.FAILED;

/** What subscribers receive: the GraphQL fields of a CodeUpload. */
export type CodeUploadView = Pick<
  CodeUpload,
  | 'id' | 'listId' | 'fileName' | 'mode' | 'status' | 'linesRead' | 'codesAdded' | 'duplicatesSkipped' | 'invalidLines'
  | 'blankLines' | 'errors' | 'failureReason' | 'bytesReceived' | 'createdAt' | 'startedAt' | 'completedAt'
>;

export function viewOf(upload: CodeUpload): CodeUploadView {
  return {
    id: upload.id,
    listId: upload.listId,
    fileName: upload.fileName,
    mode: upload.mode,
    status: upload.status,
    linesRead: upload.linesRead,
    codesAdded: upload.codesAdded,
    duplicatesSkipped: upload.duplicatesSkipped,
    invalidLines: upload.invalidLines,
    blankLines: upload.blankLines,
    errors: upload.errors,
    failureReason: upload.failureReason,
    bytesReceived: upload.bytesReceived,
    createdAt: upload.createdAt,
    startedAt: upload.startedAt,
    completedAt: upload.completedAt,
  };
}
