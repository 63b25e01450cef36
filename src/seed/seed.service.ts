import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { type DataSource } from 'typeorm';
import { type IngestionService } from '../ingestion/ingestion.service';
import { type MerchantService } from '../merchants/merchant.service';
import { type OrderService, type UpsertOrderCommand } from '../orders/order.service';
import { type TicketAuthor, type TicketStatus } from '../tickets/ticket-status';
import { projectRoot } from '../common/project-root';
import { parseFrontMatter } from './front-matter';

export const DEFAULT_SEED_DIR = path.join(projectRoot(), 'seeds');

interface SeedTicket {
  id: string;
  customerId: string;
  subject: string;
  status: TicketStatus;
  acl: string[];
  metadata?: Record<string, unknown>;
  messages: { author: TicketAuthor; body: string; sentAt?: string }[];
}

export interface SeedSummary {
  merchants: number;
  documents: number;
  tickets: number;
  orders: number;
  chunks: number;
}

function readYaml<T>(file: string, fallback: T): T {
  return fs.existsSync(file) ? ((YAML.parse(fs.readFileSync(file, 'utf8')) as T) ?? fallback) : fallback;
}

export async function isDatabaseEmpty(dataSource: DataSource): Promise<boolean> {
  const rows: { empty: boolean }[] = await dataSource.query(
    `SELECT NOT EXISTS (SELECT 1 FROM merchants) AS empty`,
  );
  return rows[0].empty;
}

/**
 * Loads `seeds/<merchant>/`: merchant.yaml, documents/*.md (front matter: id, title, acl, metadata),
 * tickets.yaml and orders.yaml. Idempotent: every write is an upsert through the same services the API uses.
 */
/** What seeding writes through, passed explicitly (the gateway and the seed command pass their services). */
export interface SeedTargets {
  merchants: Pick<MerchantService, 'provision'>;
  ingestion: Pick<IngestionService, 'writeDocument' | 'writeTicket'>;
  orders: Pick<OrderService, 'write'>;
}

export async function seedDemoData(services: SeedTargets, dir = DEFAULT_SEED_DIR): Promise<SeedSummary> {
  const summary: SeedSummary = { merchants: 0, documents: 0, tickets: 0, orders: 0, chunks: 0 };
  const merchantDirs = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => path.join(dir, d.name))
    .sort();
  for (const mdir of merchantDirs) {
    const merchant = readYaml<{ id: string; name: string } | null>(path.join(mdir, 'merchant.yaml'), null);
    if (!merchant) continue;
    await services.merchants.provision(merchant);
    summary.merchants++;

    const docDir = path.join(mdir, 'documents');
    const files = fs.existsSync(docDir)
      ? fs
          .readdirSync(docDir)
          .filter((f) => /\.(md|txt)$/.test(f))
          .sort()
      : [];
    for (const file of files) {
      const source = path.join(docDir, file);
      const { attributes, body } = parseFrontMatter(fs.readFileSync(source, 'utf8'), { file: source });
      const result = await services.ingestion.writeDocument(merchant.id, {
        id: typeof attributes.id === 'string' ? attributes.id : path.parse(file).name,
        title: typeof attributes.title === 'string' ? attributes.title : path.parse(file).name,
        text: body,
        acl: attributes.acl ?? [],
        metadata: attributes.metadata ?? {},
      });
      summary.documents++;
      summary.chunks += result.chunkCount;
    }

    for (const t of readYaml<SeedTicket[]>(path.join(mdir, 'tickets.yaml'), [])) {
      const result = await services.ingestion.writeTicket(merchant.id, {
        ...t,
        messages: t.messages.map((msg) => ({ ...msg, sentAt: msg.sentAt ? new Date(msg.sentAt) : null })),
      });
      summary.tickets++;
      summary.chunks += result.chunkCount;
    }

    const orders = readYaml<(Omit<UpsertOrderCommand, 'placedAt'> & { placedAt: string })[]>(
      path.join(mdir, 'orders.yaml'),
      [],
    );
    for (const o of orders)
      await services.orders.write(merchant.id, { ...o, placedAt: new Date(o.placedAt) });
    summary.orders += orders.length;
  }
  return summary;
}
