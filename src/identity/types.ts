export const roles = ['read', 'admin'] as const;
export type Role = (typeof roles)[number];

/** An authenticated gateway. MQTT username is `{tenant}/{device}`. */
export interface DeviceIdentity {
  tenant: string;
  device: string;
}

export interface TokenIdentity {
  tenant: string;
  role: Role;
  tokenId: string;
}

export type AuthFailureReason = 'unknown device' | 'wrong password' | 'revoked';
export type DeviceVerification = { ok: true; identity: DeviceIdentity } | { ok: false; reason: AuthFailureReason };

/** What the broker needs from the identity registry. */
export interface DeviceAuthenticator {
  /** Says why a login fails (for the log, the status view and the CONNACK code). Never throws for bad input. */
  verifyDeviceDetailed(username: string, password: Buffer | string | undefined): Promise<DeviceVerification>;
  /** Called with the identities revoked since the last call, so live sessions can be closed. */
  onRevoked(listener: (revoked: DeviceIdentity[]) => void): void;
}

/** What the HTTP API needs: bearer token → tenant and role. Synchronous, constant-time compare. */
export interface TokenVerifier {
  verifyToken(token: string): TokenIdentity | null;
}
