import { GraphQLUpload, type FileUpload } from 'graphql-upload-minimal';
import { Arg, Authorized, ID, Int, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { AppContext } from '../../app-context.js';
import type { GraphQLContext } from '../graphql-context.js';
import { pagedFieldCost } from '../../infra/graphql/limits.js';
import { Allow } from '../auth/api-key-role.js';
import { CodeUpload, UploadMode, type CodeUploadView } from './code-upload.entity.js';
import { CodeUploadService } from './code-upload.service.js';

@Resolver(() => CodeUpload)
export class CodeUploadResolver {
  private readonly codeUploadService: CodeUploadService;

  constructor(app: AppContext) {
    this.codeUploadService = app.get(CodeUploadService);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => CodeUpload, {
    description:
      'Uploads a .txt file of codes (one per line) to a UNIQUE list. Returns once the file is received; ' +
      'the import runs in the background: follow it with codeUploadProgress or codeUpload.',
  })
  uploadCouponCodes(
    @Arg('listId', () => ID) listId: string,
    @Arg('file', () => GraphQLUpload) file: Promise<FileUpload>,
    @Arg('mode', () => UploadMode, { nullable: true, defaultValue: UploadMode.APPEND }) mode: UploadMode | null,
  ): Promise<CodeUpload> {
    return this.codeUploadService.upload(listId, file, mode);
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => CodeUpload, { nullable: true })
  codeUpload(@Arg('id', () => ID) id: string): Promise<CodeUpload | null> {
    return this.codeUploadService.findById(id);
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => [CodeUpload], { description: "A list's uploads, newest first.", complexity: pagedFieldCost(50, 500) })
  codeUploads(
    @Arg('listId', () => ID) listId: string,
    @Arg('first', () => Int, { defaultValue: 50 }) first: number,
  ): Promise<CodeUpload[]> {
    return this.codeUploadService.listUploads(listId, first);
  }

  @Authorized(...Allow.READ_ALL)
  @Subscription(() => CodeUpload, {
    description: 'The upload now, at least once a second while it runs, and once when it ends (COMPLETED or FAILED).',
    subscribe: ({ args, context }) => (context as GraphQLContext).app.get(CodeUploadService).follow(String(args.uploadId)),
  })
  codeUploadProgress(@Root() upload: CodeUploadView, @Arg('uploadId', () => ID) _uploadId: string): CodeUploadView {
    return upload;
  }
}
