/**
 * Id generation as a port, so every id in a run can come from one seeded source. The default
 * draws from Effect's `Random` service of the calling fiber: seed it (`Effect.withRandom`)
 * and the ids of a whole run repeat exactly; leave it and ids are random.
 */
import { Context, Effect, Layer, Random } from "effect"

export class Ids extends Context.Tag("@till/core/Ids")<
  Ids,
  {
    /** A new id such as `ord_k3v9…` (prefix, underscore, 20 base-32 characters). */
    readonly next: (prefix: string) => Effect.Effect<string>
  }
>() {}

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

export const fromRandom = (prefix: string): Effect.Effect<string> =>
  Effect.gen(function* () {
    let id = `${prefix}_`
    for (let i = 0; i < 20; i++) id += alphabet[yield* Random.nextIntBetween(0, 32)]
    return id
  })

export const layer: Layer.Layer<Ids> = Layer.succeed(Ids, { next: fromRandom })

/** Ids from one seeded generator, independent of the callers' `Random`. */
export const layerSeeded = (seed: number | string): Layer.Layer<Ids> =>
  Layer.sync(Ids, () => {
    const random = Random.make(seed)
    return { next: (prefix) => Effect.withRandom(fromRandom(prefix), random) }
  })
