/// The hashes the tracker and the report key an event under (its domain, relay and
/// provider, and its message), taken ahead of them: `analyze` takes them on its parsing
/// threads, so the one thread that tracks or tables the events does not. They travel beside
/// the event (ParallelReader's batches), never on it: they are derived from its fields.
public struct DestinationHashes: Sendable {
    var domain: Int?
    var relay: Int?
    var provider: Int?
    var message: Int

    public init(of e: DeliveryEvent) {
        domain = e.domain.map(DestinationKey.hash)
        relay = e.relay.map(DestinationKey.hash)
        provider = e.provider.map(DestinationKey.hash)
        message = e.messageHash
    }
}
