/**
 * The HTTP application as one layer and as a web handler (`Request` → `Response`), for the
 * server and for in-process tests.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Layer } from "effect"
import { HttpRouter } from "effect/http"
import * as Server from "./Server.js"

/** The routes with the platform services they need (files, paths, etags), still needing the app's services. */
export const routes = Server.layerRoutes.pipe(Layer.provide(NodeHttpServer.layerHttpServices))

/** The services the routes need: the core services and ports, the JWT secret, health checks. */
export type Requirements = Exclude<Layer.Services<typeof routes>, HttpRouter.HttpRouter>

/** A fetch-style handler of the app over `services` (tests: no socket, no port). */
export const webHandler = <E>(services: Layer.Layer<Requirements, E>) =>
  // provideMerge: what `services` sets for every fiber (a logger, a log level) reaches the requests.
  HttpRouter.toWebHandler(routes.pipe(Layer.provideMerge(services)), { disableLogger: true })
