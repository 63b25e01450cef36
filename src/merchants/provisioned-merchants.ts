import { DomainError } from '../common/errors/domain-error';
import { ErrorCode } from '../common/errors/error-code';

/**
 * Refuses requests whose (validly signed) credential names a merchant this gateway has no data for: without it an
 * unprovisioned merchant's token reads empty lists and cannot tell a typo in its merchant id from an empty
 * knowledge base. Known merchants are remembered for a minute, so the check costs one owner-connection lookup per
 * merchant per minute; unknown ones are looked up every time (a merchant provisioned a moment ago works at once).
 */
export class ProvisionedMerchants {
  private readonly known = new Map<string, number>();

  constructor(
    private readonly exists: (merchantId: string) => Promise<boolean>,
    private readonly ttlMs = 60_000,
    private readonly maxEntries = 10_000,
  ) {}

  async assertProvisioned(merchantId: string): Promise<void> {
    const now = Date.now();
    const until = this.known.get(merchantId);
    if (until !== undefined && until > now) return;
    if (!(await this.exists(merchantId))) {
      this.known.delete(merchantId);
      throw new DomainError(
        ErrorCode.MERCHANT_NOT_PROVISIONED,
        `Merchant ${JSON.stringify(merchantId.slice(0, 128))} is not provisioned on this gateway: the credential is ` +
          'valid, but there is no data for its merchant. Check the merchant id, or provision it (npm run seed / ' +
          'npm run load, docs/OPERATIONS.md)',
      );
    }
    if (this.known.size >= this.maxEntries) this.known.clear();
    this.known.set(merchantId, now + this.ttlMs);
  }
}
