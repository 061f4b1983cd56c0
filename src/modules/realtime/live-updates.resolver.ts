import { Arg, Authorized, ID, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import type { GraphQLContext } from '../graphql-context.js';
import { Allow } from '../auth/api-key-role.js';
import { Campaign } from '../campaigns/campaign.entity.js';
import { LiveUpdateHub } from './live-update-hub.js';
import { AvailabilityUpdate, LowStockAlert } from './live-update.types.js';

type Subscribe<Args = Record<string, never>> = SubscribeResolverData<unknown, Args, GraphQLContext>;

/** Live dashboards over graphql-ws. Each subscription is one stream of this process's LiveUpdateHub. */
@Resolver()
export class LiveUpdatesResolver {
  @Authorized(...Allow.READ_ALL)
  @Subscription(() => AvailabilityUpdate, {
    description: 'Stock of the given lists (every list when listIds is left out): at most one update per list every 250 ms; the last carries the final figures.',
    subscribe: ({ args, context }: Subscribe<{ listIds?: string[] | null }>) => context.app.get(LiveUpdateHub).watchAvailability(args.listIds),
  })
  couponListAvailability(
    @Root() update: AvailabilityUpdate,
    @Arg('listIds', () => [ID], { nullable: true }) _listIds: string[] | null,
  ): AvailabilityUpdate {
    return update;
  }

  @Authorized(...Allow.READ_ALL)
  @Subscription(() => LowStockAlert, {
    description: 'One alert each time a list reaches its warning limit; again only after it has risen above the limit.',
    subscribe: ({ context }: Subscribe) => context.app.get(LiveUpdateHub).watchLowStockAlerts(),
  })
  lowStockAlerts(@Root() alert: LowStockAlert): LowStockAlert {
    return alert;
  }

  @Authorized(...Allow.READ_ALL)
  @Subscription(() => Campaign, {
    description: 'A campaign was created or finished (by hand, or because its lists ran out or expired).',
    subscribe: ({ context }: Subscribe) => context.app.get(LiveUpdateHub).watchCampaignStatus(),
  })
  campaignStatusChanged(@Root() campaign: Campaign): Campaign {
    return campaign;
  }
}
