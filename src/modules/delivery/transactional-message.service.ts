import { In } from 'typeorm';
import type { AppContext } from '../../app-context.js';
import { BadUserInputError, NotFoundError } from '../../common/errors.js';
import { isRowId } from '../../common/ids.js';
import { requireText } from '../../common/validation.js';
import type { CreateTransactionalMessageInput, UpdateTransactionalMessageInput } from './delivery.inputs.js';
import { DeliveryChannel, TransactionalMessage } from './transactional-message.entity.js';

/** Longest body per channel: 10 concatenated SMS segments; push payloads are kept well under 4 KB. */
export const MAX_BODY_LENGTH: Record<DeliveryChannel, number> = { SMS: 1600, PUSH: 2000 };

function requireBody(field: string, channel: DeliveryChannel, body: string): string {
  if (!body.trim()) throw new BadUserInputError(field, 'must not be empty');
  if ([...body].length > MAX_BODY_LENGTH[channel]) {
    throw new BadUserInputError(field, `must be at most ${MAX_BODY_LENGTH[channel]} characters for ${channel}`);
  }
  return body;
}

/** Transactional messages: the texts lists send by SMS and push. */
export class TransactionalMessageService {
  constructor(private readonly app: AppContext) {}

  list(channel?: DeliveryChannel | null): Promise<TransactionalMessage[]> {
    return this.app.dataSource.getRepository(TransactionalMessage).find({ where: channel ? { channel } : {}, order: { id: 'DESC' } });
  }

  async findById(id: string): Promise<TransactionalMessage | null> {
    if (!isRowId(id)) return null;
    return this.app.dataSource.getRepository(TransactionalMessage).findOne({ where: { id } });
  }

  async byIds(ids: string[]): Promise<Map<string, TransactionalMessage>> {
    const valid = ids.filter(isRowId);
    if (valid.length === 0) return new Map();
    const rows = await this.app.dataSource.getRepository(TransactionalMessage).find({ where: { id: In(valid) } });
    return new Map(rows.map((row) => [row.id, row]));
  }

  async create(input: CreateTransactionalMessageInput): Promise<TransactionalMessage> {
    const repository = this.app.dataSource.getRepository(TransactionalMessage);
    const message = repository.create({
      channel: input.channel,
      name: requireText('input.name', input.name, 200),
      body: requireBody('input.body', input.channel, input.body),
      active: input.active ?? true,
    });
    return repository.save(message);
  }

  /**
   * Edits name, body or active. Deactivating a message that a list sends with (its channel
   * enabled) is refused: the list would otherwise send nothing, or an inactive text. Both this
   * and setListDelivery lock the message row, so the check cannot race with enabling.
   */
  async update(id: string, input: UpdateTransactionalMessageInput): Promise<TransactionalMessage> {
    return this.app.transaction(async (tx) => {
      const repository = tx.manager.getRepository(TransactionalMessage);
      const message = isRowId(id) ? await repository.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } }) : null;
      if (!message) throw new NotFoundError('Transactional message', id);
      if (input.name != null) message.name = requireText('input.name', input.name, 200);
      if (input.body != null) message.body = requireBody('input.body', message.channel, input.body);
      if (input.active != null) {
        if (!input.active && message.active) {
          const column = message.channel === DeliveryChannel.SMS ? 'sms' : 'push';
          const users: Array<{ list_id: string }> = await tx.query(
            `SELECT list_id FROM list_delivery_settings WHERE ${column}_enabled = 1 AND ${column}_message_id = ? ORDER BY list_id LIMIT 10 LOCK IN SHARE MODE`,
            [message.id],
          );
          if (users.length > 0) {
            throw new BadUserInputError(
              'input.active',
              `message ${message.id} is sending ${message.channel} for coupon list${users.length > 1 ? 's' : ''} ${users.map((row) => row.list_id).join(', ')}; ` +
                `turn their ${message.channel} delivery off or choose another message first`,
            );
          }
        }
        message.active = input.active;
      }
      return repository.save(message);
    });
  }
}
