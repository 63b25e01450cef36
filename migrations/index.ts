import { InitialSchema1763700000000 } from './1763700000000-initial-schema';
import { CorpusVersions1763800000000 } from './1763800000000-corpus-versions';
import { QuantizedSearch1763900000000 } from './1763900000000-quantized-search';
import { ApiKeys1764000000000 } from './1764000000000-api-keys';
import { RowLevelSecurity1764100000000 } from './1764100000000-row-level-security';
import { SignedTenantClaims1764200000000 } from './1764200000000-signed-tenant-claims';
import { OneClaimVerification1764200000001 } from './1764200000001-one-claim-verification';
import { RetrievalCalibrations1764300000000 } from './1764300000000-retrieval-calibrations';
import { CitusDistribution1764900000000 } from './1764900000000-citus-distribution';
import { WeightedSearchTerms1765000000000 } from './1765000000000-weighted-search-terms';
import { CitusTenantClaims1765200000000 } from './1765200000000-citus-tenant-claims';
import { VectorIndexReady1765200000001 } from './1765200000001-vector-index-ready';
import { VectorIndexTail1765300000000 } from './1765300000000-vector-index-tail';
import { SearchSynonyms1765320000000 } from './1765320000000-search-synonyms';
import { InlineEmbeddings1765340000000 } from './1765340000000-inline-embeddings';
import { DropAclGin1765360000000 } from './1765360000000-drop-acl-gin';
import { DropSearchTsv1765360000001 } from './1765360000001-drop-search-tsv';
import { ChunkedWith1765380000000 } from './1765380000000-chunked-with';
import { ChunkStatisticsTargets1765400000000 } from './1765400000000-chunk-statistics-targets';
import { CalibrationMeasuredIndex1765420000000 } from './1765420000000-calibration-measured-index';
import { SearchTermsPlpgsql1765440000000 } from './1765440000000-search-terms-plpgsql';
import { VectorIndexReadyPlpgsql1765460000000 } from './1765460000000-vector-index-ready-plpgsql';
import { CalibrationOutcome1765480000000 } from './1765480000000-calibration-outcome';

/** Every migration, in order. Listed explicitly so the same list works from ts-jest, tsc output and the CLI. */
export const migrations = [
  InitialSchema1763700000000,
  CorpusVersions1763800000000,
  QuantizedSearch1763900000000,
  ApiKeys1764000000000,
  RowLevelSecurity1764100000000,
  SignedTenantClaims1764200000000,
  OneClaimVerification1764200000001,
  RetrievalCalibrations1764300000000,
  CitusDistribution1764900000000,
  WeightedSearchTerms1765000000000,
  CitusTenantClaims1765200000000,
  VectorIndexReady1765200000001,
  VectorIndexTail1765300000000,
  SearchSynonyms1765320000000,
  InlineEmbeddings1765340000000,
  DropAclGin1765360000000,
  DropSearchTsv1765360000001,
  ChunkedWith1765380000000,
  ChunkStatisticsTargets1765400000000,
  CalibrationMeasuredIndex1765420000000,
  SearchTermsPlpgsql1765440000000,
  VectorIndexReadyPlpgsql1765460000000,
  CalibrationOutcome1765480000000,
];
