import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { runCli, startServeCli } from '../helpers/cli';

/** `meterline token`: tokens signed with the configured key, accepted by the REST API. */
const dir = mkdtempSync(join(tmpdir(), 'meterline-token-'));

function configFile(name: string, jwtSection: string, extra = ''): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `[database.apim_db]\nfilename = "${join(dir, `${name}.db`)}"\n[logging]\nlevel = "info"\n${jwtSection}\n[[tenants]]\ndomain = "acme.com"\nid = 7\n${extra}`,
  );
  return path;
}

const HS_SECRET = 'cli-test-secret-0123456789abcdef';
const hsConfig = configFile('hs.toml', `[auth.jwt]\nsecret = "${HS_SECRET}"\nissuer = "https://idp.example"\naudience = "meterline-api"`);

describe('meterline token', () => {
  it('mints an HS256 token with the tenant claim, the scopes, the issuer, audience and expiry', async () => {
    const result = await runCli(['token', '--config', hsConfig, '--tenant', 'acme.com', '--sub', 'sam', '--scope', 'apim:subscribe apim:sub_manage', '--email', 'sam@acme.com', '--expires-in', '600']);
    expect(result.stderr).toBe(`meterline: config ${hsConfig}\n`); // the first line of every command; the token alone is on stdout
    expect(result.code).toBe(0);
    const token = result.stdout.trim();
    const claims = jwt.verify(token, HS_SECRET, { algorithms: ['HS256'], issuer: 'https://idp.example', audience: 'meterline-api' }) as jwt.JwtPayload;
    expect(claims).toMatchObject({ sub: 'sam', tenant_domain: 'acme.com', scope: 'apim:subscribe apim:sub_manage', email: 'sam@acme.com' });
    expect(claims.exp! - claims.iat!).toBe(600);
  });

  it('leaves the tenant claim out for the super tenant (absent means carbon.super)', async () => {
    const result = await runCli(['token', '--config', hsConfig, '--sub', 'root', '--scope', 'apim:admin']);
    expect(result.code).toBe(0);
    const claims = jwt.decode(result.stdout.trim()) as jwt.JwtPayload;
    expect(claims.sub).toBe('root');
    expect(claims).not.toHaveProperty('tenant_domain');
    expect(claims.exp! - claims.iat!).toBe(3600);
  });

  it('mints RS256 tokens with private_key_file that verify with the public key', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const publicPath = join(dir, 'public.pem');
    const privatePath = join(dir, 'private.pem');
    writeFileSync(publicPath, publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const rsConfig = configFile('rs.toml', `[auth.jwt]\nalgorithm = "RS256"\npublic_key_file = "${publicPath}"\nprivate_key_file = "${privatePath}"`);
    const result = await runCli(['token', '--config', rsConfig, '--sub', 'pat', '--scope', 'apim:api_view']);
    expect(result.code).toBe(0);
    const token = result.stdout.trim();
    expect(jwt.decode(token, { complete: true })?.header.alg).toBe('RS256');
    expect(jwt.verify(token, publicKey.export({ type: 'spki', format: 'pem' }), { algorithms: ['RS256'] })).toMatchObject({ sub: 'pat' });
  });

  it.each([
    [['--scope', 'apim:admin'], /token needs --sub/],
    [['--sub', 'x'], /token needs --scope/],
    [['--sub', 'x', '--scope', 'a', '--tenant', 'nowhere.example'], /--tenant nowhere\.example is not a configured tenant/],
    [['--sub', 'x', '--scope', 'a', '--expires-in', 'soon'], /--expires-in must be a whole number of seconds/],
  ])('refuses %j with exit code 2', async (args, message) => {
    const result = await runCli(['token', '--config', hsConfig, ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('refuses without [auth.jwt], and RS256 without private_key_file', async () => {
    const none = await runCli(['token', '--config', configFile('none.toml', ''), '--sub', 'x', '--scope', 'a']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/token needs \[auth\.jwt\]/);
    const publicOnly = configFile('rs-public.toml', `[auth.jwt]\nalgorithm = "RS256"\npublic_key_file = "${join(dir, 'public.pem')}"`);
    const rs = await runCli(['token', '--config', publicOnly, '--sub', 'x', '--scope', 'a']);
    expect(rs.code).toBe(2);
    expect(rs.stderr).toMatch(/needs \[auth\.jwt\] private_key_file/);
  });

  it('token flags are refused on other commands', async () => {
    const result = await runCli(['migrate', '--config', hsConfig, '--sub', 'x']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--sub goes with "token"/);
  });

  it('a minted token is accepted by `meterline serve`, and its tenant is the token\'s', async () => {
    const serving = await startServeCli(['--config', hsConfig, '--port', '0']);
    try {
      const minted = await runCli(['token', '--config', hsConfig, '--tenant', 'acme.com', '--sub', 'sam', '--scope', 'apim:subscribe']);
      const headers = { authorization: `Bearer ${minted.stdout.trim()}`, 'content-type': 'application/json' };
      const created = await fetch(`${serving.url}/api/am/devportal/v3/applications`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'cli-app', throttlingPolicy: 'Unlimited' }),
      });
      expect(created.status).toBe(201);
      const listed = await fetch(`${serving.url}/api/am/devportal/v3/applications`, { headers });
      expect(((await listed.json()) as { list: Array<{ name: string }> }).list.map((a) => a.name)).toEqual(['cli-app']);
      const superToken = await runCli(['token', '--config', hsConfig, '--sub', 'sam', '--scope', 'apim:subscribe']);
      const otherTenant = await fetch(`${serving.url}/api/am/devportal/v3/applications`, { headers: { authorization: `Bearer ${superToken.stdout.trim()}` } });
      expect(((await otherTenant.json()) as { count: number }).count).toBe(0);
    } finally {
      expect(await serving.stop()).toBe(0);
    }
  });
});
