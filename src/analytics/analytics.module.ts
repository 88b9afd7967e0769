import { Module } from '@nestjs/common';

// Placeholder until the analytics issue lands.
@Module({})
export class AnalyticsModule {}
