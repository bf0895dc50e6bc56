import type { Command } from 'commander';
import { roles, type Role } from '../../identity/index.ts';
import { DEFAULT_DATA_DIR, DEFAULT_TENANT, fail, openRegistry } from './common.ts';

export function registerTokenCommand(program: Command): void {
  const token = program.command('token').description('API bearer tokens per municipality and role');

  token
    .command('add')
    .description('create a token; it is printed once and stored hashed')
    .option('--tenant <tenant>', 'municipality', DEFAULT_TENANT)
    .option('--role <role>', `one of ${roles.join(', ')}`, 'read')
    .option('--label <label>', 'what the token is for')
    .option('--data-dir <dir>', 'server data directory', DEFAULT_DATA_DIR)
    .action(async (o: { tenant: string; role: string; label?: string; dataDir: string }) => {
      if (!(roles as readonly string[]).includes(o.role)) fail(`unknown --role "${o.role}"; one of ${roles.join(', ')}`);
      const registry = await openRegistry(o.dataDir);
      const t = await registry.addToken(o.tenant, o.role as Role, o.label).catch((err: Error) => fail(err.message));
      process.stdout.write(`${t.token}\n`);
      process.stderr.write(`token ${t.id} (${o.role}) for ${o.tenant} created\n`);
    });

  token
    .command('list')
    .option('--tenant <tenant>', 'only this municipality')
    .option('--data-dir <dir>', 'server data directory', DEFAULT_DATA_DIR)
    .action(async (o: { tenant?: string; dataDir: string }) => {
      const registry = await openRegistry(o.dataDir);
      for (const t of registry.listTokens(o.tenant)) {
        process.stdout.write(`${t.id}\t${t.tenant}\t${t.role}\t${t.revokedAt ? 'revoked' : 'active'}\t${t.label ?? ''}\n`);
      }
    });

  token
    .command('revoke <id>')
    .option('--data-dir <dir>', 'server data directory', DEFAULT_DATA_DIR)
    .action(async (id: string, o: { dataDir: string }) => {
      const registry = await openRegistry(o.dataDir);
      if (!(await registry.revokeToken(id))) fail(`no active token ${id}`);
      process.stdout.write(`token ${id} revoked\n`);
    });
}
