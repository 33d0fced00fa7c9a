import { InMemoryCatalog } from "@till/testkit"
import { catalogContract } from "@till/testkit/contracts"

catalogContract("in-memory", InMemoryCatalog.layer)
