import { Field, ID, InputType } from 'type-graphql';

@InputType()
export class ClaimCouponInput {
  @Field(() => ID)
  campaignId!: string;

  @Field({ description: "Your user's id (1-191 characters, compared exactly)." })
  userId!: string;

  @Field(() => String, { nullable: true, description: 'Your own reference for the user (1-191 characters), kept with the assignment.' })
  externalId?: string | null;

  @Field(() => ID, {
    nullable: true,
    description: "Which of the campaign's lists (a Spin to Win slice); default: its first list that can still hand out a code.",
  })
  listId?: string | null;
}
