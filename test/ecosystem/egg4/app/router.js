import { createRequire } from 'node:module';

const { routes } = createRequire(import.meta.url)('../../shared/egg-app.cjs');

export default app => routes(app);
