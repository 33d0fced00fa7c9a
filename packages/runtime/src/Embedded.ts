/**
 * The embedded default: with no DATABASE_URL, REDIS_URL or KAFKA_BROKERS, every port is the
 * testkit's in-memory one and the payment gateway is the testkit's fake (cards as in its README:
 * 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined). State lives as long as the
 * process: for development, demos and tests, never for production.
 */
import { Degradation, Till } from "@till/core"
import { TestTill } from "@till/testkit"
import { Layer } from "effect"
import { randomUUID } from "node:crypto"

/** What the HTTP handlers and the jobs need, on the in-memory ports. */
export const layer = (
  options: TestTill.Options = {}
): Layer.Layer<TestTill.Services | TestTill.Ports | Degradation.Degradation> =>
  Till.layerJobs.pipe(
    Layer.provideMerge(TestTill.layer({ seed: randomUUID(), ...options })),
    Layer.provideMerge(Degradation.layer)
  )
