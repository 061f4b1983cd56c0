import type { AppContext } from '../../app-context.js';
import { CouponListService } from '../lists/coupon-list.service.js';
import { DeliveryService } from './delivery.service.js';
import { ListDeliveryService } from './list-delivery.service.js';
import { TransactionalMessageService } from './transactional-message.service.js';
import { UserProfileService } from './user-profile.service.js';

/**
 * The delivery module's services of one process, each given what it uses: built once, on first
 * `app.get(DeliveryServices)` (the module's hooks and its resolvers).
 */
export class DeliveryServices {
  readonly messages: TransactionalMessageService;
  readonly listDelivery: ListDeliveryService;
  readonly profiles: UserProfileService;
  readonly deliveries: DeliveryService;

  constructor(app: AppContext) {
    this.messages = new TransactionalMessageService(app);
    this.listDelivery = new ListDeliveryService(app, this.messages, app.get(CouponListService));
    this.profiles = new UserProfileService(app);
    this.deliveries = new DeliveryService(app, this.listDelivery, this.profiles);
  }
}
