// @ts-check
/**
 * The server's JSON shapes, from the same file the server is type-checked against
 * (src/serving/dashboard/api-types.ts), plus the pieces the views share.
 *
 * @typedef {import('../../src/serving/dashboard/api-types.js').DashboardServer} DashboardServer
 * @typedef {import('../../src/serving/dashboard/api-types.js').DashboardModels} DashboardModels
 * @typedef {import('../../src/serving/dashboard/api-types.js').DashboardModel} DashboardModel
 * @typedef {import('../../src/serving/dashboard/api-types.js').DashboardVersion} DashboardVersion
 * @typedef {import('../../src/serving/dashboard/api-types.js').DashboardSignature} DashboardSignature
 * @typedef {import('../../src/serving/dashboard/api-types.js').DashboardTensor} DashboardTensor
 * @typedef {import('../../src/serving/dashboard/api-types.js').DashboardPlacement} DashboardPlacement
 * @typedef {import('../../src/serving/dashboard/api-types.js').DashboardPlacementOp} DashboardPlacementOp
 * @typedef {import('../../src/serving/dashboard/api-types.js').DashboardStats} DashboardStats
 * @typedef {import('../../src/serving/dashboard/api-types.js').DashboardSeries} DashboardSeries
 * @typedef {import('../../src/serving/dashboard/api-types.js').DashboardRuns} DashboardRuns
 * @typedef {import('../../src/serving/dashboard/api-types.js').DashboardRun} DashboardRun
 */

/**
 * What every view gets from the shell.
 * @typedef {object} DashboardContext
 * @property {DashboardServer} server
 * @property {() => DashboardModel[]} models  the latest model list
 * @property {() => Promise<void>} refreshModels  fetch the list again now (after an action)
 * @property {(listener: () => void) => void} onModelsChanged
 */

/**
 * A tab of the page.
 * @typedef {object} View
 * @property {string} id  the URL fragment (#id)
 * @property {string} title
 * @property {(container: HTMLElement, context: DashboardContext) => void} mount  once, at start
 * @property {() => void} [shown]  each time the tab becomes visible
 */

export {};
