import type { MonetizationEngineFactory } from '../../src/monetization/monetization';
import { myFatoorahCapabilities } from './capabilities';
import { myFatoorahMigrations } from './migrations';
import { MyFatoorahMonetization } from './myfatoorah.monetization';
import { parseMyFatoorahOptions } from './myfatoorah.options';

/** The MyFatoorah billing engine, registered as `monetization_impl = "myfatoorah"`. */
export const myFatoorahEngine: MonetizationEngineFactory = {
  name: 'myfatoorah',
  capabilities: myFatoorahCapabilities,
  migrations: myFatoorahMigrations,
  create(options, dependencies) {
    return new MyFatoorahMonetization(parseMyFatoorahOptions(options), dependencies);
  },
};

export default myFatoorahEngine;
