import { catalogContract, InMemoryCatalog } from "@till/testkit"

catalogContract("in-memory", InMemoryCatalog.layer)
