import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runCli } from '../helpers/cli';

/**
 * The commands the README and docs/ tell a newcomer to type must exist: every `npm run <script>`
 * is a script of package.json, the CLI is run the one way that works from a clone, and the
 * README's CLI table lists exactly the commands `meterline help` knows.
 */
const documents = ['README.md', ...readdirSync(join(REPO_ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];
const text = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
const scripts = Object.keys((JSON.parse(text('package.json')) as { scripts: Record<string, string> }).scripts);

describe.each(documents)('%s', (path) => {
  it('names only npm scripts that package.json has', () => {
    const named = [...text(path).matchAll(/npm run (?:--silent |-s )?([a-z][\w:-]*)/g)].map((match) => match[1]!);
    expect(named.filter((name) => !scripts.includes(name))).toEqual([]);
  });

  it('never says npx meterline (npm does not link a package\'s own bin in its clone)', () => {
    expect(text(path)).not.toMatch(/npx meterline/);
  });
});

it('the README lists every CLI command that `meterline help` shows, and no other', async () => {
  const help = await runCli(['help']);
  expect(help.code).toBe(0);
  const commandsSection = help.stdout.split(/\n\s*\n/).find((block) => block.startsWith('Commands:'))!;
  const fromHelp = [...commandsSection.matchAll(/^ {2}([a-z-]+(?: --down)?)/gm)].map((match) => match[1]!).sort();
  const readme = text('README.md');
  const table = readme.slice(readme.indexOf('## The `meterline` CLI'), readme.indexOf('## Configuration'));
  const fromReadme = [...table.matchAll(/^\| `meterline ([a-z-]+(?: --down)?)/gm)].map((match) => match[1]!).sort();
  expect(fromHelp.length).toBeGreaterThan(4);
  expect(fromReadme).toEqual(fromHelp);
});
