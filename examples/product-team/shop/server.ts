/**
 * The shop as it was before checkout: its products, a product list and a health check on
 * `node:http` (no framework), and the few helpers its routes share: a router, JSON bodies with a
 * size limit, one error shape, the customer of the shop's session. Checkout arrives as more routes
 * (`app-effect.ts`, `app-promise.ts`); nothing here changed for it.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { pathToFileURL } from "node:url"

/** A product of the shop's own catalog, priced in minor units (cents). */
export interface Product {
  readonly sku: string
  readonly name: string
  readonly priceMinor: number
  readonly currency: string
  /** Units in stock when the shop first opens; Till keeps the count from then on. */
  readonly initialStock: number
}

export const products: ReadonlyArray<Product> = [
  { sku: "mug", name: "Till mug", priceMinor: 1_500, currency: "USD", initialStock: 100 },
  { sku: "tee", name: "Till T-shirt", priceMinor: 2_500, currency: "USD", initialStock: 50 },
  { sku: "poster-signed", name: "Signed poster", priceMinor: 9_900, currency: "USD", initialStock: 3 }
]

export interface Request {
  readonly body: unknown
  /** A header's value (names are lower case), if sent. */
  readonly header: (name: string) => string | undefined
  /** A parameter of the route's path (`/carts/:cartId` has `cartId`). */
  readonly param: (name: string) => string
}

export interface Reply {
  readonly status: number
  readonly body: unknown
  readonly headers?: Readonly<Record<string, string>>
}

export type Handler = (request: Request) => Promise<Reply>

export interface Route {
  readonly method: "GET" | "POST"
  /** Segments, `:name` for a parameter: `/carts/:cartId/items`. */
  readonly path: string
  readonly handler: Handler
}

export const json = (status: number, body: unknown, headers?: Readonly<Record<string, string>>): Reply =>
  headers === undefined ? { status, body } : { status, body, headers }

/** The shop's one error shape, `{ error, message, ...details }`, for every 4xx and 5xx it answers. */
export const error = (
  status: number,
  code: string,
  message: string,
  details: Readonly<Record<string, unknown>> = {},
  headers?: Readonly<Record<string, string>>
): Reply => json(status, { error: code, message, ...details }, headers)

/**
 * A route for signed-in customers. The shop's login proxy authenticates the session and passes
 * the customer's id in `x-customer-id`; without one the route answers 401.
 */
export const signedIn =
  (handler: (customer: string, request: Request) => Promise<Reply>): Handler =>
  async (request) => {
    const customer = request.header("x-customer-id")
    return customer === undefined || customer === ""
      ? error(401, "sign_in_required", "sign in to use your cart")
      : handler(customer, request)
  }

/** The routes the shop had before checkout. */
export const routes: ReadonlyArray<Route> = [
  { method: "GET", path: "/health", handler: async () => json(200, { status: "ok" }) },
  {
    method: "GET",
    path: "/products",
    handler: async () =>
      json(200, {
        products: products.map((p) => ({
          sku: p.sku,
          name: p.name,
          price: { amount: p.priceMinor, currency: p.currency }
        }))
      })
  }
]

/** The largest request body the shop reads: its bodies are a few hundred bytes. */
export const maxBodyBytes = 64 * 1024

const match = (pattern: string, path: string): Record<string, string> | undefined => {
  const want = pattern.split("/")
  const got = path.split("/")
  if (want.length !== got.length) return undefined
  const params: Record<string, string> = {}
  for (const [i, segment] of want.entries()) {
    const actual = got[i] ?? ""
    if (!segment.startsWith(":")) {
      if (segment !== actual) return undefined
      continue
    }
    try {
      params[segment.slice(1)] = decodeURIComponent(actual)
    } catch {
      return undefined // not valid percent-encoding: no such resource
    }
    if (params[segment.slice(1)] === "") return undefined
  }
  return params
}

type Read = { readonly json: unknown } | { readonly refused: Reply }

const readJson = async (req: http.IncomingMessage): Promise<Read> => {
  const chunks: Array<Buffer> = []
  let bytes = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length
    if (bytes > maxBodyBytes)
      return { refused: error(413, "body_too_large", `a request body holds at most ${maxBodyBytes} bytes`) }
    chunks.push(chunk)
  }
  if (bytes === 0) return { json: undefined }
  try {
    return { json: JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown }
  } catch {
    return { refused: error(400, "invalid_json", "the request body is not JSON") }
  }
}

const dispatch = async (routes: ReadonlyArray<Route>, req: http.IncomingMessage): Promise<Reply> => {
  const path = new URL(req.url ?? "/", "http://shop.invalid").pathname
  const matching = routes.flatMap((route) => {
    const params = match(route.path, path)
    return params === undefined ? [] : [{ route, params }]
  })
  const found = matching.find(({ route }) => route.method === req.method)
  if (found === undefined)
    return matching.length === 0
      ? error(404, "not_found", `no route ${path}`)
      : error(405, "method_not_allowed", `${path} answers ${matching.map((m) => m.route.method).join(", ")}`)
  const read: Read = req.method === "POST" ? await readJson(req) : { json: undefined }
  if ("refused" in read) return read.refused
  const { params } = found
  return found.route.handler({
    body: read.json,
    header: (name) => {
      const value = req.headers[name]
      return Array.isArray(value) ? value[0] : value
    },
    param: (name) => {
      const value = params[name]
      if (value === undefined) throw new Error(`route ${found.route.path} has no parameter ${name}`)
      return value
    }
  })
}

const send = (res: http.ServerResponse, reply: Reply) => {
  res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers })
  res.end(JSON.stringify(reply.body))
}

/** The shop's server on `routes`: a handler that throws is a bug, logged and answered 500. */
export const createServer = (routes: ReadonlyArray<Route>): http.Server =>
  http.createServer((req, res) => {
    dispatch(routes, req).then(
      (reply) => send(res, reply),
      (cause: unknown) => {
        console.error("shop: a route failed", cause)
        send(res, error(500, "internal", "something went wrong on our side"))
      }
    )
  })

export interface StartOptions {
  /** 0 picks a free port (the tests). */
  readonly port?: number
  readonly host?: string
  /** Where the configuration is read from: `process.env` when run, a record in the tests. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

export interface Running {
  readonly url: string
  /** Stops accepting requests, closes the open connections, then releases what the app holds. */
  readonly close: () => Promise<void>
}

/** Listens on `options.port` (default 3000) and `options.host` (default 127.0.0.1). */
export const listen = (server: http.Server, options: StartOptions): Promise<Running> =>
  new Promise((resolve, reject) => {
    const host = options.host ?? "127.0.0.1"
    server.once("error", reject)
    server.listen(options.port ?? 3000, host, () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://${host}:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          })
      })
    })
  })

/**
 * Starts the app when its file is the program (`tsx shop/app-effect.ts`), with `PORT` (3000) and
 * `HOST` (127.0.0.1) from the environment, until SIGINT or SIGTERM.
 */
export const main = (moduleUrl: string, start: (options: StartOptions) => Promise<Running>): void => {
  const program = process.argv[1]
  if (program === undefined || moduleUrl !== pathToFileURL(program).href) return
  const env = process.env
  start({ port: Number(env["PORT"] ?? 3000), host: env["HOST"] ?? "127.0.0.1", env }).then(
    (shop) => {
      console.log(`shop listening on ${shop.url}`)
      const stop = () => void shop.close().then(() => process.exit(0))
      process.once("SIGINT", stop)
      process.once("SIGTERM", stop)
    },
    (cause: unknown) => {
      console.error("shop: could not start", cause)
      process.exit(1)
    }
  )
}
