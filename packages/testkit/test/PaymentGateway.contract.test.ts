import { FakePaymentGateway, paymentGatewayContract } from "@till/testkit"

paymentGatewayContract("fake", FakePaymentGateway.layer(42))
