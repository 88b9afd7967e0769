import { Module } from '@nestjs/common';

// Placeholder until the processing issue lands.
@Module({})
export class ProcessingModule {}
