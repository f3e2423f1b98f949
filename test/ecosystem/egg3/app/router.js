'use strict';
module.exports = app => require('../../shared/egg-app.cjs').routes(app);
