import { In } from 'typeorm';
import type { AppContext } from '../../app-context.js';
import { BadUserInputError, ChannelNotIntegratedError, NotFoundError } from '../../common/errors.js';
import { isRowId } from '../../common/ids.js';
import type { Tx } from '../../infra/db/transaction.js';
import type { CouponList } from '../lists/coupon-list.entity.js';
import type { CouponListService } from '../lists/coupon-list.service.js';
import type { DeliverySettingsInput } from './delivery.inputs.js';
import { DeliverySettings, ListDeliverySettings } from './list-delivery-settings.entity.js';
import { DeliveryChannel } from './transactional-message.entity.js';
import type { TransactionalMessageService } from './transactional-message.service.js';

export const GATEWAY_VARIABLE: Record<DeliveryChannel, 'SMS_WEBHOOK_URL' | 'PUSH_WEBHOOK_URL'> = {
  SMS: 'SMS_WEBHOOK_URL',
  PUSH: 'PUSH_WEBHOOK_URL',
};

const CHANNEL_FIELDS = {
  SMS: { enabled: 'smsEnabled', messageId: 'smsMessageId', enabledAt: 'smsEnabledAt' },
  PUSH: { enabled: 'pushEnabled', messageId: 'pushMessageId', enabledAt: 'pushEnabledAt' },
} as const;

/** The gateway URL of a channel, or undefined when the channel is not integrated. */
export function gatewayUrl(app: AppContext, channel: DeliveryChannel): string | undefined {
  return app.config[GATEWAY_VARIABLE[channel]];
}

function emptySettings(listId: string): ListDeliverySettings {
  const settings = new ListDeliverySettings();
  settings.listId = listId;
  settings.smsEnabled = false;
  settings.pushEnabled = false;
  settings.smsMessageId = null;
  settings.pushMessageId = null;
  settings.smsEnabledAt = null;
  settings.pushEnabledAt = null;
  return settings;
}

/** Per-list delivery settings: which channels send new assignments, with which message. */
export class ListDeliveryService {
  constructor(
    private readonly app: AppContext,
    private readonly messages: TransactionalMessageService,
    private readonly lists: CouponListService,
  ) {}

  /** Those of the lists with a delivery channel on. */
  async listsSending(listIds: string[]): Promise<string[]> {
    const ids = [...new Set(listIds)];
    if (ids.length === 0) return [];
    const rows: Array<{ list_id: string }> = await this.app.dataSource.query(
      'SELECT list_id FROM list_delivery_settings WHERE list_id IN (?) AND (sms_enabled = 1 OR push_enabled = 1)',
      [ids],
    );
    return rows.map((row) => String(row.list_id));
  }

  /** The raw settings rows of these lists (lists without a row are absent: both channels off). */
  async rowsFor(listIds: string[]): Promise<Map<string, ListDeliverySettings>> {
    const ids = [...new Set(listIds)];
    if (ids.length === 0) return new Map();
    const rows = await this.app.dataSource.getRepository(ListDeliverySettings).find({ where: { listId: In(ids) } });
    return new Map(rows.map((row) => [String(row.listId), row]));
  }

  /** CouponList.delivery for each list, with the messages. */
  async settingsFor(listIds: string[]): Promise<Map<string, DeliverySettings>> {
    const rows = await this.rowsFor(listIds);
    const messageIds = [...rows.values()].flatMap((row) => [row.smsMessageId, row.pushMessageId]).filter((id): id is string => id != null);
    const messages = await this.messages.byIds([...new Set(messageIds.map(String))]);
    const result = new Map<string, DeliverySettings>();
    for (const listId of listIds) {
      const row = rows.get(listId) ?? emptySettings(listId);
      const settings = new DeliverySettings();
      settings.smsEnabled = row.smsEnabled;
      settings.pushEnabled = row.pushEnabled;
      settings.smsMessage = row.smsMessageId ? messages.get(String(row.smsMessageId)) ?? null : null;
      settings.pushMessage = row.pushMessageId ? messages.get(String(row.pushMessageId)) ?? null : null;
      result.set(listId, settings);
    }
    return result;
  }

