/// Which fields of a delivery event its consumer reads, so the parsers make no string that
/// nobody reads: on most lines of a log, a reply text or an address not kept is an
/// allocation, a copy and a free saved.
public struct EventFields: Sendable, Equatable {
    /// The reply text of successful deliveries (only `--events` shows it).
    public var sentText = true
    /// Recipient addresses (the report counts recipient domains only).
    public var recipients = true
    /// Recipient addresses of successful deliveries too (the tracker reads failures' only).
    public var sentRecipients = true

    public init(sentText: Bool = true, recipients: Bool = true, sentRecipients: Bool = true) {
        self.sentText = sentText
        self.recipients = recipients
        self.sentRecipients = sentRecipients
    }

    /// Everything (`--events`).
    public static let all = EventFields()
    /// What the report reads.
    public static let report = EventFields(sentText: false, recipients: false, sentRecipients: false)
    /// What the tracker reads (`--alerts`, the daemon).
    public static let tracking = EventFields(sentText: false, recipients: true, sentRecipients: false)
    /// What the tracker and the deferred queue read (the daemon): a delivery takes its
    /// recipient out of the queue.
    public static let queue = EventFields(sentText: false, recipients: true, sentRecipients: true)

    func keepsText(_ status: DeliveryStatus) -> Bool { status != .sent || sentText }
    func keepsRecipient(_ status: DeliveryStatus) -> Bool { recipients && (status != .sent || sentRecipients) }
}
