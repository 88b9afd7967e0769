import { Module } from '@nestjs/common';

// Placeholder until the auth issue lands.
@Module({})
export class AuthModule {}
