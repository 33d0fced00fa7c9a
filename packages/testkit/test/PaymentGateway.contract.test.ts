import { FakePaymentGateway } from "@till/testkit"
import { paymentGatewayContract } from "@till/testkit/contracts"

paymentGatewayContract("fake", FakePaymentGateway.layer(42))
