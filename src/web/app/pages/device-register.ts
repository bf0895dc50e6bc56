/// <reference lib="dom" />
/** Admin panel of the devices page: register the gateways of a CSV list, then save their credentials once. */
import { credentialsCsv, type IssuedCredentials } from '../../../identity/credentials-file.ts';
import { ApiFailure, request, saveBlob } from '../api.ts';
import { fill, h } from '../dom.ts';
import { t } from '../i18n.ts';
import { notice, section } from '../ui.ts';


export function registerPanel(): HTMLElement {
  const file = h('input', { id: 'device-import-file', type: 'file', accept: '.csv,text/csv', 'aria-describedby': 'device-import-hint' });
  const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, t('devices.registerSubmit'));
  const status = h('div', { id: 'device-import-status', role: 'status' });
  const form = h(
    'form',
    { class: 'filters' },
    h('div', { class: 'field' }, h('label', { for: 'device-import-file' }, t('devices.registerFile')), file),
    h('div', { class: 'field' }, submit),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return void fill(status, notice('warn', t('devices.registerChoose')));
    submit.disabled = true;
    void (async () => {
      try {
        const res = await request('/devices/import', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: await chosen.text() });
        const { devices } = (await res.json()) as { devices: IssuedCredentials[] };
        const save = h('button', { class: 'btn btn-primary', type: 'button', id: 'device-import-download' }, t('devices.downloadCredentials'));
        save.addEventListener('click', () => saveBlob(new Blob([credentialsCsv(devices)], { type: 'text/csv' }), `credentials-${chosen.name.replace(/\.csv$/i, '')}.csv`));
        fill(status, notice('ok', t('devices.registered', { n: devices.length }), t('devices.registeredHint')), save);
        file.value = '';
      } catch (err) {
        const problems = err instanceof ApiFailure && err.issues.length > 1 ? err.issues.map((i) => i.message) : [];
        fill(status, notice('bad', t('devices.registerFailed'), err instanceof Error ? err.message : String(err)), problems.length ? h('ul', { class: 'problems', lang: 'en' }, problems.map((p) => h('li', {}, p))) : null);
      } finally {
        submit.disabled = false;
      }
    })();
  });
  // The server serves its own MQTT contract (src/api/routes/contract.ts), so the link matches its version.
  const contract = h(
    'p',
    { class: 'hint', id: 'device-contract' },
    t('devices.contractHint'),
    ' ',
    h('a', { href: '/asyncapi.json' }, t('devices.contractAsyncApi')),
    ', ',
    h('a', { href: '/schemas/data.schema.json' }, t('devices.contractDataSchema')),
  );
  return section(t('devices.register'), 'device-import-heading', h('p', { class: 'hint', id: 'device-import-hint' }, t('devices.registerHint')), form, status, contract);
}
