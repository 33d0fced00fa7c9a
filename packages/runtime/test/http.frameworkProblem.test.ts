/**
 * Answers the HTTP framework makes itself (no JSON body) become API problems of the same class:
 * a framework 5xx stays a 5xx, never a 400 that would blame the client for a server failure.
 */
import { describe, expect, it } from "vitest"
import { frameworkProblem } from "../src/http/Server.js"

describe("frameworkProblem", () => {
  it("keeps a server failure a 500, with the request id to quote and nothing else", () => {
    for (const status of [500, 502, 503, 504]) {
      const problem = frameworkProblem(status, "req_1")
      expect(problem.status).toBe(500)
      expect(problem.type).toBe("urn:till:problem:internal-error")
      expect(problem.detail).toBe("an internal error; quote request id req_1")
    }
  })

  it("answers 415 as unsupported media type and any other 4xx as a bad request", () => {
    expect(frameworkProblem(415, "r").status).toBe(415)
    for (const status of [400, 405, 406, 411, 414, 431]) {
      const problem = frameworkProblem(status, "r")
      expect(problem.status).toBe(400)
      expect(problem.type).toBe("urn:till:problem:bad-request")
    }
  })
})
