/** Device status for the token's tenant, and (admin) issuing and revoking gateway credentials. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseDeviceList, RegistryError, type NewDevice } from '../../identity/index.ts';
import { queryDevices } from '../../devices/query.ts';
import { requireIdentity } from '../auth.ts';
import type { ApiDeps, DeviceAdmin } from '../deps.ts';
import { ApiError, notFound } from '../errors.ts';
import {
  addDeviceBodySchema,
  addDevicesBodySchema,
  apiLimits,
  deviceCredentialsListSchema,
  deviceCredentialsSchema,
  deviceListQuerySchema,
  deviceListSchema,
  deviceParamsSchema,
  deviceRevokedSchema,
  deviceSchema,
  deviceWildcardParamsSchema,
  errorSchema,
} from '../schemas.ts';
import { sendSliced } from '../sliced-json.ts';
import type { ZodTypeProvider } from '../zod-bridge.ts';

const readErrors = { 400: errorSchema, 401: errorSchema };

export async function deviceRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/devices',
    {
      schema: {
        summary: 'The devices of this tenant with their status; filtered, ordered and limited on request',
        description: 'Without parameters: every device, by id. The dashboard asks for at most the rows it shows, problems first, with the counts for its summary.',
        tags: ['devices'],
        querystring: deviceListQuerySchema,
        response: { 200: deviceListSchema, ...readErrors },
      },
    },
    async (request, reply) => {
      const { tenant } = requireIdentity(request);
      const answer = queryDevices(deps.devices.list(tenant).filter((d) => d.tenant === tenant), request.query, Date.now());
      return sendSliced(reply, deviceListSchema, answer, 'devices', answer.devices);
    },
  );

  const getOne = (tenant: string, device: string) => {
    const status = deps.devices.get(tenant, device);
    // The same 404 for "does not exist" and "belongs to another tenant": ids must not leak.
    if (!status || status.tenant !== tenant) throw notFound(`no device "${device}"`);
    return status;
  };

  r.get(
    '/devices/:device',
    {
      schema: {
        summary: 'One device with its status',
        description: 'Sub-device ids contain a `/`: send it as `%2F`, or use the unencoded path, which is also accepted.',
        tags: ['devices'],
        params: deviceParamsSchema,
        response: { 200: deviceSchema, ...readErrors, 404: errorSchema },
      },
    },
    async (request) => getOne(requireIdentity(request).tenant, request.params.device),
  );

  // Alias for `gateway/subdevice` sent with an unencoded slash.
  r.get(
    '/devices/*',
    {
      schema: {
        hide: true,
        params: deviceWildcardParamsSchema,
        response: { 200: deviceSchema, ...readErrors, 404: errorSchema },
      },
    },
    async (request) => getOne(requireIdentity(request).tenant, request.params.device),
  );

  if (deps.deviceAdmin) await deviceAdminRoutes(app, deps.deviceAdmin);
}

/**
 * Issues credentials in the token's tenant. The registry's refusals become client errors: bad
 * input is 400, naming the entry by `fieldOf` its index; an active device of that id is 409.
 */
async function issue(admin: DeviceAdmin, tenant: string, devices: ReadonlyArray<NewDevice>, fieldOf: (index: number) => string) {
  try {
    return await admin.add(tenant, devices);
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    if (err.kind === 'conflict') throw new ApiError(409, 'conflict', err.message);
    throw new ApiError(400, 'bad_request', err.message, err.index !== undefined ? { field: fieldOf(err.index) } : {});
  }
}

/** Issues the credentials of a list, all or none. */
async function addBatch(request: FastifyRequest, admin: DeviceAdmin, devices: ReadonlyArray<NewDevice>, fieldOf: (index: number) => string): Promise<z.infer<typeof deviceCredentialsListSchema>> {
  const { tenant } = requireIdentity(request);
  const credentials = await issue(admin, tenant, devices, fieldOf);
  request.log.info({ tenant, devices: credentials.length }, 'device credentials issued in a batch');
  return { devices: credentials.map(({ device, username, password }) => ({ device, username, password })) };
}

