/**
 * What the dead letters name where a device id would be, for a read-only API token login (it has
 * no device): `api-token:{token id}`, or `api-token` while the token is unknown. No device id has a ':'.
 * Free of imports, so the dashboard recognises the label by the same pattern.
 */
export function tokenLoginLabel(tokenId?: string): string {
  return tokenId ? `api-token:${tokenId}` : 'api-token';
}
export const tokenLoginLabelPattern = /^api-token(:[0-9a-f]{1,64})?$/;
