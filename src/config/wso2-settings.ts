/**
 * A WSO2 API-M 4.x `deployment.toml` is a valid Meterline configuration: the settings Meterline
 * shares with WSO2 (`[database.apim_db]`, `[apim.monetization]` and its additional attributes) are
 * read, and WSO2's other settings are set aside before validation and listed, once, as ignored.
 *
 * The rule, precisely: a key is WSO2's (ignored) when its path is listed below. A listed table is
 * ignored with everything in it. Everything else is Meterline's and validated strictly, so a
 * misspelt Meterline key still fails naming itself (`apim.monetization.monetisation_impl`,
 * `[apim.monetisation]`, `[database.apim]`), and so does a WSO2 setting missing from this list:
 * the list is WSO2 API-M 4.x's configuration catalog and default `deployment.toml`, and the
 * monetization and analytics guides, not a pattern, because a pattern would also swallow typos.
 */

/** Paths (dot-separated) of WSO2's own keys and tables, by the Meterline table they sit in. */
const WSO2_PATHS: readonly string[] = [
  // Top-level tables Meterline has no counterpart for.
  ...[
    'super_admin',
    'user_store',
    'keystore',
    'truststore',
    'transport',
    'oauth',
    'event_handler',
    'event_listener',
    'service_provider',
    'resource',
    'tenant_context',
    'tenant_mgt',
    'system_applications',
    'authentication',
    'authorization_manager',
    'realm_manager',
    'identity',
    'identity_mgt',
    'admin_console',
    'admin_service',
    'cache',
    'clustering',
    'hazelcast',
    'catalina',
    'indexing',
    'registry',
    'datasource',
    'secrets',
    'synapse_properties',
    'passthru_http',
    'custom_trust_store',
    'recaptcha',
    'output_adapter',
    'claim_mgt',
    'saml',
    'scim2',
    'mediation',
    'carbon_health_check',
  ],
  // [server]: WSO2 node identity; Meterline's [server] is host, port and trust_proxy.
  ...[
    'hostname',
    'node_ip',
    'offset',
    'mode',
    'base_path',
    'server_role',
    'discard_empty_caches',
    'force_local_cache',
    'disable_shutdown_from_ui',
    'disable_restart_from_ui',
    'enable_port_forward',
    'pattern',
    'proxy_context_path',
    'hide_menu_items',
  ].map((key) => `server.${key}`),
  // [database.*]: WSO2's other data sources; Meterline reads apim_db only.
  ...['shared_db', 'local', 'identity_db', 'user', 'config', 'reg', 'am_db'].map((name) => `database.${name}`),
  // [database.apim_db]: Java connection-pool settings, as a table or (as in the monetization
  // guide) flat; Meterline's pool is [database.apim_db.pool].
  ...[
    'pool_options',
    'validationQuery',
    'validationInterval',
    'defaultAutoCommit',
    'maxActive',
    'maxWait',
    'maxIdle',
    'minIdle',
    'testOnBorrow',
    'testWhileIdle',
    'timeBetweenEvictionRunsMillis',
    'minEvictableIdleTimeMillis',
    'commitOnReturn',
    'rollbackOnReturn',
  ].map((key) => `database.apim_db.${key}`),
  // [apim.*]: every API-M feature but monetization.
  ...[
    'analytics',
    'ai',
    'key_manager',
    'key_manager_config',
    'oauth_config',
    'devportal',
    'publisher',
    'admin',
    'cors',
    'throttling',
    'distributed_throttling',
    'cache',
    'cache_invalidation',
    'jwt',
    'token',
    'idp',
    'workflow',
    'sdk',
    'sync_runtime_artifacts',
    'event_hub',
    'gateway',
    'notification',
    'certificate',
    'governance',
    'open_telemetry',
    'tracing',
    'redis_config',
    'org_access_control',
    'organization_based_access_control',
    'api_quota_limit',
    'webhooks',
    'ws',
    'key_validation',
  ].map((table) => `apim.${table}`),
  // [apim.monetization]: how WSO2's Stripe plugin fetched usage from Choreo or Elasticsearch;
  // Meterline reads usage from its usage source ([apim.monetization.usage_publisher]).
  ...[
    'analytics_query_api_endpoint',
    'analytics_access_token',
    'choreo_insight_app_consumer_key',
    'choreo_insight_app_consumer_secret',
    'choreo_token_endpoint',
    'analytics_host',
    'analytics_port',
    'analytics_protocol',
    'analytics_username',
    'analytics_password',
    'analytics_index',
    'granularity',
    'publish_duration',
  ].map((key) => `apim.monetization.${key}`),
];

/** Keys WSO2 writes that Meterline checks (the schema reads them) but does not use: listed too. */
export const WSO2_CHECKED_ONLY: readonly string[] = ['database.apim_db.driver', 'database.apim_db.driverClassName'];

export interface SetAside {
  /** The document without WSO2's settings: what Meterline validates. */
  document: unknown;
  /** The paths set aside (and the checked-only ones present), in file order. */
  ignored: string[];
}

/** Removes WSO2's settings (`WSO2_PATHS`) from a parsed `deployment.toml`, listing what it removed. */
export function setAsideWso2Settings(document: unknown): SetAside {
  const ignored: string[] = [];
  const walk = (value: unknown, path: string): unknown => {
    if (!isTable(value)) return value;
    const kept: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const at = path === '' ? key : `${path}.${key}`;
      if (WSO2_PATHS.includes(at)) {
        ignored.push(at);
        continue;
      }
      if (WSO2_CHECKED_ONLY.includes(at)) ignored.push(at);
      kept[key] = WSO2_PATHS.some((listed) => listed.startsWith(`${at}.`)) ? walk(item, at) : item;
    }
    return kept;
  };
  return { document: walk(document, ''), ignored };
}

/** The one info line for the ignored settings, or undefined when there are none. */
export function describeIgnored(ignored: readonly string[]): string | undefined {
  if (ignored.length === 0) return undefined;
  return `ignoring WSO2 API-M settings Meterline does not use (see docs/migration-from-wso2.md): ${ignored.join(', ')}`;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date);
}
