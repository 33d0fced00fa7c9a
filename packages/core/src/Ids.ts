/**
 * Id generation as a port, so every id in a run can come from one seeded source. The default
 * draws from Effect's `Random` service of the calling fiber: seed it (`Random.withSeed`) and
 * the ids of a whole run repeat exactly; leave it and ids are random.
 */
import { Context, Effect, Layer, Random } from "effect"

export class Ids extends Context.Service<
  Ids,
  {
    /** A new id such as `ord_k3v9…` (prefix, underscore, 20 base-32 characters). */
    readonly next: (prefix: string) => Effect.Effect<string>
  }
>()("@till/core/Ids") {}

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

const idLength = 20

/**
 * One character per uniform double in [0, 1): its top five bits, uniform over the alphabet.
 * Not `nextIntUnsafe`: it spans the signed safe range (negative half the time) and is a double
 * scaled by about 2^54, so its lowest bit hardly ever changes.
 */
const draw = (random: Random.Random, prefix: string): string => {
  let id = `${prefix}_`
  for (let i = 0; i < idLength; i++) id += alphabet[Math.floor(random.nextDoubleUnsafe() * alphabet.length)]
  return id
}

/** An id drawn from `random` itself (not from the fiber's `Random` service). */
export const fromGenerator = (random: Random.Random, prefix: string): Effect.Effect<string> =>
  Effect.sync(() => draw(random, prefix))

/** An id drawn from the calling fiber's `Random` service. */
export const fromRandom = (prefix: string): Effect.Effect<string> =>
  Random.Random.useSync((random) => draw(random, prefix))

export const layer: Layer.Layer<Ids> = Layer.succeed(Ids, { next: fromRandom })

/**
 * Ids from one generator seeded with `seed`, independent of the callers' `Random`. The generator
 * lives as long as the built layer: provide the same layer value twice in one run and (Effect 4
 * memoizing layers across `provide`s) the second continues the sequence; a fresh `layerSeeded`
 * call, or `Effect.provide(layer, { local: true })`, starts it again.
 */
export const layerSeeded = (seed: number | string): Layer.Layer<Ids> =>
  Layer.effect(
    Ids,
    Random.Random.useSync((random) => Ids.of({ next: (prefix) => fromGenerator(random, prefix) })).pipe(
      Random.withSeed(seed)
    )
  )
