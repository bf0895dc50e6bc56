import type { Session } from './api.ts';
import type { Key } from './i18n.ts';

export interface PageContext {
  session: Session;
  /** Route parts after the page name, e.g. the device of #/devices/<device>. */
  params: string[];
  announce(text: string): void;
}

export interface PageDef {
  path: string;
  title: Key;
  /** Builds the page into `main`; returns what stops its timers and subscriptions. */
  mount(main: HTMLElement, ctx: PageContext): () => void;
}
