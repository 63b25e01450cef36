import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../common/project-root';
import { buildGatewaySchema, printGatewaySchema } from '../graphql/schema';

/** Regenerates schema.graphql from the code-first schema; test/schema.test.ts fails when it is stale. */
async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(`Usage: npm run schema:print

Writes schema.graphql from the code-first schema (type-graphql). Reads no configuration and no database.
Run it after changing a resolver, input or object type, and commit the result: a test fails when it is stale.`);
    return;
  }
  const schema = await buildGatewaySchema(new Map());
  const file = path.join(projectRoot(), 'schema.graphql');
  fs.writeFileSync(file, printGatewaySchema(schema));
  console.log(`wrote ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
