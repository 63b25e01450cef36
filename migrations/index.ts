import { InitialSchema1763700000000 } from './1763700000000-initial-schema';

/** Every migration, in order. Listed explicitly so the same list works from ts-jest, tsc output and the CLI. */
export const migrations = [InitialSchema1763700000000];
