import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { checkSpecs, defaultSpecsDir, writeSpecs } from '../../contract/generate.ts';

const shown = (dir: string) => relative(process.cwd(), dir) || '.';

/** `querstrom specs generate|check`: keeps firmware-specs/ in step with the zod schemas. */
export function registerSpecsCommand(program: Command): void {
  const specs = program.command('specs').description('published gateway contract in firmware-specs/ (JSON Schema, AsyncAPI, examples)');

  specs
    .command('generate')
    .description('regenerate JSON Schemas, asyncapi.json, examples and the tables in GATEWAY-SPEC.md from the zod schemas')
    .option('-d, --dir <dir>', 'target directory', defaultSpecsDir)
    .action(function (this: Command, opts: { dir: string }) {
      let changed: string[];
      try {
        changed = writeSpecs(opts.dir);
      } catch (err) {
        this.error(`specs generate failed: ${(err as Error).message}`, { exitCode: 1, code: 'querstrom.specs.failed' });
      }
      const out = this.configureOutput().writeOut ?? ((s: string) => process.stdout.write(s));
      out(changed.length ? `updated ${changed.length} file(s) in ${shown(opts.dir)}:\n${changed.map((f) => `  ${f}\n`).join('')}` : `${shown(opts.dir)} is up to date\n`);
    });

  specs
    .command('check')
    .description('exit 1 if any generated file in firmware-specs/ is stale or missing')
    .option('-d, --dir <dir>', 'directory to check', defaultSpecsDir)
    .action(function (this: Command, opts: { dir: string }) {
      const stale = checkSpecs(opts.dir);
      if (stale.length) {
        const lines = stale.map((f) => `  ${f} (${existsSync(join(opts.dir, f)) ? 'out of date or not generated' : 'missing'})`);
        this.error(`${stale.length} file(s) in ${shown(opts.dir)} do not match the zod schemas:\n${lines.join('\n')}\nrun \`npm run specs\` (querstrom specs generate) and commit the result`, {
          exitCode: 1,
          code: 'querstrom.specs.stale',
        });
      }
      const out = this.configureOutput().writeOut ?? ((s: string) => process.stdout.write(s));
      out(`${shown(opts.dir)} matches the zod schemas\n`);
    });
}