  /**
   * setListDelivery. Fields left out keep their value. Enabling a channel needs its gateway
   * (CHANNEL_NOT_INTEGRATED) and an active message of that channel (BAD_USER_INPUT). The
   * settings row and the chosen messages are locked, so a message cannot be deactivated while
   * a list is being switched on with it.
   */
  async set(listId: string, input: DeliverySettingsInput): Promise<CouponList> {
    for (const channel of [DeliveryChannel.SMS, DeliveryChannel.PUSH]) {
      const fields = CHANNEL_FIELDS[channel];
      if (input[fields.enabled] === true && !gatewayUrl(this.app, channel)) {
        throw new ChannelNotIntegratedError(channel, GATEWAY_VARIABLE[channel]);
      }
      const messageId = input[fields.messageId];
      if (messageId != null && !isRowId(messageId)) {
        throw new BadUserInputError(`input.${fields.messageId}`, `expected a transactional message id like "42", got ${JSON.stringify(messageId)}`);
      }
    }
    if (!(await this.lists.findById(listId))) throw new NotFoundError('Coupon list', listId);

    await this.app.transaction(async (tx) => {
      // Takes the row's write lock at once, whether the row is new or not.
      await tx.query('INSERT INTO list_delivery_settings (list_id) VALUES (?) ON DUPLICATE KEY UPDATE list_id = list_id', [listId]);
      const current = await tx.manager
        .getRepository(ListDeliverySettings)
        .findOne({ where: { listId }, lock: { mode: 'pessimistic_write' } });
      const settings = current ?? emptySettings(listId);
      // The database clock, as assignments' assigned_at: the sweep compares the two.
      const [{ now }]: Array<{ now: Date }> = await tx.query('SELECT UTC_TIMESTAMP(3) AS now');
      for (const channel of [DeliveryChannel.SMS, DeliveryChannel.PUSH]) {
        await this.applyChannel(tx, settings, channel, input, now);
      }
      await tx.manager.getRepository(ListDeliverySettings).save(settings);
    });
    return this.lists.getById(listId);
  }

  private async applyChannel(tx: Tx, settings: ListDeliverySettings, channel: DeliveryChannel, input: DeliverySettingsInput, now: Date): Promise<void> {
    const fields = CHANNEL_FIELDS[channel];
    const field = `input.${fields.messageId}`;
    const wasEnabled = settings[fields.enabled];
    const givenMessageId = input[fields.messageId];
    const messageId = givenMessageId !== undefined ? givenMessageId : settings[fields.messageId];
    const enabled = input[fields.enabled] ?? wasEnabled;

    let message: { id: string; channel: DeliveryChannel; active: number } | null = null;
    if (messageId != null) {
      // A shared lock (LOCK IN SHARE MODE: MariaDB has no FOR SHARE) against a concurrent deactivation.
      const rows: Array<{ id: string; channel: DeliveryChannel; active: number }> = await tx.query(
        'SELECT id, channel, active FROM transactional_messages WHERE id = ? LOCK IN SHARE MODE',
        [String(messageId)],
      );
      message = rows[0] ?? null;
      if (!message) throw new BadUserInputError(field, `there is no transactional message with id ${messageId}`);
      if (message.channel !== channel) {
        throw new BadUserInputError(field, `message ${messageId} is a ${message.channel} message; choose a ${channel} message`);
      }
    }
    if (enabled) {
      if (!message) throw new BadUserInputError(field, `choose an active ${channel} message to send ${channel} for this list`);
      if (!Number(message.active)) throw new BadUserInputError(field, `message ${message.id} is inactive; activate it or choose an active ${channel} message`);
    }
    settings[fields.messageId] = message ? String(message.id) : null;
    settings[fields.enabled] = enabled;
    if (enabled && !wasEnabled) settings[fields.enabledAt] = now;
  }
}
