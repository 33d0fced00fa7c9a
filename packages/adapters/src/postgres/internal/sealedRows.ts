/**
 * The row each sealed value belongs to: PaymentCipher's additional authenticated data, so a
 * value copied onto another row does not open. Shared by the stores that seal and KeyRotation,
 * which re-seals for the same rows.
 */

/** A payment method token: its order and payment attempt. */
export const paymentRow = (orderId: string, attempt: number): string => `${orderId}:${attempt}`

/** A stored idempotent answer: its scope and key. */
export const answerRow = (scope: string, key: string): string => `idempotency:${scope}\u0000${key}`
