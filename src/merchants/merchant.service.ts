import { assertSourceId, assertText } from '../common/validation';
import { type CorpusVersionRepository } from '../corpus/corpus-version.repository';
import { type Db } from '../db/session';
import { type Embedder } from '../embeddings/embedder';
import { type MerchantRepository } from './merchant.repository';

/**
 * Provisioning (seed, loader, admin tools): a merchant row and its first corpus version, in one transaction. An
 * admin job: runs as the owner (requests never create merchants).
 */
export class MerchantService {
  constructor(
    private readonly admin: Db,
    private readonly merchants: MerchantRepository,
    private readonly corpus: CorpusVersionRepository,
    private readonly defaultEmbedder: Embedder,
  ) {}

  async provision(merchant: { id: string; name: string }): Promise<void> {
    const id = assertSourceId('merchant id', merchant.id);
    const name = assertText('merchant name', merchant.name, 200).trim();
    await this.admin.transaction(async (m) => {
      await this.merchants.upsert(m, { id, name });
      await this.corpus.ensureInitial(m, id, this.defaultEmbedder.model, this.defaultEmbedder.dimensions);
    });
  }

  async exists(merchantId: string): Promise<boolean> {
    return this.admin.transaction((m) => this.merchants.exists(m, merchantId));
  }
}
