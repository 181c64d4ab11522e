import { EngineOptionsError, type MonetizationEngineFactory, type TenantDirectory } from '../../src/monetization/monetization';
import { myFatoorahCapabilities, REGION_KEY } from './capabilities';
import { myFatoorahMigrations } from './migrations';
import { MyFatoorahMonetization } from './myfatoorah.monetization';
import { parseMyFatoorahOptions, regionProblem } from './myfatoorah.options';

/** The MyFatoorah billing engine, registered as `monetization_impl = "myfatoorah"`. */
export const myFatoorahEngine: MonetizationEngineFactory = {
  name: 'myfatoorah',
  capabilities: myFatoorahCapabilities,
  migrations: myFatoorahMigrations,
  create(options, dependencies) {
    const parsed = parseMyFatoorahOptions(options);
    const problems = tenantRegionProblems(dependencies.tenants);
    if (problems.length > 0) throw new EngineOptionsError(`invalid MyFatoorah settings: ${problems.join('; ')}`);
    return new MyFatoorahMonetization(parsed, dependencies);
  },
};

/** `tenant acme.com: monetization_info.myfatoorah_region: "mars" is not a MyFatoorah region (…)` per tenant whose region is not one. */
export function tenantRegionProblems(tenants: TenantDirectory): string[] {
  return (tenants.all?.() ?? []).flatMap((tenant) => {
    const region = tenant.secrets[REGION_KEY];
    const problem = region === undefined ? null : regionProblem(region);
    return problem ? [`tenant ${tenant.domain}: monetization_info.${REGION_KEY}: ${problem}`] : [];
  });
}

export default myFatoorahEngine;
