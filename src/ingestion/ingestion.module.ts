import { Module } from '@nestjs/common';

// Placeholder until the ingestion issue lands.
@Module({})
export class IngestionModule {}
