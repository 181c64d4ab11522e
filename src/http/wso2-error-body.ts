/**
 * WSO2's `Error` object, the body of every error answer of the APIM REST APIs (and so of ours,
 * including the webhook endpoint and the access guard a gateway embeds):
 * `{ code, message, description, moreInfo, error: [{ code, message }] }`. `code` is WSO2's numeric
 * error code (or the HTTP status where WSO2 has none), `message` its short title, `error` one
 * item per field problem (`code` naming the field). Built only here, so the shape cannot drift.
 * No imports: the middlewares a gateway embeds use it too.
 */
export interface Wso2ErrorBody {
  code: number;
  message: string;
  description: string;
  moreInfo: string;
  error: Array<{ code: string; message: string }>;
}

export function wso2ErrorBody(code: number, message: string, description: string, error: Wso2ErrorBody['error'] = []): Wso2ErrorBody {
  return { code, message, description, moreInfo: '', error };
}
