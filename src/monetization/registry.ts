import { isAbsolute, resolve } from 'node:path';
import type { MonetizationEngineFactory } from './monetization';

export class UnknownEngineError extends Error {
  override readonly name = 'UnknownEngineError';
}

/**
 * Billing engines by name. The core knows engines only through this registry and the
 * `Monetization` interface; `monetization_impl` picks one by name or loads one from a module,
 * and when it is not set the first engine registered is the default.
 */
export class EngineRegistry {
  private readonly factories = new Map<string, MonetizationEngineFactory>();

  constructor(factories: readonly MonetizationEngineFactory[] = []) {
    for (const factory of factories) this.register(factory);
  }

  register(factory: MonetizationEngineFactory): void {
    if (this.factories.has(factory.name)) throw new Error(`billing engine "${factory.name}" is registered twice`);
    this.factories.set(factory.name, factory);
  }

  /** Every registered engine, in registration order. */
  all(): MonetizationEngineFactory[] {
    return [...this.factories.values()];
  }

  /** The registered names, sorted. */
  names(): string[] {
    return [...this.factories.keys()].sort();
  }

  /**
   * A registered name ("stripe"), or a module path ("./my-engine.js", absolute or relative to
   * `cwd`) whose default export (or `engine` export) is a MonetizationEngineFactory; undefined
   * (`monetization_impl` not set) is the first engine registered.
   */
  resolve(impl: string | undefined, cwd: string = process.cwd()): MonetizationEngineFactory {
    if (impl === undefined) {
      const first = this.factories.values().next();
      if (first.done) throw new UnknownEngineError('monetization_impl is not set and no billing engine is registered');
      return first.value;
    }
    const registered = this.factories.get(impl);
    if (registered) return registered;
    if (!looksLikePath(impl)) {
      throw new UnknownEngineError(
        `monetization_impl "${impl}" is not a registered billing engine (registered: ${this.names().join(', ')}) nor a module path`,
      );
    }
    const path = isAbsolute(impl) ? impl : resolve(cwd, impl);
    let loaded: unknown;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = require(path);
    } catch (error) {
      throw new UnknownEngineError(`monetization_impl "${impl}": cannot load ${path}: ${(error as Error).message}`);
    }
    const factory = pickFactory(loaded);
    if (!factory) {
      throw new UnknownEngineError(
        `monetization_impl "${impl}": ${path} exports no billing engine (expected a default or "engine" export with name, capabilities and create())`,
      );
    }
    return factory;
  }
}

function looksLikePath(impl: string): boolean {
  return impl.startsWith('.') || impl.startsWith('/') || impl.endsWith('.js');
}

function isFactory(value: unknown): value is MonetizationEngineFactory {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { name?: unknown }).name === 'string' &&
    typeof (value as { capabilities?: unknown }).capabilities === 'object' &&
    (value as { capabilities?: unknown }).capabilities !== null &&
    typeof (value as { create?: unknown }).create === 'function'
  );
}

function pickFactory(module: unknown): MonetizationEngineFactory | undefined {
  if (isFactory(module)) return module;
  if (typeof module !== 'object' || module === null) return undefined;
  const candidates = [(module as { default?: unknown }).default, (module as { engine?: unknown }).engine];
  return candidates.find(isFactory);
}
