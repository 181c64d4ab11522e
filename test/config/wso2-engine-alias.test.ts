import { stripeEngine } from '../../plugins/stripe';
import { builtInEngines } from '../../plugins';
import { freeEngine } from '../../src/monetization/free-engine';
import { EngineRegistry, UnknownEngineError } from '../../src/monetization/registry';

/** `[apim.monetization] monetization_impl` as a WSO2 deployment.toml writes it. */
describe('monetization_impl: WSO2 implementation classes', () => {
  const registry = new EngineRegistry(builtInEngines);

  it("WSO2's Stripe plugin class selects the stripe engine, which declares it", () => {
    expect(registry.resolve('org.wso2.apim.monetization.impl.StripeMonetizationImpl')).toBe(stripeEngine);
    expect(stripeEngine.aliases).toContain('org.wso2.apim.monetization.impl.StripeMonetizationImpl');
  });

  it('another Java class is refused, naming the key and listing the engines (with the classes they replace)', () => {
    const impl = 'com.myfatoorah.apim.monetization.MyFatoorahMonetizationImpl';
    expect(() => registry.resolve(impl)).toThrow(UnknownEngineError);
    expect(() => registry.resolve(impl)).toThrow(
      /^monetization_impl "com\.myfatoorah\.apim\.monetization\.MyFatoorahMonetizationImpl" is the Java class of a WSO2 monetization plugin .*\(registered: free, http-integration, myfatoorah, stripe \(also org\.wso2\.apim\.monetization\.impl\.StripeMonetizationImpl\)\)/,
    );
  });

  it('an alias may not name a second engine', () => {
    const impostor = { ...freeEngine, name: 'impostor', aliases: ['org.wso2.apim.monetization.impl.StripeMonetizationImpl'] };
    expect(() => new EngineRegistry([stripeEngine, impostor])).toThrow(/already names billing engine "stripe"/);
    expect(() => new EngineRegistry([freeEngine, { ...freeEngine, name: 'other', aliases: ['free'] }])).toThrow(/already names billing engine "free"/);
  });
});
