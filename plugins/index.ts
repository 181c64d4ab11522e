import { freeEngine } from '../src/monetization/free-engine';
import type { MonetizationEngineFactory } from '../src/monetization/monetization';
import { httpIntegrationEngine } from './http-integration';
import { myFatoorahEngine } from './myfatoorah';
import { stripeEngine } from './stripe';

/** The billing engines that ship with Meterline, registered by name; the first is the default. */
export const builtInEngines: readonly MonetizationEngineFactory[] = [stripeEngine, freeEngine, myFatoorahEngine, httpIntegrationEngine];
