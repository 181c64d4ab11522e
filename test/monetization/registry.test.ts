import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeEngine } from '../../src/monetization/free-engine';
import { EngineRegistry, UnknownEngineError } from '../../src/monetization/registry';

function moduleFile(source: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'meterline-engine-'));
  const path = join(dir, 'engine.js');
  writeFileSync(path, source);
  return path;
}

describe('the billing-engine registry', () => {
  it('finds a registered engine by name', () => {
    expect(new EngineRegistry([freeEngine]).resolve('free')).toBe(freeEngine);
  });

  it('refuses to register two engines under one name', () => {
    expect(() => new EngineRegistry([freeEngine, freeEngine])).toThrow(/registered twice/);
  });

  it('names the registered engines when asked for an unknown one', () => {
    expect(() => new EngineRegistry([freeEngine]).resolve('paypal')).toThrow(
      new UnknownEngineError('monetization_impl "paypal" is not a registered billing engine (registered: free) nor a module path'),
    );
  });

  it('takes the first engine registered when monetization_impl is not set', () => {
    const other = { ...freeEngine, name: 'other' };
    expect(new EngineRegistry([other, freeEngine]).resolve(undefined)).toBe(other);
    expect(() => new EngineRegistry().resolve(undefined)).toThrow(/no billing engine is registered/);
  });

  it('loads an engine from a module path (default export)', () => {
    const path = moduleFile("exports.default = { name: 'custom', capabilities: {}, create: () => ({ name: 'custom' }) };");
    expect(new EngineRegistry().resolve(path).name).toBe('custom');
  });

  it('loads an engine from a path relative to the working directory ("engine" export)', () => {
    const path = moduleFile("exports.engine = { name: 'relative', capabilities: {}, create: () => ({}) };");
    const dir = join(path, '..');
    expect(new EngineRegistry().resolve('./engine.js', dir).name).toBe('relative');
  });

  it('says what a module exports when it is not an engine', () => {
    const path = moduleFile('exports.something = 1;');
    expect(() => new EngineRegistry().resolve(path)).toThrow(/exports no billing engine/);
    const withoutCapabilities = moduleFile("exports.default = { name: 'old', create: () => ({}) };");
    expect(() => new EngineRegistry().resolve(withoutCapabilities)).toThrow(/with name, capabilities and create\(\)/);
  });

  it('says why a module path cannot be loaded', () => {
    expect(() => new EngineRegistry().resolve('/nonexistent/engine.js')).toThrow(/cannot load \/nonexistent\/engine\.js/);
  });
});
