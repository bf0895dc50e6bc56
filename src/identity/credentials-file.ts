/**
 * The credentials file handed out once after a registration: CSV with device, username and
 * password (device ids and generated passwords never need quoting). Free of imports, so the CLI
 * and the dashboard write the same file.
 */
export interface IssuedCredentials {
  device: string;
  username: string;
  password: string;
}

export function credentialsCsv(list: readonly IssuedCredentials[]): string {
  return ['device,username,password', ...list.map((c) => `${c.device},${c.username},${c.password}`)].join('\n') + '\n';
}
