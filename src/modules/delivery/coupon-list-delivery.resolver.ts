import { Authorized, Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import type { AppContext } from '../../app-context.js';
import type { GraphQLContext } from '../graphql-context.js';
import { Allow } from '../auth/api-key-role.js';
import { CouponList } from '../lists/coupon-list.entity.js';
import { DeliverySettings } from './list-delivery-settings.entity.js';
import { DeliveryServices } from './delivery-services.js';
import { BatchLoader, requestLoader } from '../../common/request-loader.js';

@Resolver(() => CouponList)
export class CouponListDeliveryResolver {
  private readonly deliveryServices: DeliveryServices;

  constructor(app: AppContext) {
    this.deliveryServices = app.get(DeliveryServices);
  }

  @Authorized(...Allow.READ_ALL)
  @FieldResolver(() => DeliverySettings, { description: 'Which channels send new assignments from this list, and with which message.' })
  delivery(@Root() list: CouponList, @Ctx() context: GraphQLContext): Promise<DeliverySettings> {
    return requestLoader(
      context,
      'list-delivery',
      () =>
        new BatchLoader<string, DeliverySettings>(
          (listIds) => this.deliveryServices.listDelivery.settingsFor(listIds),
          () => Object.assign(new DeliverySettings(), { smsEnabled: false, pushEnabled: false, smsMessage: null, pushMessage: null }),
        ),
    ).load(String(list.id));
  }
}
