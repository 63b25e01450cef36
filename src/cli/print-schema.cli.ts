import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../common/project-root';
import { parseCommandLine, runCommand } from './command-line';

/** Regenerates schema.graphql from the code-first schema; test/schema.test.ts fails when it is stale. */
async function main(): Promise<void> {
  parseCommandLine(
    `Usage: npm run schema:print

Writes schema.graphql from the code-first schema (type-graphql). Reads no configuration and no database.
Run it after changing a resolver, input or object type, and commit the result: a test fails when it is stale.`,
    { options: {} },
  );
  await import('reflect-metadata');
  const { buildGatewaySchema, printGatewaySchema } = await import('../graphql/schema');
  const schema = await buildGatewaySchema(new Map());
  const file = path.join(projectRoot(), 'schema.graphql');
  fs.writeFileSync(file, printGatewaySchema(schema));
  console.log(`wrote ${file}`);
}

runCommand(main);
