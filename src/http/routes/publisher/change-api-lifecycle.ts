import { z } from 'zod';
import { LIFECYCLE_ACTIONS, type LifecycleAction } from '../../../apim/apis.service';
import type { ApiState } from '../../../apim/model';
import { defineRoute } from '../../route';
import { apiActor, resourceId } from '../common';
import { lifecycleStateName } from './presenters';

const actions = Object.keys(LIFECYCLE_ACTIONS) as [LifecycleAction, ...LifecycleAction[]];

/** The transitions available from a state, as WSO2's `LifecycleState.availableTransitions`. */
function availableTransitions(state: ApiState) {
  return actions
    .filter((action) => (LIFECYCLE_ACTIONS[action].from as readonly ApiState[]).includes(state))
    .map((action) => ({ event: action, targetState: lifecycleStateName(LIFECYCLE_ACTIONS[action].to) }));
}

/**
 * POST /apis/change-lifecycle?apiId=&action= — e.g. `Publish` moves a CREATED API to PUBLISHED.
 * Only the API's provider or an admin (`apim:admin`); another publisher of the tenant gets 403.
 */
export const changeApiLifecycle = defineRoute({
  api: 'publisher',
  method: 'post',
  path: '/apis/change-lifecycle',
  operationId: 'changeAPILifecycle',
  summary: 'Change API Status',
  scopes: ['apim:api_publish', 'apim:api_manage', 'apim:api_import_export'],
  query: z.strictObject({ apiId: resourceId, action: z.enum(actions) }),
  responses: { 200: 'WorkflowResponse' },
  async handle({ principal, query, apim }) {
    const api = await apim.apis.changeLifecycle(apiActor(principal), query.apiId, query.action);
    return {
      status: 200,
      body: {
        workflowStatus: 'APPROVED',
        lifecycleState: { state: lifecycleStateName(api.status), checkItems: [], availableTransitions: availableTransitions(api.status) },
      },
    };
  },
});
