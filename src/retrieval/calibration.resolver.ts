import { Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { mayManageContent } from '../auth/permissions';
import { forbidden } from '../common/errors/domain-error';
import { type Config } from '../config/config';
import { type TenantSession } from '../db/session';
import { type GatewayContext, requireSession } from '../graphql/context';
import { type CalibrationService } from './calibration.service';
import { StaleReason } from './calibration.types';
import { RetrievalCalibration } from './dtos/retrieval-calibration.type';
import { budgetRetryAt } from './search-strategy';

/** The merchant's retrieval calibration, for its administrators (never for partners' API keys). */
@Resolver()
export class CalibrationResolver {
  constructor(
    private readonly calibration: CalibrationService,
    private readonly config: Config,
  ) {}

  @Query(() => RetrievalCalibration, {
    nullable: true,
    description:
      "The measured retrieval settings of the caller's merchant's active corpus version; null until measured. Administrators only.",
  })
  async retrievalCalibration(@Ctx() ctx: GatewayContext): Promise<RetrievalCalibration | null> {
    return this.calibration.currentFor(this.admin(ctx));
  }

  @Mutation(() => RetrievalCalibration, {
    description:
      "Measures the caller's merchant's retrieval now (recall of each approximate setting against exact answers) and stores the choice. Administrators only; takes the exact answers' time (the sample's exact scans) plus at most RETRIEVAL_CALIBRATION_BUDGET_MS of trials.",
  })
  async calibrateRetrieval(@Ctx() ctx: GatewayContext): Promise<RetrievalCalibration> {
    const merchantId = this.admin(ctx).scope.merchantId;
    const report = await this.calibration.calibrate(merchantId);
    // Out of date already when the index was rebuilt (or the version flipped) while it measured.
    const reason = await this.calibration.staleReasonOf(merchantId);
    const measuredAt = new Date();
    return {
      ...report,
      tookMs: Math.round(report.tookMs),
      measuredAt,
      retryAt: budgetRetryAt({ ...report, measuredAt }, this.config.retrieval.calibrationRetryMs),
      staleReason: reason === 'missing' ? StaleReason.VERSION_CHANGED : reason,
    };
  }

  private admin(ctx: GatewayContext): TenantSession {
    const session = requireSession(ctx);
    if (session.identity.credential?.kind === 'apiKey' || !mayManageContent(session.identity, this.config))
      throw forbidden('retrieval calibration is for administrators');
    return session;
  }
}
