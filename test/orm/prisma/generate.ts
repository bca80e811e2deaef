// Generates the Prisma client for test/orm/prisma.test.ts into test/orm/prisma/generated (git-ignored), offline.
// `npm run prisma:generate`; npm runs it before `npm test` and `npm run typecheck` (pretest, pretypecheck).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const schema = fileURLToPath(new URL('./schema.prisma', import.meta.url));
const cli = require.resolve('prisma/build/index.js');

// Before any command, Prisma's CLI downloads its native schema engine, which `generate` never runs
// (the client generator is TypeScript and WebAssembly). Naming an existing file as that engine
// skips the download, so generation works without network access beyond the npm registry.
const env = { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' };
const run = spawnSync(process.execPath, [cli, 'generate', '--schema', schema], { env, stdio: 'inherit' });
process.exit(run.status ?? 1);
