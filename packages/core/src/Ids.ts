/**
 * Id generation as a port, so every id in a run can come from one seeded source.
 *
 * - `layer` (production) draws 130 random bits per id from Web Crypto
 *   (`globalThis.crypto.getRandomValues`, in Node, Deno, Bun and browsers): 26 base-32
 *   characters. Effect's default `Random` is seeded from 32 bits, so two processes could draw
 *   the same sequence and mint the same order id; a CSPRNG makes a collision as likely as
 *   guessing a 128-bit key.
 * - `layerSeeded` (testkit, simulator) draws from one generator seeded by the caller, so the ids
 *   of a whole run repeat exactly: 20 characters (100 bits, plenty inside one simulated world).
 *   Its length and its stream are unchanged so that recorded simulator seeds replay the same runs.
 *
 * Both are `prefix_<base32>` in the alphabet `0-9a-z` without `i l o u`.
 */
import { Context, Effect, Layer, Random } from "effect"

export class Ids extends Context.Service<
  Ids,
  {
    /** A new id such as `ord_k3v9…` (prefix, underscore, base-32 characters). */
    readonly next: (prefix: string) => Effect.Effect<string>
  }
>()("@till/core/Ids") {}

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

/** Characters of a Web Crypto id: 26 x 5 = 130 random bits (at least 128). */
export const randomIdLength = 26

/** Characters of a seeded id. */
export const seededIdLength = 20

/**
 * The part of Web Crypto this module uses. Declared here rather than taken from a `lib` or
 * `@types/node`: core runs on any runtime with Web Crypto and imports no Node module.
 */
interface WebCrypto {
  readonly getRandomValues: <T extends Uint8Array>(array: T) => T
}

const webCrypto = (): WebCrypto => {
  const crypto = (globalThis as { readonly crypto?: WebCrypto }).crypto
  if (crypto === undefined || typeof crypto.getRandomValues !== "function") {
    throw new Error("Ids.layer needs Web Crypto (globalThis.crypto.getRandomValues)")
  }
  return crypto
}

/**
 * Random bytes for ids, taken from Web Crypto a block at a time. A `getRandomValues` call costs
 * about the same for 26 bytes as for 4 KiB (5.5 µs on Node 24 here: its checks and the call into
 * the CSPRNG), and a CPU profile of `till start` on the in-memory ports under load spent 2.2 % of
 * its samples in those calls; from a block an id's bytes cost about 70 ns. Every byte is the
 * CSPRNG's and is used once (Node's own `crypto.randomUUID` caches its entropy the same way).
 * One pool per built layer: no module state.
 */
const entropyPool = (crypto: WebCrypto, blockSize = 4_096) => {
  const block = new Uint8Array(blockSize)
  let used = blockSize
  return (n: number): Uint8Array => {
    if (used + n > blockSize) {
      crypto.getRandomValues(block)
      used = 0
    }
    const bytes = block.subarray(used, used + n)
    used += n
    return bytes
  }
}

/**
 * One byte per character, its low five bits: 256 is a multiple of 32, so each character is
 * uniform over the alphabet, and the 26 characters carry 130 independent random bits.
 */
const drawCrypto = (bytes: Uint8Array, prefix: string): string => {
  let id = `${prefix}_`
  for (const byte of bytes) id += alphabet[byte & 31]
  return id
}

/**
 * One character per uniform double in [0, 1): its top five bits, uniform over the alphabet.
 * Not `nextIntUnsafe`: it spans the signed safe range (negative half the time) and is a double
 * scaled by about 2^54, so its lowest bit hardly ever changes.
 */
const drawSeeded = (random: Random.Random, prefix: string): string => {
  let id = `${prefix}_`
  for (let i = 0; i < seededIdLength; i++) {
    id += alphabet[Math.floor(random.nextDoubleUnsafe() * alphabet.length)]
  }
  return id
}

/** An id of 130 random bits from Web Crypto, independent of any seed. */
export const fromCrypto = (prefix: string): Effect.Effect<string> =>
  Effect.sync(() => drawCrypto(webCrypto().getRandomValues(new Uint8Array(randomIdLength)), prefix))

/** An id drawn from `random` itself (a seeded generator; not the fiber's `Random` service). */
export const fromGenerator = (random: Random.Random, prefix: string): Effect.Effect<string> =>
  Effect.sync(() => drawSeeded(random, prefix))

/** Ids from Web Crypto: what a process that creates orders must use. */
export const layer: Layer.Layer<Ids> = Layer.sync(Ids, () => {
  const take = entropyPool(webCrypto())
  return Ids.of({ next: (prefix) => Effect.sync(() => drawCrypto(take(randomIdLength), prefix)) })
})

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
