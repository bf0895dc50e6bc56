/**
 * The operator and planner dashboard: a vanilla TypeScript front end (src/web/app, built by
 * `npm run build:web` into src/web/dist) and the fastify plugins that serve it.
 *
 * Wiring (server): buildApi(deps, { plugins: [..., sessionPlugin], publicPlugins: [webPlugin()] })
 */
export { webPlugin, sessionPlugin, sessionSchema, defaultDistDir, type WebPluginOptions } from './plugin.ts';
