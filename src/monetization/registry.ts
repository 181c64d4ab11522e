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
  /** Every alias an engine declares (`MonetizationEngineFactory.aliases`), to its engine. */
  private readonly aliases = new Map<string, MonetizationEngineFactory>();

  constructor(factories: readonly MonetizationEngineFactory[] = []) {
    for (const factory of factories) this.register(factory);
  }

  register(factory: MonetizationEngineFactory): void {
    if (this.factories.has(factory.name)) throw new Error(`billing engine "${factory.name}" is registered twice`);
    for (const alias of [factory.name, ...(factory.aliases ?? [])]) {
      const holder = this.aliases.get(alias) ?? this.factories.get(alias);
      if (holder !== undefined) throw new Error(`"${alias}" of billing engine "${factory.name}" already names billing engine "${holder.name}"`);
    }
    this.factories.set(factory.name, factory);
    for (const alias of factory.aliases ?? []) this.aliases.set(alias, factory);
  }

  /** Every registered engine, in registration order. */
  all(): MonetizationEngineFactory[] {
    return [...this.factories.values()];
  }

  /** The registered names, sorted. */
  names(): string[] {
    return [...this.factories.keys()].sort();
  }

  /** The registered names with the aliases each declares, for messages: `stripe (also org.wso2...Impl)`. */
  private described(): string {
    return this.names()
      .map((name) => {
        const aliases = this.factories.get(name)?.aliases ?? [];
        return aliases.length === 0 ? name : `${name} (also ${aliases.join(', ')})`;
      })
      .join(', ');
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
    const registered = this.factories.get(impl) ?? this.aliases.get(impl);
    if (registered) return registered;
    if (looksLikeJavaClass(impl)) {
      // A WSO2 plugin's class no engine declares (a MyFatoorah or in-house Monetization
      // implementation): Java cannot run here, and guessing an engine would bill the wrong way.
      throw new UnknownEngineError(
        `monetization_impl "${impl}" is the Java class of a WSO2 monetization plugin that no Meterline billing engine replaces (registered: ${this.described()}); name one of them, or a module path`,
      );
    }
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

/** `org.wso2.apim.monetization.impl.StripeMonetizationImpl`: dotted Java identifiers, the last a class. */
function looksLikeJavaClass(impl: string): boolean {
  return /^([a-z_$][\w$]*\.)+[A-Z][\w$]*$/.test(impl);
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
