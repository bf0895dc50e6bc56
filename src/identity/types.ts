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

/** What the broker needs from the identity registry. */
export interface DeviceAuthenticator {
  /** Resolves null for unknown, revoked or wrong-password devices. Never throws for bad input. */
  verifyDevice(username: string, password: Buffer | string | undefined): Promise<DeviceIdentity | null>;
  /** Called with the identities revoked since the last call, so live sessions can be closed. */
  onRevoked(listener: (revoked: DeviceIdentity[]) => void): void;
}

/** What the HTTP API needs: bearer token → tenant and role. Synchronous, constant-time compare. */
export interface TokenVerifier {
  verifyToken(token: string): TokenIdentity | null;
}
