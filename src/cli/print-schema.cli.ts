import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../common/project-root';
import { buildGatewaySchema, printGatewaySchema } from '../graphql/schema';

/** Regenerates schema.graphql from the code-first schema; test/schema.test.ts fails when it is stale. */
async function main(): Promise<void> {
  const schema = await buildGatewaySchema(new Map());
  const file = path.join(projectRoot(), 'schema.graphql');
  fs.writeFileSync(file, printGatewaySchema(schema));
  console.log(`wrote ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
