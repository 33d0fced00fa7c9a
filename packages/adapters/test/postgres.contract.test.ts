/**
 * The port contract suites of @till/testkit on the Postgres stores: the same cases the in-memory
 * stores pass, each on a schema of its own. Skipped (with a message) when Postgres is not
 * running locally; a failure under CI=true.
 */
import {
  catalogContract,
  deadLetterStoreContract,
  idempotencyStoreContract,
  inventoryStoreContract,
  orderStoreContract,
  paymentRetryQueueContract
} from "@till/testkit/contracts"
import {
  catalogStore,
  deadLetterStore,
  idempotencyStore,
  onFreshSchema,
  orderAndStockStores,
  paymentRetryQueue
} from "./support/postgres.js"
import { describeService } from "./support/services.js"

await describeService("postgres", "Postgres stores: port contracts", () => {
  orderStoreContract("postgres", onFreshSchema(orderAndStockStores))
  inventoryStoreContract("postgres", onFreshSchema(orderAndStockStores))
  catalogContract("postgres", onFreshSchema(catalogStore))
  idempotencyStoreContract("postgres", onFreshSchema(idempotencyStore))
  paymentRetryQueueContract("postgres", onFreshSchema(paymentRetryQueue))
  deadLetterStoreContract("postgres", onFreshSchema(deadLetterStore))
})
