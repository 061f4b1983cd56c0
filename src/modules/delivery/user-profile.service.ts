import type { AppContext } from '../../app-context.js';
import { BadUserInputError } from '../../common/errors.js';
import type { NewAssignment } from '../claims/claim.events.js';
import type { UserProfileInput } from './delivery.inputs.js';
import { formatExpiry } from './message-template.js';
import { UserProfile } from './user-profile.entity.js';

const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The claim engine's rules for a user id: compared byte for byte as given (no trimming). */
export function requireUserId(field: string, value: string): string {
  if (typeof value !== 'string' || value.trim().length === 0) throw new BadUserInputError(field, 'must not be empty');
  if ([...value].length > 191) throw new BadUserInputError(field, 'must be at most 191 characters');
  if (LONE_SURROGATE.test(value)) throw new BadUserInputError(field, 'is not valid Unicode text');
  return value;
}

function optionalText(field: string, value: string | null | undefined, maxLength: number): string | null | undefined {
  if (value == null) return value;
  const trimmed = value.trim();
  if (!trimmed) throw new BadUserInputError(field, 'must not be empty; pass null to remove it');
  if ([...trimmed].length > maxLength) throw new BadUserInputError(field, `must be at most ${maxLength} characters`);
  if (CONTROL.test(trimmed)) throw new BadUserInputError(field, 'must not contain control characters');
  return trimmed;
}

/** International format, separators allowed: +49 151 1234-5678. Kept as written; the gateway gets it as is. */
function phoneNumber(value: string | null | undefined): string | null | undefined {
  const phone = optionalText('input.phoneNumber', value, 32);
  if (phone == null) return phone;
  const digits = phone.replace(/\D/g, '').length;
  if (!/^\+?[0-9][0-9 ().\/-]*$/.test(phone) || digits < 6 || digits > 15) {
    throw new BadUserInputError('input.phoneNumber', `${JSON.stringify(value)} is not a phone number; expected 6 to 15 digits like +4915112345678`);
  }
  return phone;
}

/** User profiles: where to reach a user, and the attributes set from their newest coupon. */
export class UserProfileService {
  constructor(private readonly app: AppContext) {}

  find(userId: string): Promise<UserProfile | null> {
    return this.app.dataSource.getRepository(UserProfile).findOne({ where: { userId } });
  }

  /** upsertUserProfile: creates the profile or changes the fields given (null removes one). */
  async upsert(input: UserProfileInput): Promise<UserProfile> {
    const userId = requireUserId('input.userId', input.userId);
    const values: Record<string, string | null | undefined> = {
      external_id: optionalText('input.externalId', input.externalId, 191),
      phone_number: phoneNumber(input.phoneNumber),
      push_token: optionalText('input.pushToken', input.pushToken, 1024),
    };
    const given = Object.entries(values).filter(([, value]) => value !== undefined) as Array<[string, string | null]>;
    await this.app.transaction(async (tx) => {
      const columns = ['user_id', ...given.map(([column]) => column), 'attributes'];
      const updates = given.length > 0 ? given.map(([column]) => `${column} = VALUES(${column})`).join(', ') : 'user_id = user_id';
      await tx.query(
        `INSERT INTO user_profiles (${columns.join(', ')}) VALUES (${columns.map((column) => (column === 'attributes' ? "'{}'" : '?')).join(', ')})
           ON DUPLICATE KEY UPDATE ${updates}`,
        [userId, ...given.map(([, value]) => value)],
      );
    });
    return (await this.find(userId))!;
  }

  /**
   * Sets `couponcode` and `expirydate` from new assignments, creating profiles as needed. The
   * newest assignment wins even when batches arrive out of order (UUIDv7 ids grow with time).
   */
  async recordAssignments(assignments: Array<Pick<NewAssignment, 'id' | 'userId' | 'externalId' | 'code' | 'expiresAt'>>): Promise<void> {
    if (assignments.length === 0) return;
    // Sorted rows lock in one order, so concurrent batches do not deadlock each other.
    const rows = [...assignments].sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : a.id < b.id ? -1 : 1));
    const params: unknown[] = [];
    for (const row of rows) {
      params.push(row.userId, row.externalId ?? null, JSON.stringify({ couponcode: row.code, expirydate: formatExpiry(row.expiresAt) }), row.id);
    }
    const newer = '(last_assignment_id IS NULL OR last_assignment_id < VALUES(last_assignment_id))';
    await this.app.transaction((tx) =>
      tx.query(
        `INSERT INTO user_profiles (user_id, external_id, attributes, last_assignment_id)
         VALUES ${rows.map(() => '(?, ?, ?, ?)').join(', ')}
         ON DUPLICATE KEY UPDATE
           external_id = COALESCE(external_id, VALUES(external_id)),
           attributes = IF(${newer}, JSON_MERGE_PATCH(attributes, VALUES(attributes)), attributes),
           last_assignment_id = IF(${newer}, VALUES(last_assignment_id), last_assignment_id)`,
        params,
      ),
    );
  }
}
