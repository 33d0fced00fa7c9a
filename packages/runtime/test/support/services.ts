/** The adapters' gates on real services (skip locally with a message, fail under CI=true). */
export { describeServices, serviceUrl } from "../../../adapters/test/support/services.js"