async function deviceAdminRoutes(app: FastifyInstance, admin: DeviceAdmin): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const adminErrors = { 400: errorSchema, 401: errorSchema, 403: errorSchema };

  r.post(
    '/devices',
    {
      schema: {
        summary: 'Register a gateway and issue its MQTT credentials (admin)',
        description: 'The password is returned once; only its hash is stored.',
        tags: ['devices'],
        body: addDeviceBodySchema,
        response: { 201: deviceCredentialsSchema, ...adminErrors, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const { tenant } = requireIdentity(request);
      const { device } = request.body;
      const [credentials] = await issue(admin, tenant, [request.body], () => 'device');
      request.log.info({ tenant, device }, 'device credentials issued');
      return reply.code(201).send({ device, username: credentials!.username, password: credentials!.password });
    },
  );

  // A list of up to maxDevicesPerBatch ids is larger than the API's usual body limit.
  const batchBodyLimit = 1024 * 1024;

  r.post(
    '/devices/batch',
    {
      bodyLimit: batchBodyLimit,
      schema: {
        summary: 'Register many gateways at once, all or none, and issue their MQTT credentials (admin)',
        description: 'For a roll-out from an asset list. The passwords are returned once, in the order given; only their hashes are stored. One id that is invalid, listed twice or already active refuses the whole batch.',
        tags: ['devices'],
        body: addDevicesBodySchema,
        response: { 201: deviceCredentialsListSchema, ...adminErrors, 409: errorSchema },
      },
    },
    async (request, reply) => {
      return reply.code(201).send(await addBatch(request, admin, request.body.devices, (i) => `devices.${i}.device`));
    },
  );

  // The same from the CSV an asset list or spreadsheet exports (see src/identity/device-list.ts).
  r.register(async (csv) => {
    csv.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: batchBodyLimit }, (_request, body, done) => done(null, body));
    csv.withTypeProvider<ZodTypeProvider>().post(
      '/devices/import',
      {
        bodyLimit: batchBodyLimit,
        schema: {
          summary: 'Register the gateways of a CSV list, all or none, and issue their MQTT credentials (admin)',
          description:
            'Body `text/csv`: a header row naming a `device` column and optionally `type` (other columns are ignored), comma or semicolon separated. Every problem is named by line in `issues`; then nothing is registered.',
          tags: ['devices'],
          consumes: 'text/csv',
          body: z.string().max(batchBodyLimit),
          response: { 201: deviceCredentialsListSchema, ...adminErrors, 409: errorSchema },
        },
      },
      async (request, reply) => {
        const list = parseDeviceList(request.body);
        if (list.problems.length) {
          throw new ApiError(400, 'bad_request', `nothing was registered: ${list.problems[0]}${list.problems.length > 1 ? ` (and ${list.problems.length - 1} more problems)` : ''}`, {
            field: 'body',
            issues: list.problems.map((message) => ({ field: 'body', message })),
          });
        }
        if (list.devices.length > apiLimits.maxDevicesPerBatch) throw new ApiError(400, 'bad_request', `at most ${apiLimits.maxDevicesPerBatch} devices per list`, { field: 'body' });
        return reply.code(201).send(await addBatch(request, admin, list.devices, () => 'body'));
      },
    );
  });

  r.delete(
    '/devices/:device',
    {
      schema: {
        summary: 'Revoke a gateway: its credentials stop working and live sessions close (admin)',
        tags: ['devices'],
        params: deviceParamsSchema,
        response: { 200: deviceRevokedSchema, ...adminErrors, 404: errorSchema },
      },
    },
    async (request) => {
      const { tenant } = requireIdentity(request);
      const { device } = request.params;
      if (!(await admin.revoke(tenant, device))) throw notFound(`no active device "${device}"`);
      request.log.info({ tenant, device }, 'device revoked');
      return { device, revoked: true as const };
    },
  );
}
