/// <reference lib="dom" />
/** Small building blocks every page uses: badges, tables, notices, a confirm dialog. */
import { ApiFailure } from './api.ts';
import { h, s } from './dom.ts';
import { t, type Key } from './i18n.ts';

export type Tone = 'ok' | 'warn' | 'bad' | 'info' | 'muted';

/** Shape plus text, so colour is never the only cue. */
const glyphs: Record<Tone, string> = {
  ok: 'M4 8.5l3 3 5-7', // tick
  warn: 'M8 2.5l6 11H2z M8 6.5v3.2 M8 11.6v.3', // triangle
  bad: 'M4 4l8 8 M12 4l-8 8', // cross
  info: 'M8 7v5 M8 4.2v.3', // i
  muted: 'M4 8h8', // dash
};

export function icon(tone: Tone): SVGSVGElement {
  return s('svg', { class: `icon icon-${tone}`, viewBox: '0 0 16 16', width: 16, height: 16, 'aria-hidden': 'true', focusable: 'false' }, s('path', { d: glyphs[tone] }));
}

export function badge(tone: Tone, text: string): HTMLElement {
  return h('span', { class: `badge badge-${tone}` }, icon(tone), h('span', {}, text));
}

export interface Column<T> {
  head: string;
  cell: (row: T) => Node | string;
  /** Right-aligned numbers. */
  num?: boolean;
  /** The row header cell (scope=row). */
  rowHeader?: boolean;
  className?: string;
}

/** A table with a caption and proper header cells. */
export function table<T>(caption: string, columns: Column<T>[], rows: T[], opts: { captionHidden?: boolean; rowClass?: (row: T) => string | undefined; empty?: string } = {}): HTMLElement {
  const body = rows.length
    ? rows.map((row) =>
        h(
          'tr',
          { class: opts.rowClass?.(row) },
          columns.map((c) => {
            const content = c.cell(row);
            const cls = [c.num ? 'num' : '', c.className ?? ''].join(' ').trim() || undefined;
            return c.rowHeader ? h('th', { scope: 'row', class: cls }, content) : h('td', { class: cls }, content);
          }),
        ),
      )
    : [h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, opts.empty ?? t('none')))];
  const wrap = h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h('caption', { class: opts.captionHidden ? 'visually-hidden' : undefined }, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : undefined }, c.head)))),
      h('tbody', {}, body),
    ),
  );
  // A wrapper that scrolls sideways must be reachable by keyboard to scroll it.
  const observer = new ResizeObserver(() => {
    if (!wrap.isConnected) return observer.disconnect();
    const scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
    if (scrolls) {
      wrap.setAttribute('tabindex', '0');
      wrap.setAttribute('role', 'region');
      wrap.setAttribute('aria-label', caption);
    } else {
      wrap.removeAttribute('tabindex');
      wrap.removeAttribute('role');
      wrap.removeAttribute('aria-label');
    }
  });
  observer.observe(wrap);
  return wrap;
}

export function notice(tone: Tone, title: string, text?: string): HTMLElement {
  return h('div', { class: `notice notice-${tone}`, role: tone === 'bad' ? 'alert' : undefined }, icon(tone), h('div', {}, h('strong', {}, title), text ? h('p', {}, text) : null));
}

/** "Not available on this server" for routes not there yet, otherwise the error itself. */
export function failureNotice(err: unknown, what: Key): HTMLElement {
  if (err instanceof ApiFailure && err.notAvailable) return notice('info', t('notAvailable', { what: t(what) }), t('notAvailableHint'));
  // Another 404 of a whole feature (e.g. no coupling engine for this tenant): the server says why.
  if (err instanceof ApiFailure && err.status === 404) return notice('info', t('notAvailable', { what: t(what) }), err.message);
  if (err instanceof ApiFailure && err.status === 0) return notice('bad', t('unreachable'), err.message);
  const message = err instanceof Error ? err.message : String(err);
  return notice('bad', t('loadFailed', { what: t(what) }), message);
}

export function pageHeader(title: string, ...extra: (Node | null)[]): HTMLElement {
  return h('div', { class: 'page-head' }, h('h1', { tabindex: '-1', id: 'page-title' }, title), h('div', { class: 'page-head-extra' }, extra));
}

export function section(title: string, id: string, ...content: (Node | null)[]): HTMLElement {
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, title), content);
}

/** A modal yes/no question; resolves true on confirm. Uses <dialog>, which keeps focus inside. */
export function confirmDialog(title: string, text: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const titleId = 'dialog-title';
    const dialog = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': titleId },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: titleId }, title),
        h('p', {}, text),
        h('div', { class: 'dialog-actions' }, h('button', { value: 'cancel', class: 'btn' }, t('cancel')), h('button', { value: 'ok', class: 'btn btn-primary' }, confirmLabel)),
      ),
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/**
 * Re-renders a live region of the page without losing the keyboard user's place: the element
 * with the same `data-focus` key gets focus back.
 */
export function keepFocus(container: HTMLElement, render: () => void): void {
  const active = document.activeElement as HTMLElement | null;
  const key = active && container.contains(active) ? active.dataset.focus : undefined;
  render();
  if (key) container.querySelector<HTMLElement>(`[data-focus="${CSS.escape(key)}"]`)?.focus();
}
