/// The outcome of one delivery attempt for one recipient.
public enum DeliveryStatus: String, Sendable, Codable, CaseIterable {
    case sent
    case deferred
    case bounced
    case expired
}

/// Where in the SMTP dialogue a failure happened.
public enum SMTPStage: String, Sendable, Codable, CaseIterable {
    case connect
    case greeting
    case helo
    case mail
    case rcpt
    case data
    case endOfData = "end-of-data"
}

/// One delivery attempt for one recipient, as a parser read it from one log line, before
/// classification. `cause`, `rule`, `provider` and `inherited` are filled in by the classifier.
public struct DeliveryEvent: Sendable, Equatable {
    public var time: Int64?
    public var mta: MTA
    public var host: String
    public var queueID: String
    public var recipient: String?
    public var domain: String?
    public var status: DeliveryStatus
    public var relay: String?
    public var relayIP: String?
    public var dsn: String?
    public var code: Int?
    public var stage: SMTPStage?
    /// The reply or error text of the attempt, on one line (empty for most `sent` lines).
    public var text: String
    /// Where, in UTF-8 bytes of `text`, the part that explains the failure starts: for
    /// Postfix "delivery temporarily suspended: REASON", the REASON.
    public var reasonStart: Int
    /// Set by the parser for lines that never carry their own reason (Exim "retry time not
    /// reached", Postfix/Exim expiry): the cause is taken from an earlier failure.
    public var wantsInheritedCause: Bool

    public var cause: Cause?
    public var rule: String?
    /// How sure the cause is (`RuleLayer.confidence` of the deciding rule; an inherited cause
    /// keeps the confidence it had).
    public var confidence: Confidence?
    public var provider: String?
    public var inherited: Bool
    /// Between the classifier's two steps (`match`, then `settle`): the cause still has to
    /// be taken from an earlier failure.
    var pendingInheritance = false
    /// Whether `EventClassifier.settle` may still change the event (its cause is to be
    /// inherited): until then it is not final.
    public var awaitsSettling: Bool { pendingInheritance }
    /// Between the two steps: the rule matched, to be remembered for later inheritance.
    var pendingRemember = false
    /// The hashes the tracker and the report key the event under, taken ahead of them on a
    /// parsing thread (`hashDestinations`); dropped when settling changes the destination.
    var destinationHashes: DestinationHashes?

    /// Takes the hashes of the domain, relay, provider and message now, so the thread that
    /// tracks or tables the events does not (`analyze` with several threads).
    public mutating func hashDestinations() {
        destinationHashes = DestinationHashes(domain: domain.map(DestinationKey.hash), relay: relay.map(DestinationKey.hash),
                                              provider: provider.map(DestinationKey.hash), message: messageHash)
    }

    /// The message's identity for counting messages: its host and queue id.
    var messageHash: Int {
        var h = Hasher()
        h.combine(host)
        h.combine(queueID)
        return h.finalize()
    }

    public init(time: Int64?, mta: MTA, host: String, queueID: String, recipient: String?, domain: String?,
                status: DeliveryStatus, relay: String? = nil, relayIP: String? = nil, dsn: String? = nil,
                code: Int? = nil, stage: SMTPStage? = nil, text: String = "", reasonStart: Int = 0,
                wantsInheritedCause: Bool = false) {
        self.time = time
        self.mta = mta
        self.host = host
        self.queueID = queueID
        self.recipient = recipient
        self.domain = domain
        self.status = status
        self.relay = relay
        self.relayIP = relayIP
        self.dsn = dsn
        self.code = code
        self.stage = stage
        self.text = text
        self.reasonStart = reasonStart
        self.wantsInheritedCause = wantsInheritedCause
        self.cause = nil
        self.rule = nil
        self.confidence = nil
        self.provider = nil
        self.inherited = false
    }

    /// The relay's provider as the parser's `RelayNames` found it (index, -1: none), so the
    /// classifier does not look the relay up again; nil: to be looked up.
    var relayProvider: ProviderHint?

    struct ProviderHint: Sendable {
        var index: Int32
        init(_ index: Int32) { self.index = index }
    }

    struct DestinationHashes: Sendable {
        var domain: Int?
        var relay: Int?
        var provider: Int?
        var message: Int
    }

    /// Two events are equal when they say the same: the record's fields and the
    /// classification. What the stages keep on the event for the next one (the relay's
    /// provider hint, the destination hashes, the classifier's pending steps) is derived
    /// from those fields or transient, and is not compared.
    public static func == (a: DeliveryEvent, b: DeliveryEvent) -> Bool {
        a.time == b.time && a.mta == b.mta && a.host == b.host && a.queueID == b.queueID && a.recipient == b.recipient
            && a.domain == b.domain && a.status == b.status && a.relay == b.relay && a.relayIP == b.relayIP
            && a.dsn == b.dsn && a.code == b.code && a.stage == b.stage && a.text == b.text
            && a.reasonStart == b.reasonStart && a.wantsInheritedCause == b.wantsInheritedCause
            && a.cause == b.cause && a.rule == b.rule && a.confidence == b.confidence && a.provider == b.provider
            && a.inherited == b.inherited
    }

    /// The part of `text` the classifier matches.
    public var reason: Substring {
        let u = text.utf8
        let i = u.index(u.startIndex, offsetBy: Swift.min(reasonStart, u.count))
        return Substring(u[i...])
    }
}
