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

/** Characters taken from one draw: `Random.nextInt` is uniform over 53 bits, ten 5-bit chunks. */
const charsPerDraw = 10

const appendChars = (id: string, draw: number): string => {
  let rest = draw
  let out = id
  for (let i = 0; i < charsPerDraw; i++) {
    out += alphabet[rest % 32]
    rest = Math.floor(rest / 32)
  }
  return out
}

// Two draws for 20 characters (one draw per character cost 20 runtime steps per id).
/** An id drawn from `random` itself (not from the fiber's `Random` service). */
export const fromGenerator = (random: Random.Random, prefix: string): Effect.Effect<string> =>
  // flatMap + map, not `Effect.zipWith`: that one goes through `Effect.all`'s machinery (8 steps more).
  Effect.flatMap(random.nextInt, (a) =>
    Effect.map(random.nextInt, (b) => appendChars(appendChars(`${prefix}_`, a), b))
  )

/** An id drawn from the calling fiber's `Random` service. */
export const fromRandom = (prefix: string): Effect.Effect<string> =>
  Effect.randomWith((random) => fromGenerator(random, prefix))

export const layer: Layer.Layer<Ids> = Layer.succeed(Ids, { next: fromRandom })

/** Ids from one seeded generator, independent of the callers' `Random`. */
export const layerSeeded = (seed: number | string): Layer.Layer<Ids> =>
  Layer.sync(Ids, () => {
    const random = Random.make(seed)
    // Drawn from the generator directly: `Effect.withRandom` would swap the fiber's services
    // around every id (about 30 runtime steps; an id costs 4 this way).
    return { next: (prefix) => fromGenerator(random, prefix) }
  })
